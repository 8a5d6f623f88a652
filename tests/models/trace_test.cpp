// TraceWriter (models/common/trace.h): the JSON it streams parses, timestamps are nanoseconds
// written as microseconds, the window clips slices (keeping their nesting) and drops instants and
// counter samples outside it, and the DMA hand-off writes an arrow only when both of its ends are
// written.
#include "models/common/trace.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace iosim {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TraceFile {
public:
    TraceFile() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = fs::temp_directory_path() /
                ("iosim_trace_" + std::to_string(::getpid()) + "_" + info->name() + ".json");
    }
    ~TraceFile() { fs::remove(path_); }
    std::string path() const { return path_.string(); }
    json load() const {
        std::ifstream f(path_);
        return json::parse(f); // throws on invalid JSON
    }
    std::uintmax_t size() const { return fs::file_size(path_); }

private:
    fs::path path_;
};

std::vector<json> of_phase(const json& t, const std::string& ph) {
    std::vector<json> v;
    for (const auto& e : t["traceEvents"])
        if (e["ph"] == ph) v.push_back(e);
    return v;
}

// Timestamps in ns as Perfetto reads them (llround(us * 1000)).
long long ns(const json& v) {
    return std::llround(v.get<double>() * 1000.0);
}

TEST(TraceWriter, WritesTheTraceEventFormat) {
    TraceFile f;
    {
        TraceWriter w(f.path(), 0, kNever);
        w.process(TraceWriter::kPidCpu, "CPU", 0);
        w.thread(TraceWriter::kPidCpu, 3, "core \"3\"", 3);
        EXPECT_TRUE(
            w.slice(TraceWriter::kPidCpu, 3, "kernel", "nvme_irq", 1234567, 2000400, "\"k\":1"));
        EXPECT_TRUE(w.async(TraceWriter::kPidNvme + 1, "nvme", "read", 7, 5 * kUs, 9 * kUs));
        EXPECT_TRUE(w.counter(TraceWriter::kPidIommu, "IOTLB entries", 3 * kUs, 42));
        EXPECT_EQ(w.events(), 4u + 1 + 2 + 1);
        w.close();
        EXPECT_EQ(w.bytes(), f.size());
    }
    const json t = f.load();
    EXPECT_EQ(t["displayTimeUnit"], "ns");
    const auto m = of_phase(t, "M");
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[2]["args"]["name"], "core \"3\""); // escaped, parsed back
    const auto x = of_phase(t, "X");
    ASSERT_EQ(x.size(), 1u);
    EXPECT_EQ(x[0]["tid"], 3);
    EXPECT_EQ(ns(x[0]["ts"]), 1235);         // 1234.567 ns rounds to 1235 ns
    EXPECT_EQ(ns(x[0]["dur"]), 2000 - 1235); // the end rounds on its own: 2000.4 -> 2000
    EXPECT_EQ(x[0]["args"]["k"], 1);
    const auto b = of_phase(t, "b"), e = of_phase(t, "e");
    ASSERT_EQ(b.size(), 1u);
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(b[0]["id"], 7);
    EXPECT_EQ(e[0]["id"], 7);
    EXPECT_EQ(ns(b[0]["ts"]), 5000);
    EXPECT_EQ(ns(e[0]["ts"]), 9000);
    const auto c = of_phase(t, "C");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0]["args"]["value"], 42);
}

// Window [10us, 20us]: a parent [5, 30] and its child [8, 12] are cut to [10, 20] and [10, 12]:
// still nested. Outside: dropped.
TEST(TraceWriter, ClipsToTheWindowKeepingNesting) {
    TraceFile f;
    {
        TraceWriter w(f.path(), 10 * kUs, 20 * kUs);
        EXPECT_TRUE(w.slice(1, 0, "k", "parent", 5 * kUs, 30 * kUs));
        EXPECT_TRUE(w.slice(1, 0, "k", "child", 8 * kUs, 12 * kUs));
        EXPECT_FALSE(w.slice(1, 0, "k", "before", 1 * kUs, 9 * kUs));
        EXPECT_FALSE(w.slice(1, 0, "k", "after", 21 * kUs, 22 * kUs));
        EXPECT_TRUE(w.async(1, "c", "a", 1, 19 * kUs, 25 * kUs));
        EXPECT_FALSE(w.counter(1, "n", 9 * kUs, 1));
        EXPECT_TRUE(w.counter(1, "n", 10 * kUs, 1));
        EXPECT_FALSE(w.async_instant(1, "c", "a", 1, 21 * kUs));
    }
    const json t = f.load();
    std::map<std::string, std::pair<long long, long long>> s;
    for (const auto& e : of_phase(t, "X"))
        s[e["name"]] = {ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])};
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s["parent"], std::make_pair(10000LL, 20000LL));
    EXPECT_EQ(s["child"], std::make_pair(10000LL, 12000LL));
    EXPECT_EQ(ns(of_phase(t, "e")[0]["ts"]), 20000);
    EXPECT_EQ(of_phase(t, "C").size(), 1u);
    EXPECT_EQ(of_phase(t, "n").size(), 0u);
}

