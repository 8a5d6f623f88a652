// Golden runs (STYLE.md habit 9): each tests/golden/<name>.yaml runs through the real `sim`, and a
// chosen subset of its stats.json must equal tests/golden/<name>.expected.json exactly. The subset
// is small enough to review in a diff: per workload the throughput and latency, the IOMMU's
// translation and invalidation counts, the DMA API's calls, and the CPU cost with its top
// functions. Behaviour-neutral work (speed, event counts) does not touch it.
//
// Regenerating is deliberate: SIM_REGEN_GOLDEN=1 makes this program write the expected files
// instead of checking them (tools/regen-golden does that, then shows the diff to review).
#include "tests/sim/sim_process.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

using ojson = nlohmann::ordered_json;

const std::vector<std::string> kGolden = {"nvme_off",      "nvme_passthrough", "nvme_strict",
                                          "nvme_lazy",     "wifi_tx_strict",   "wifi_tx_lazy",
                                          "wifi_rx_strict"};
constexpr std::size_t kTopFunctions = 8;

// The dotted keys a golden file records for these stats, in the order the file lists them.
std::vector<std::string> golden_keys(const json& s) {
    std::vector<std::string> k;
    for (auto it = at(s, "workloads").begin(); it != at(s, "workloads").end(); ++it)
        for (const char* w : {"completed", "requests", "iops", "latency_ns.p50", "latency_ns.p99"})
            if (w != std::string("requests") || it.value().contains("requests")) // fio only
                k.push_back("workloads." + it.key() + "." + w);
    // The Wi-Fi NIC's air and driver, where fitted.
    if (s.contains("devices") && s["devices"].contains("wifi0"))
        for (const char* g :
             {"devices.wifi0.tx_packets", "devices.wifi0.rx_packets", "devices.wifi0.tx_ampdus",
              "devices.wifi0.rx_ampdus", "kernel.mt76.napi_polls", "kernel.mt76.tx_free_unmaps"})
            k.push_back(g);
    for (const char* g :
         {"iommu.iotlb.lookups", "iommu.iotlb.hits", "iommu.iotlb.misses", "iommu.walk.walks",
          "iommu.walk.memory_reads", "iommu.invalidation.commands",
          "iommu.invalidation.completion_waits", "iommu.invalidation.wait_ns", "iommu.faults",
          "kernel.dma.map_calls", "kernel.dma.unmap_calls", "kernel.dma.map_sg_calls",
          "kernel.iova.alloc_slow", "kernel.flush_queue.flushes", "cpu.utilization",
          "cpu.ns_per_io"})
        k.push_back(g);
    // The functions with the most exclusive CPU time, largest first (ties by name).
    std::vector<std::pair<double, std::string>> fns;
    const json& busy = at(s, "cpu.busy_ns_by_function");
    for (auto it = busy.begin(); it != busy.end(); ++it)
        if (it.value().get<double>() > 0) fns.emplace_back(-it.value().get<double>(), it.key());
    std::sort(fns.begin(), fns.end());
    for (std::size_t i = 0; i < fns.size() && i < kTopFunctions; ++i)
        k.push_back("cpu.busy_ns_by_function." + fns[i].second);
    return k;
}

json run_golden(const TempDir& tmp, const std::string& name) {
    const SimRun r =
        run_sim({source_path("tests/golden/" + name + ".yaml"), "-q", "-o", tmp / "run"});
    if (r.status != 0) throw std::runtime_error("sim failed\n" + describe(r));
    return read_json(tmp.path() / "run" / "stats.json");
}

class Golden : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Runs, Golden, ::testing::ValuesIn(kGolden),
                         [](const auto& info) { return info.param; });

TEST_P(Golden, StatsMatchTheExpectedFile) {
    TempDir tmp;
    const json stats = run_golden(tmp, GetParam());
    const fs::path expected_path =
        fs::path(SIM_SOURCE_DIR) / "tests" / "golden" / (GetParam() + ".expected.json");
    const std::vector<std::string> keys = golden_keys(stats);

    if (const char* regen = std::getenv("SIM_REGEN_GOLDEN"); regen && *regen && *regen != '0') {
        ojson out = ojson::object();
        for (const auto& k : keys)
            out[k] = at(stats, k);
        write_text(expected_path, out.dump(2) + "\n");
        std::cout << "[ golden ] wrote " << expected_path.string() << '\n';
        return;
    }

    ASSERT_TRUE(fs::exists(expected_path))
        << expected_path << " is missing; create it with tools/regen-golden";
    const ojson expected = ojson::parse(read_text(expected_path));
    std::ostringstream diff;
    std::set<std::string> seen;
    for (auto it = expected.begin(); it != expected.end(); ++it) {
        seen.insert(it.key());
        const json* actual = nullptr;
        try {
            actual = &at(stats, it.key());
        } catch (const std::out_of_range&) {
        }
        if (!actual)
            diff << "  " << it.key() << ": expected " << it.value().dump() << ", missing now\n";
        else if (json::parse(it.value().dump()) != *actual)
            diff << "  " << it.key() << ": expected " << it.value().dump() << ", got "
                 << actual->dump() << '\n';
    }
    // The subset itself (a workload, a new top function) must not have changed either.
    for (const auto& k : keys)
        if (!seen.count(k))
            diff << "  " << k << ": not in the expected file, now " << at(stats, k).dump() << '\n';
    EXPECT_TRUE(diff.str().empty())
        << GetParam() << ": stats differ from " << expected_path.string() << ":\n"
        << diff.str()
        << "If the change is intended, run tools/regen-golden and review the diff of "
           "tests/golden/.";
}

} // namespace
} // namespace simtest
