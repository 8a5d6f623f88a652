// --trace end to end: the real `sim` writes a Chrome/Perfetto trace-event JSON whose structure a
// viewer can rely on. Checked on small configs (tests/sim/configs/): every slice nests on its
// track (a core's kernel functions inside its work item, the work items of a core one after the
// other, since a core is serial), async slices begin and end once, every flow arrow has one start
// and one end, the counters exist, IOMMU commands appear in strict and not in passthrough, and
// nothing lies outside the window. Tracing must not change the simulation: stats.json is the
// same with and without it.
#include "tests/sim/sim_process.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace simtest {
namespace {

constexpr unsigned kPidCpu = 1, kPidIommu = 2, kPidWifi = 3, kPidNvme = 10;
constexpr unsigned kTidCmdQueue = 1, kTidWalker = 10;

// Nanoseconds as Perfetto reads a timestamp in microseconds.
long long ns(const json& v) {
    return std::llround(v.get<double>() * 1000.0);
}

struct Slice {
    long long b, e;
    std::string name, cat;
};

struct Summary {
    std::map<std::pair<unsigned, unsigned>, std::vector<Slice>> x; // per (pid, tid)
    std::map<std::tuple<unsigned, std::string, std::string, std::uint64_t>, Slice> async;
    std::map<std::string, unsigned> counters; // "pid/name" -> samples
    std::size_t flows = 0;
};

// Checks the structure every viewer relies on and returns what the trace holds. `lo`, `hi`: the
// window in ns.
Summary check_structure(const json& t, long long lo, long long hi) {
    Summary s;
    EXPECT_EQ(t.at("displayTimeUnit"), "ns");
    const json& ev = t.at("traceEvents");
    EXPECT_TRUE(ev.is_array());
    std::map<std::tuple<unsigned, unsigned>, std::vector<long long>> open_be; // B/E, per track
    std::map<std::tuple<unsigned, std::string, std::string, std::uint64_t>, long long> open_async;
    std::vector<std::tuple<unsigned, std::string, std::string, std::uint64_t, long long>> instants;
    std::map<std::uint64_t, std::vector<std::pair<int, long long>>> flow; // id -> (kind, ts)
    for (const json& e : ev) {
        const std::string ph = e.at("ph");
        const unsigned pid = e.at("pid");
        if (ph == "M") continue;
        const long long ts = ns(e.at("ts"));
        EXPECT_GE(ts, lo) << e.dump();
        EXPECT_LE(ts, hi) << e.dump();
        if (e.contains("bind_id")) {
            const bool out = e.value("flow_out", false), in = e.value("flow_in", false);
            flow[e["bind_id"].get<std::uint64_t>()].push_back({out && in ? 0 : out ? 1 : 2, ts});
        }
        if (ph == "X") {
            const long long end = ts + ns(e.at("dur"));
            EXPECT_LE(end, hi) << e.dump();
            s.x[{pid, e.at("tid").get<unsigned>()}].push_back(
                {ts, end, e.at("name"), e.value("cat", "")});
        } else if (ph == "B" || ph == "E") {
            auto& st = open_be[{pid, e.at("tid").get<unsigned>()}];
            if (ph == "B") {
                st.push_back(ts);
            } else {
                EXPECT_FALSE(st.empty()) << "E without B: " << e.dump();
                if (!st.empty()) st.pop_back();
            }
        } else if (ph == "b" || ph == "e") {
            const auto key =
                std::make_tuple(pid, e.value("cat", ""), e.at("name").get<std::string>(),
                                e.at("id").get<std::uint64_t>());
            if (ph == "b") {
                EXPECT_EQ(open_async.count(key), 0u) << "async begun twice: " << e.dump();
                open_async[key] = ts;
            } else {
                auto it = open_async.find(key);
                EXPECT_NE(it, open_async.end()) << "async end without begin: " << e.dump();
                if (it == open_async.end()) continue;
                EXPECT_LE(it->second, ts);
                EXPECT_EQ(s.async.count(key), 0u) << "async slice written twice: " << e.dump();
                s.async[key] = {it->second, ts, std::get<2>(key), std::get<1>(key)};
                open_async.erase(it);
            }
        } else if (ph == "n") {
            instants.emplace_back(pid, e.value("cat", ""), e.at("name"),
                                  e.at("id").get<std::uint64_t>(), ts);
        } else if (ph == "C") {
            ++s.counters[std::to_string(pid) + "/" + e.at("name").get<std::string>()];
        } else {
            ADD_FAILURE() << "unexpected phase: " << e.dump();
        }
    }
    for (const auto& [track, st] : open_be)
        EXPECT_TRUE(st.empty()) << "B without E on pid " << std::get<0>(track);
    EXPECT_TRUE(open_async.empty()) << open_async.size() << " async slices never end";

    // Slices nest on each track: sorted by start (longer first), each lies inside the innermost
    // slice still open at its start, or starts after it.
    for (auto& [track, v] : s.x) {
        std::sort(v.begin(), v.end(), [](const Slice& a, const Slice& b) {
            return a.b != b.b ? a.b < b.b : a.e > b.e;
        });
        std::vector<const Slice*> stack;
        for (const Slice& sl : v) {
            while (!stack.empty() && stack.back()->e <= sl.b &&
                   !(stack.back()->e == sl.b && stack.back()->b == sl.b))
                stack.pop_back();
            if (!stack.empty()) {
                EXPECT_LE(sl.e, stack.back()->e)
                    << "pid " << track.first << " tid " << track.second << ": " << sl.name << " ["
                    << sl.b << ", " << sl.e << "] overlaps " << stack.back()->name << " ["
                    << stack.back()->b << ", " << stack.back()->e << "] without nesting";
            }
            stack.push_back(&sl);
        }
    }
    // A core is serial: its work items never overlap, and every kernel function lies in one.
    for (const auto& [track, v] : s.x) {
        if (track.first != kPidCpu) continue;
        std::vector<const Slice*> items;
        for (const Slice& sl : v)
            if (sl.cat == "item") items.push_back(&sl);
        for (std::size_t i = 1; i < items.size(); ++i)
            EXPECT_LE(items[i - 1]->e, items[i]->b)
                << "core " << track.second << ": " << items[i - 1]->name << " overlaps "
                << items[i]->name;
        for (const Slice& sl : v) {
            if (sl.cat != "kernel") continue;
            auto it = std::upper_bound(items.begin(), items.end(), sl.b,
                                       [](long long b, const Slice* it) { return b < it->b; });
            const bool inside = it != items.begin() && (*(it - 1))->e >= sl.e;
            EXPECT_TRUE(inside) << sl.name << " [" << sl.b << ", " << sl.e
                                << "] is in no work item of core " << track.second;
        }
    }
    // An async instant lies inside its slice (same track key).
    for (const auto& [pid, cat, name, id, ts] : instants) {
        auto it = s.async.find({pid, cat, name, id});
        EXPECT_NE(it, s.async.end()) << "instant of a slice not written: " << name << " " << id;
        if (it == s.async.end()) continue;
        EXPECT_GE(ts, it->second.b);
        EXPECT_LE(ts, it->second.e);
    }
    // Every flow: one start, one end, any steps, in time order.
    for (const auto& [id, v] : flow) {
        int starts = 0, ends = 0;
        long long t0 = 0, t1 = 0;
        for (const auto& [kind, ts] : v) {
            if (kind == 1) ++starts, t0 = ts;
            if (kind == 2) ++ends, t1 = ts;
        }
        EXPECT_EQ(starts, 1) << "flow " << id;
        EXPECT_EQ(ends, 1) << "flow " << id;
        EXPECT_LE(t0, t1) << "flow " << id;
    }
    s.flows = flow.size();
    return s;
}

std::size_t count_x(const Summary& s, unsigned pid, const std::string& cat) {
    std::size_t n = 0;
    for (const auto& [track, v] : s.x)
        if (track.first == pid)
            for (const Slice& sl : v)
                n += sl.cat == cat;
    return n;
}

std::size_t count_async(const Summary& s, unsigned pid, const std::string& cat) {
    std::size_t n = 0;
    for (const auto& [key, sl] : s.async)
        n += std::get<0>(key) == pid && std::get<1>(key) == cat;
    return n;
}

// The checker itself finds what it must: a slice that overlaps another without nesting, a flow
// with no start, an event outside the window, an async slice that never ends.
TEST(TraceChecker, CatchesMalformedTraces) {
    auto trace = [](const std::string& events) {
        return json::parse(R"({"displayTimeUnit":"ns","traceEvents":[)" + events + "]}");
    };
    EXPECT_NO_FATAL_FAILURE(check_structure(
        trace(R"({"ph":"X","pid":1,"tid":0,"cat":"item","name":"a","ts":1.0,"dur":2.0},
                 {"ph":"X","pid":1,"tid":0,"cat":"kernel","name":"b","ts":1.5,"dur":1.0})"),
        0, 10000));
    EXPECT_NONFATAL_FAILURE(
        check_structure(trace(R"({"ph":"X","pid":2,"tid":1,"name":"a","ts":1.0,"dur":2.0},
                     {"ph":"X","pid":2,"tid":1,"name":"b","ts":2.0,"dur":2.0})"),
                        0, 10000),
        "without nesting");
    EXPECT_NONFATAL_FAILURE(
        check_structure(
            trace(R"({"ph":"X","pid":2,"tid":1,"name":"w","ts":1.0,"dur":1.0,"bind_id":5,
                      "flow_in":true})"),
            0, 10000),
        "flow 5");
    EXPECT_NONFATAL_FAILURE(
        check_structure(trace(R"({"ph":"X","pid":2,"tid":1,"name":"w","ts":9.5,"dur":1.0})"), 0,
                        10000),
        "(end) <= (hi)");
    EXPECT_NONFATAL_FAILURE(
        check_structure(trace(R"({"ph":"b","pid":10,"cat":"nvme","name":"read","id":1,"ts":1.0})"),
                        0, 10000),
        "never end");
}

