// End-to-end Wi-Fi (issue 3): the real `sim` program on tests/sim/configs/wifi_{tx,rx}.yaml, one
// process per run, in every IOMMU mode. Checks what the mt76 path must produce
// (kernel-dma-paths.md §6.2), not calibrated figures:
// - TX: one dma_map_single per packet and, after the drain, exactly one unmap per packet the NIC
//   transmitted, all in the TX-free path (mt76_connac_txp_skb_unmap); strict: one invalidation
//   and completion wait per unmap; lazy: flushes bounded by the 255 usable flush-queue slots of
//   the one CPU that runs NAPI, plus the timer's; dma-direct modes never enter iommu-dma.
// - RX: after the warm-up (the first RX fill maps the page_pool's pages) no map and no unmap at
//   all, whatever the number of packets; the NAPI budget bounds each poll.
// - The air is the bottleneck for 1500-byte packets: throughput is the same in every mode, the
//   CPU cost per packet is not.
#include "tests/sim/sim_process.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

std::uint64_t calls(const json& s, const std::string& fn) {
    return count(s, "cpu.calls_by_function." + fn);
}

bool translated(const std::string& mode) {
    return mode == "strict" || mode == "lazy";
}

class WifiEveryMode : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Modes, WifiEveryMode, ::testing::ValuesIn(kModes),
                         [](const auto& info) { return info.param; });

} // namespace

TEST_P(WifiEveryMode, TxUnmapsExactlyOncePerTransmittedPacketInTheTxFreePath) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "wifi_tx.yaml", mode);
    // After the drain (warm-up 0: the totals cover the whole run)
    const std::uint64_t sent = count(s, "end.wifi0_tx_packets");
    const std::uint64_t pool = count(s, "end.wifi0_page_pool_pages_mapped");
    ASSERT_GT(sent, 200u);
    EXPECT_EQ(count(s, "end.inflight_ios"), 0u);
    EXPECT_EQ(count(s, "end.dma_unmap_calls"), sent);
    EXPECT_EQ(count(s, "end.dma_map_calls"), sent + pool); // + the first RX fill
    // 1535 RX buffers of 2 KiB, two per page
    EXPECT_EQ(pool, 768u);
    // What stays mapped is the page_pool's pages, and only when the IOMMU translates.
    EXPECT_EQ(count(s, "end.ptes_mapped"), translated(mode) ? pool : 0u);
    EXPECT_EQ(count(s, "end.iovas_outstanding"), translated(mode) ? pool : 0u);
    EXPECT_EQ(count(s, "end.flush_queue_entries"), 0u);
    // In the window: every unmap is a TX-free's, once per released token, and each completes a
    // packet of the workload.
    const std::uint64_t unmaps = count(s, "kernel.dma.unmap_calls");
    EXPECT_EQ(count(s, "kernel.mt76.tx_free_unmaps"), unmaps);
    EXPECT_EQ(calls(s, "mt76_connac_txp_skb_unmap"), unmaps);
    EXPECT_EQ(calls(s, "mt7921_txwi_free"), unmaps);
    EXPECT_EQ(count(s, "workloads.tx.completed"), unmaps);
    EXPECT_EQ(count(s, "kernel.mt76.tx_free_events"), count(s, "devices.wifi0.tx_free_events"));
    EXPECT_EQ(calls(s, "mt7921_mac_tx_free"), count(s, "kernel.mt76.tx_free_events"));
    // One map per packet handed to the driver, one descriptor fetch and one doorbell each.
    EXPECT_EQ(count(s, "kernel.dma.map_calls"), count(s, "kernel.mt76.tx_queued") + pool);
    EXPECT_EQ(count(s, "devices.wifi0.desc_fetches"), count(s, "kernel.mt76.tx_queued"));
    EXPECT_EQ(calls(s, "mt76_dma_kick_queue"), count(s, "kernel.mt76.tx_queued"));
    EXPECT_EQ(count(s, "iommu.faults"), 0u);
    EXPECT_EQ(count(s, "devices.wifi0.dma_errors"), 0u);
    if (mode == "strict") {
        EXPECT_EQ(count(s, "end.completion_waits"), sent);
        EXPECT_EQ(count(s, "iommu.invalidation.completion_waits"), unmaps);
        EXPECT_EQ(count(s, "iommu.invalidation.invalidate_pages"), unmaps);
        EXPECT_EQ(count(s, "end.flushes"), 0u);
    } else if (mode == "lazy") {
        // NAPI runs on one core: one flush queue takes every unmap.
        const std::uint64_t flushes = count(s, "end.flushes");
        EXPECT_LE(flushes, (sent + 254) / 255 + count(s, "end.flushes_timer"));
        EXPECT_GE(count(s, "end.flushes_timer"), 1u); // the drain leaves a partial queue
        EXPECT_EQ(count(s, "end.completion_waits"), flushes);
        EXPECT_EQ(count(s, "iommu.invalidation.invalidate_pages"), 0u);
        EXPECT_EQ(count(s, "kernel.flush_queue.entries"), unmaps);
    } else {
        EXPECT_EQ(count(s, "end.completion_waits"), 0u);
        EXPECT_EQ(calls(s, "iommu_dma_unmap_page"), 0u);
        EXPECT_EQ(calls(s, "iommu_dma_map_page"), 0u);
        EXPECT_EQ(calls(s, "dma_direct_unmap_page"), unmaps);
        EXPECT_EQ(count(s, "iommu.iotlb.lookups"), 0u);
    }
}

