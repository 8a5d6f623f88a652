// End-to-end, NVMe and Wi-Fi side by side behind one IOMMU (configs/mixed.yaml, issue 3): both
// devices' DMA goes through the one IOMMU in every mode, the mechanism counts of each path hold
// with the other one running, and the interference the config is about shows: strict NVMe
// traffic raises the Wi-Fi RX latency through the shared cores and iommu->lock, while off and lazy
// do not. Relative checks between runs of the same build, not calibrated figures.
#include "tests/sim/sim_process.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

json run_mixed(const TempDir& tmp, const std::string& mode, int nvme_iodepth) {
    const std::string name = mode + "_qd" + std::to_string(nvme_iodepth);
    // Setting both compared keys pins the compare to this one variant.
    std::vector<std::string> args{source_path("configs/mixed.yaml"),
                                  "--set",
                                  "platform.iommu.mode=" + mode,
                                  "--set",
                                  "workloads.randread.iodepth=" + std::to_string(nvme_iodepth),
                                  "--duration",
                                  "10ms",
                                  "-q",
                                  "-o",
                                  tmp.fresh(name)};
    const SimRun r = run_sim(args);
    if (r.status != 0) throw std::runtime_error("sim failed\n" + describe(r));
    return read_json(fs::path(args.back()) / "stats.json");
}

} // namespace

TEST(Mixed, BothDevicesRunAndEachPathKeepsItsCounts) {
    TempDir tmp;
    for (const std::string mode : {"off", "strict", "lazy"}) {
        SCOPED_TRACE(mode);
        const json s = run_mixed(tmp, mode, 16);
        EXPECT_GT(count(s, "workloads.randread.completed"), 5000u);
        // 40 MB/s of 1500-byte packets for 10 ms: 266 packets, give or take the window edges.
        EXPECT_NEAR(static_cast<double>(count(s, "workloads.wifi_rx.completed")), 266.0, 10.0);
        EXPECT_EQ(count(s, "devices.wifi0.rx_dropped") + count(s, "devices.wifi0.dma_errors"), 0u);
        EXPECT_EQ(count(s, "iommu.faults"), 0u);
        // RX maps nothing per packet: every map in the window is an NVMe request's.
        EXPECT_EQ(count(s, "kernel.mt76.page_pool.maps"), 0u);
        EXPECT_EQ(count(s, "kernel.dma.map_calls"), count(s, "kernel.nvme.submitted"));
        if (mode == "off") {
            EXPECT_EQ(count(s, "iommu.translations"), 0u);
        } else {
            // One IOMMU for both: its lookups include the Wi-Fi's RX writes and descriptor DMA.
            EXPECT_GT(count(s, "iommu.iotlb.lookups"),
                      count(s, "devices.nvme0.commands") + count(s, "devices.wifi0.rx_packets"));
        }
        if (mode == "strict") {
            EXPECT_EQ(count(s, "end.completion_waits"), count(s, "end.dma_unmap_calls"));
        }
        if (mode == "lazy") {
            EXPECT_EQ(count(s, "end.flush_queue_entries"), 0u);
        }
    }
}

TEST(Mixed, StrictNvmeTrafficRaisesWifiLatencyOffAndLazyDoNot) {
    TempDir tmp;
    auto p99 = [](const json& s) { return num(s, "workloads.wifi_rx.latency_ns.p99"); };
    const json strict_light = run_mixed(tmp, "strict", 1),
               strict_heavy = run_mixed(tmp, "strict", 16);
    const json off_light = run_mixed(tmp, "off", 1), off_heavy = run_mixed(tmp, "off", 16);
    const json lazy_light = run_mixed(tmp, "lazy", 1), lazy_heavy = run_mixed(tmp, "lazy", 16);
    // Heavy strict NVMe: the cores spin on iommu->lock and wait for completion waits...
    EXPECT_GT(num(strict_heavy, "iommu.invalidation.lock_spin_ns"),
              10 * num(strict_light, "iommu.invalidation.lock_spin_ns"));
    // ...and the Wi-Fi's interrupt and NAPI poll wait behind them on core 0.
    EXPECT_GT(p99(strict_heavy), 1.2 * p99(strict_light));
    EXPECT_LT(p99(off_heavy), 1.1 * p99(off_light));
    EXPECT_LT(p99(lazy_heavy), 1.1 * p99(lazy_light));
}

} // namespace simtest