struct Traced {
    json trace;
    SimRun run;
};

Traced run_traced(const TempDir& tmp, std::vector<std::string> args, const std::string& file) {
    args.insert(args.end(), {"--trace", file});
    Traced t;
    t.run = run_sim(args);
    if (t.run.status != 0) throw std::runtime_error("sim failed\n" + describe(t.run));
    t.trace = read_json(file);
    (void)tmp;
    return t;
}

// small_4k: warm-up 500us; the window 100us:400us after it.
constexpr long long kWarmupNs = 500000, kLoNs = kWarmupNs + 100000, kHiNs = kWarmupNs + 400000;

TEST(TraceE2e, NvmeStrictTimelineIsWellFormed) {
    TempDir tmp;
    const std::string file = tmp / "strict.json";
    const Traced t = run_traced(tmp,
                                {config("small_4k.yaml"), "--set", "platform.iommu.mode=strict",
                                 "--trace-window", "100us:400us"},
                                file);
    // The summary goes to stdout; stderr says what was written.
    EXPECT_NE(t.run.err.find("sim: trace: " + file + ": "), std::string::npos) << t.run.err;
    EXPECT_NE(t.run.err.find("for 100us to 400us after the warm-up"), std::string::npos)
        << t.run.err;
    const Summary s = check_structure(t.trace, kLoNs, kHiNs);

    // Both cores ran work items with kernel functions in them.
    EXPECT_GT(count_x(s, kPidCpu, "item"), 20u);
    EXPECT_GT(count_x(s, kPidCpu, "kernel"), 100u);
    EXPECT_GT(s.x.count({kPidCpu, 0}) + s.x.count({kPidCpu, 1}), 1u);
    std::set<std::string> fns;
    for (const auto& [track, v] : s.x)
        for (const Slice& sl : v)
            if (track.first == kPidCpu && sl.cat == "kernel") fns.insert(sl.name);
    for (const char* fn : {"nvme_queue_rq", "iommu_dma_map_page", "iommu_dma_unmap_page",
                           "nvme_irq", "iommu_completion_wait"})
        EXPECT_TRUE(fns.count(fn)) << fn;
    // NVMe commands and their DMAs; the IOMMU's walks or hits; strict: its command queue.
    EXPECT_GT(count_async(s, kPidNvme + 1, "nvme") + count_async(s, kPidNvme + 2, "nvme"), 20u);
    EXPECT_GT(count_async(s, kPidNvme + 1, "dma") + count_async(s, kPidNvme + 2, "dma"), 60u);
    EXPECT_GT(count_x(s, kPidIommu, "xlate") + count_async(s, kPidIommu, "xlate"), 60u);
    EXPECT_GT(count_x(s, kPidIommu, "iommu_cmd"), 20u);
    EXPECT_GT(s.flows, 60u);
    // Counters: queue depth per queue, IOTLB occupancy.
    auto samples = [&](unsigned pid, const std::string& name) {
        auto it = s.counters.find(std::to_string(pid) + "/" + name);
        return it == s.counters.end() ? 0u : it->second;
    };
    EXPECT_GT(samples(kPidNvme + 1, "queue depth") + samples(kPidNvme + 2, "queue depth"), 20u);
    EXPECT_GT(samples(kPidIommu, "IOTLB entries"), 10u);
}