// More than the 1 MiB buffer: streamed in pieces, the whole is still one valid document.
TEST(TraceWriter, StreamsLargeTraces) {
    TraceFile f;
    const unsigned n = 40000;
    {
        TraceWriter w(f.path(), 0, kNever);
        for (unsigned i = 0; i < n; ++i)
            w.slice(1, 0, "kernel", "iommu_dma_map_page", i * kUs, i * kUs + 500 * kNs);
        w.close();
        EXPECT_GT(w.bytes(), 2u << 20);
    }
    EXPECT_EQ(of_phase(f.load(), "X").size(), n);
}

// The flow ids of a trace: each must have exactly one start (flow_out only) and one end
// (flow_in only); steps (both) in between.
std::map<std::uint64_t, std::pair<int, int>> flow_ends(const json& t) {
    std::map<std::uint64_t, std::pair<int, int>> m;
    for (const auto& e : t["traceEvents"]) {
        if (!e.contains("bind_id")) continue;
        const bool out = e.value("flow_out", false), in = e.value("flow_in", false);
        auto& [starts, ends] = m[e["bind_id"].get<std::uint64_t>()];
        if (out && !in) ++starts;
        if (in && !out) ++ends;
    }
    return m;
}

// A command [0, 10us] whose DMA [2, 4us] translates in [2.5, 3us]: command -> DMA -> translation,
// one flow id stepping through the DMA. With the window starting at 2.2us the command's arrow
// (at the DMA's start, 2us) is outside: the flow starts at the DMA instead.
TEST(TraceWriter, DmaArrowsOnlyWhereBothEndsAreWritten) {
    for (const Time begin : {Time{0}, 2200 * kNs, 3500 * kNs}) {
        SCOPED_TRACE(begin);
        TraceFile f;
        {
            TraceWriter w(f.path(), begin, kNever);
            const std::uint64_t cmd = w.new_id();
            w.dma_begin();
            // what the IOMMU does inside the b_transport
            if (w.slice(TraceWriter::kPidIommu, TraceWriter::kTidWalker, "xlate", "page walk",
                        2500 * kNs, 3 * kUs, {}, w.dma_flow(), TraceWriter::Flow::In))
                w.xlate_traced(3 * kUs);
            w.dma_end(TraceWriter::kPidNvme + 1, "data", 2 * kUs, 4 * kUs, cmd, "nvme", "read");
            w.async(TraceWriter::kPidNvme + 1, "nvme", "read", cmd, 0, 10 * kUs);
        }
        const json t = f.load();
        const auto flows = flow_ends(t);
        if (begin >= 3 * kUs) { // the translation is outside: no arrow at all
            EXPECT_TRUE(flows.empty());
            continue;
        }
        ASSERT_EQ(flows.size(), 1u);
        EXPECT_EQ(flows.begin()->second, std::make_pair(1, 1));
        EXPECT_EQ(of_phase(t, "n").size(), begin == 0 ? 1u : 0u);
    }
}

// A posted write leaves the device [2, 2.2us] before the IOMMU translates it [2.5, 3us]: its
// slice is drawn to the translation's end, so a window from 2.4us still holds both ends.
TEST(TraceWriter, PostedWriteReachesItsTranslation) {
    TraceFile f;
    {
        TraceWriter w(f.path(), 2400 * kNs, kNever);
        w.dma_begin();
        if (w.slice(TraceWriter::kPidIommu, TraceWriter::kTidWalker, "xlate", "page walk",
                    2500 * kNs, 3 * kUs, {}, w.dma_flow(), TraceWriter::Flow::In))
            w.xlate_traced(3 * kUs);
        w.dma_end(TraceWriter::kPidNvme + 1, "CQE post", 2 * kUs, 2200 * kNs);
    }
    const json t = f.load();
    EXPECT_EQ(flow_ends(t).begin()->second, std::make_pair(1, 1));
    ASSERT_EQ(of_phase(t, "e").size(), 1u);
    EXPECT_EQ(ns(of_phase(t, "e")[0]["ts"]), 3000);
}

TEST(TraceWriter, UnwritableFileThrows) {
    EXPECT_THROW(TraceWriter("/nonexistent-dir/x.json", 0, kNever), std::runtime_error);
}

} // namespace
} // namespace iosim