TEST_P(WifiEveryMode, RxMapsNothingPerPacketAfterTheWarmup) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "wifi_rx.yaml", mode);
    const std::uint64_t rx = count(s, "workloads.rx.completed");
    ASSERT_GT(rx, 200u);
    EXPECT_EQ(count(s, "kernel.mt76.rx_frames"), rx);
    EXPECT_EQ(count(s, "kernel.dma.map_calls"), 0u);
    EXPECT_EQ(count(s, "kernel.dma.unmap_calls"), 0u);
    EXPECT_EQ(num(s, "kernel.mt76.page_pool.maps"), 0.0);
    EXPECT_EQ(num(s, "kernel.mt76.page_pool.unmaps"), 0.0);
    EXPECT_GE(num(s, "kernel.mt76.page_pool.recycled"), rx / 2.0 - 64); // 2 buffers per page
    EXPECT_EQ(count(s, "iommu.invalidation.commands"), 0u);
    EXPECT_EQ(count(s, "iommu.faults"), 0u);
    EXPECT_EQ(count(s, "devices.wifi0.rx_dropped"), 0u);
    // Every poll handled at most the budget: frames <= polls x 64, and whole A-MPDUs (up to 256
    // frames at once) made some polls use it up.
    EXPECT_LE(rx, 64 * count(s, "kernel.mt76.napi_polls"));
    EXPECT_GT(count(s, "kernel.mt76.napi_budget_hits"), 0u);
    EXPECT_EQ(calls(s, "__x64_sys_recvfrom"), rx);
    EXPECT_EQ(count(s, "end.dma_unmap_calls"), 0u);
    if (translated(mode)) {
        // The device's writes still translate: through the IOTLB, to the pool's pages.
        EXPECT_GT(count(s, "iommu.iotlb.lookups"), rx);
    }
}

TEST(WifiModes, AirBoundThroughputIsTheSameInEveryModeButTheCpuCostIsNot) {
    TempDir tmp;
    std::map<std::string, json> s;
    for (const auto& m : kModes)
        s[m] = run_mode(tmp, "wifi_tx.yaml", m);
    const double bps = num(s["off"], "workloads.tx.bytes_per_s");
    for (const auto& m : kModes) {
        SCOPED_TRACE(m);
        EXPECT_NEAR(num(s[m], "workloads.tx.bytes_per_s"), bps, 0.02 * bps);
        EXPECT_GT(num(s[m], "devices.wifi0.air_utilization"), 0.9);
        // One sender: its ring-index writes reach the NIC in the order it made them.
        EXPECT_EQ(count(s[m], "devices.wifi0.stale_doorbells"), 0u);
        // Airtime is counted inside the window only: never more than the window.
        EXPECT_LE(num(s[m], "devices.wifi0.air_busy_ns"), num(s[m], "sim.simulated_ns"));
    }
    // strict pays an invalidation and a completion wait per packet in NAPI; lazy a queue entry
    // and rare flushes; dma-direct almost nothing.
    const double off = num(s["off"], "cpu.ns_per_io");
    EXPECT_EQ(num(s["passthrough"], "cpu.ns_per_io"), off);
    EXPECT_GT(num(s["lazy"], "cpu.ns_per_io"), off);
    EXPECT_GT(num(s["strict"], "cpu.ns_per_io"), num(s["lazy"], "cpu.ns_per_io"));
    EXPECT_GT(num(s["strict"], "cpu.busy_ns_by_function.wait_on_sem"), 0.0);
}

TEST(WifiModes, TwoTxFlowsFromTwoCoresShareTheRingWithoutStrayDma) {
    TempDir tmp;
    const json s = run_mode(tmp, "wifi_tx.yaml", "strict",
                            {"--set", "workloads.tx.jobs=2", "--set", "workloads.tx.first_cpu=0"});
    const std::uint64_t sent = count(s, "end.wifi0_tx_packets");
    ASSERT_GT(sent, 200u);
    EXPECT_EQ(count(s, "end.dma_unmap_calls"), sent);
    EXPECT_EQ(count(s, "end.completion_waits"), sent);
    EXPECT_EQ(count(s, "devices.wifi0.dma_errors"), 0u);
    EXPECT_EQ(count(s, "iommu.faults"), 0u);
    EXPECT_EQ(count(s, "end.inflight_ios"), 0u);
}

TEST(WifiModes, ThreadedNapiPollsInTheKthreadWithTheSameMechanism) {
    TempDir tmp;
    const json s =
        run_mode(tmp, "wifi_tx.yaml", "strict", {"--set", "platform.wifi.threaded_napi=true"});
    EXPECT_EQ(calls(s, "net_rx_action"), 0u);
    EXPECT_GT(count(s, "kernel.mt76.napi_polls"), 0u);
    EXPECT_EQ(count(s, "end.dma_unmap_calls"), count(s, "end.wifi0_tx_packets"));
    EXPECT_EQ(count(s, "end.completion_waits"), count(s, "end.wifi0_tx_packets"));
}

TEST(WifiModes, SmallPacketsAreAirBoundTooButCostMoreCpuPerByte) {
    TempDir tmp;
    const json off =
        run_mode(tmp, "wifi_tx.yaml", "off", {"--set", "workloads.tx.packet_size=64B"});
    const json strict =
        run_mode(tmp, "wifi_tx.yaml", "strict", {"--set", "workloads.tx.packet_size=64B"});
    // 64-byte packets: many more per second than 1500-byte ones, same mechanism per packet.
    EXPECT_GT(count(off, "workloads.tx.completed"), 1000u);
    EXPECT_EQ(count(strict, "end.dma_unmap_calls"), count(strict, "end.wifi0_tx_packets"));
    EXPECT_EQ(count(strict, "end.completion_waits"), count(strict, "end.wifi0_tx_packets"));
    EXPECT_GT(num(strict, "cpu.utilization"), num(off, "cpu.utilization"));
}

} // namespace simtest