TEST(TraceE2e, PassthroughHasNoIommuWork) {
    TempDir tmp;
    const std::string file = tmp / "pt.json";
    const Traced t =
        run_traced(tmp,
                   {config("small_4k.yaml"), "--set", "platform.iommu.mode=passthrough", "-q",
                    "--trace-window", "100us:400us"},
                   file);
    EXPECT_EQ(t.run.err, ""); // -q: not even the trace line
    const Summary s = check_structure(t.trace, kLoNs, kHiNs);
    EXPECT_GT(count_x(s, kPidCpu, "kernel"), 100u);
    EXPECT_GT(count_async(s, kPidNvme + 1, "dma") + count_async(s, kPidNvme + 2, "dma"), 60u);
    EXPECT_EQ(count_x(s, kPidIommu, "iommu_cmd"), 0u);
    EXPECT_EQ(count_x(s, kPidIommu, "xlate") + count_async(s, kPidIommu, "xlate"), 0u);
    // The command -> DMA arrows remain; an untranslated DMA has no translation to point at.
    EXPECT_GT(count_async(s, kPidNvme + 1, "nvme") + count_async(s, kPidNvme + 2, "nvme"), 20u);
    EXPECT_GT(s.flows, 20u);
}

// Tracing observes: the statistics are byte-identical with and without it.
TEST(TraceE2e, TracingDoesNotChangeTheRun) {
    TempDir tmp;
    const std::vector<std::string> base{
        config("small_4k.yaml"), "--set", "platform.iommu.mode=lazy", "-q", "--duration", "300us"};
    std::vector<std::string> a = base, b = base;
    a.insert(a.end(), {"-o", tmp / "plain"});
    b.insert(b.end(), {"-o", tmp / "traced", "--trace", tmp / "t.json", "--trace-window", "all"});
    const SimRun ra = run_sim(a), rb = run_sim(b);
    ASSERT_EQ(ra.status, 0) << describe(ra);
    ASSERT_EQ(rb.status, 0) << describe(rb);
    EXPECT_EQ(read_text(tmp / "plain/stats.json"), read_text(tmp / "traced/stats.json"));
    // `all`: from time 0, warm-up included.
    const json t = read_json(tmp / "t.json");
    long long first = -1;
    for (const json& e : t["traceEvents"])
        if (e["ph"] != "M") first = first < 0 ? ns(e["ts"]) : std::min(first, ns(e["ts"]));
    EXPECT_GE(first, 0);
    EXPECT_LT(first, kWarmupNs);
}

TEST(TraceE2e, WifiTimelineIsWellFormed) {
    TempDir tmp;
    const std::string file = tmp / "wifi.json";
    const Traced t = run_traced(tmp,
                                {config("wifi_tx.yaml"), "--set", "platform.iommu.mode=strict",
                                 "-q", "--trace-window", "2ms"},
                                file);
    const Summary s = check_structure(t.trace, 0, 2000000);
    EXPECT_GT(count_async(s, kPidWifi, "dma"), 50u);
    EXPECT_GT(count_x(s, kPidIommu, "iommu_cmd"), 10u);
    EXPECT_GT(s.flows, 50u);
    std::set<std::string> kinds;
    for (const auto& [track, v] : s.x)
        for (const Slice& sl : v)
            if (track.first == kPidCpu && sl.cat == "item") kinds.insert(sl.name);
    EXPECT_TRUE(kinds.count("syscall"));
    EXPECT_TRUE(kinds.count("hardirq"));

    // Threaded NAPI: the polls run in the napi/phy0 kthread, not in a softirq.
    const std::string threaded_file = tmp / "threaded.json";
    const Traced th =
        run_traced(tmp,
                   {config("wifi_tx.yaml"), "--set", "platform.iommu.mode=strict", "--set",
                    "platform.wifi.threaded_napi=true", "-q", "--trace-window", "2ms"},
                   threaded_file);
    std::set<std::string> threaded_kinds;
    for (const auto& [track, v] : check_structure(th.trace, 0, 2000000).x)
        for (const Slice& sl : v)
            if (track.first == kPidCpu && sl.cat == "item") threaded_kinds.insert(sl.name);
    EXPECT_TRUE(threaded_kinds.count("kthread"));
    EXPECT_FALSE(threaded_kinds.count("softirq"));
}

// SPDK creates its polled queues during the run (after --trace is set up): they get their track
// groups and depth counters too.
TEST(TraceE2e, SpdkPolledQueuesAreTraced) {
    TempDir tmp;
    const std::string file = tmp / "spdk.json";
    const Traced t = run_traced(tmp,
                                {config("vfio_spdk.yaml"), "--set", "platform.iommu.mode=strict",
                                 "-q", "--trace-window", "300us"},
                                file);
    const Summary s = check_structure(t.trace, kWarmupNs, kWarmupNs + 300000);
    std::size_t commands = 0;
    for (unsigned q = 1; q < 8; ++q)
        commands += count_async(s, kPidNvme + q, "nvme");
    EXPECT_GT(commands, 20u);
    std::size_t polled = 0;
    for (const json& e : t.trace["traceEvents"])
        polled += e["ph"] == "M" && e["name"] == "process_name" &&
                  e["args"]["name"].get<std::string>().find("(polled)") != std::string::npos;
    EXPECT_EQ(polled, 2u); // one queue pair per SPDK job
    EXPECT_GT(s.flows, 20u);
}

// A compare writes one trace per variant, named after it.
TEST(TraceE2e, CompareWritesOneTracePerVariant) {
    TempDir tmp;
    const std::string cfg =
        tmp.write("cmp.yaml", read_text(config("small_4k.yaml")) +
                                  "compare:\n  platform.iommu.mode: [passthrough, strict]\n");
    const SimRun r = run_sim({cfg, "-q", "--duration", "200us", "-j", "1", "--trace",
                              tmp / "t.json", "--trace-window", "100us"});
    ASSERT_EQ(r.status, 0) << describe(r);
    for (const char* mode : {"passthrough", "strict"}) {
        const fs::path p = tmp.path() / (std::string("t.") + mode + ".json");
        ASSERT_TRUE(fs::exists(p)) << p;
        const Summary s = check_structure(read_json(p), kWarmupNs, kWarmupNs + 100000);
        EXPECT_EQ(count_x(s, kPidIommu, "iommu_cmd") > 0, std::string(mode) == "strict");
    }
    EXPECT_FALSE(fs::exists(tmp.path() / "t.json"));
}

} // namespace
} // namespace simtest
