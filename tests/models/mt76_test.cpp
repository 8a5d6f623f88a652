// The mt76 driver and the iperf workload on a small platform: Cpu (out_mmio -> Mt7921.in_regs,
// out_iommu -> Iommu), Mt7921 (out_dma -> Iommu.in_dma, or DRAM when off; irq_out -> Cpu.in_msi),
// DmaApi per mode. Checks the mechanisms the mt76 path must produce: one map and exactly one
// unmap per transmitted buffer, in the TX-free path of the NAPI poll; strict's completion wait
// per unmap; lazy's flushes bounded by the flush-queue size; RX with no map or unmap per packet
// after the first fill (page_pool recycling); the NAPI budget; threaded NAPI; the doorbells.
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "models/iommu/iommu.h"
#include "models/kernel/dma_api.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "models/wifi/mt76_driver.h"
#include "models/wifi/mt7921.h"
#include "models/workload/iperf.h"
#include "tests/harness/dma_path.h"
#include "tests/harness/sc_test.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::test::bind_dma_path;
using iosim::test::ScTest;
using iosim::test::uniform_costs;

namespace {

constexpr std::uint16_t kRid = 0x0200;
constexpr Time kCost = 10 * kNs; // every kernel function with a cost key, per unit

std::size_t idx(Fn f) {
    return static_cast<std::size_t>(f);
}

class Mt76Test : public ScTest {
protected:
    void build(IommuMode mode, Mt76DriverParams dp = {}) {
        tlm::tlm_global_quantum::instance().set(to_sc(1 * kUs)); // as sim/ sets sim.quantum
        costs = uniform_costs(kCost);
        CpuParams cp;
        cp.cores = 2;
        cp.hz = 1e9;
        cpu = std::make_unique<Cpu>("cpu", cp, costs);

        IommuParams ip;
        ip.mode = mode;
        ip.iotlb = IotlbParams{64, 4, CachePolicy::Lru, 1};
        iommu = std::make_unique<Iommu>("iommu", ip);
        MemoryParams mp;
        mp.size = 8ull << 30;
        mem = std::make_unique<Memory>("memory", mp);
        pages = std::make_unique<PageAllocator>(1ull << 30, mp.size - (1ull << 30), 1);
        idrv = std::make_unique<IommuDriver>(1 * kUs);
        DmaApiParams ap;
        ap.mode = mode;
        ap.iova.cpus = cp.cores;
        dma = std::make_unique<DmaApi>(ap, *cpu, *idrv, iommu.get(), *pages);
        dev = &dma->add_device("wifi0", kRid);

        Mt7921Params np;
        np.requester_id = kRid;
        nic = std::make_unique<Mt7921>("wifi0", np);
        cpu->out_iommu.bind(iommu->in_regs);
        cpu->out_mmio.bind(nic->in_regs);
        nic->irq_out.bind(cpu->in_msi);
        iommu->out_mem.bind(mem->in);
        iommu->out_walk.bind(mem->in);
        iommu_unused = bind_dma_path(nic->out_dma, *iommu, *mem, mode); // as the platform wires it
        drv = std::make_unique<Mt76Driver>(*cpu, *dma, *dev, *nic, *pages, dp);
    }
    IperfWorkload& add_flow(bool tx, std::uint32_t size, double rate = 0, unsigned core = 1,
                            unsigned jobs = 1) {
        IperfParams p;
        p.jobs = jobs;
        p.name = tx ? "tx" : "rx";
        p.tx = tx;
        p.packet_size = size;
        p.rate_bps = rate;
        p.first_cpu = core;
        wl = std::make_unique<IperfWorkload>(p, *cpu, *drv, *nic, *pages);
        return *wl;
    }
    // Runs the flow for `window`, stops it and lets everything in flight finish (and lazy's timer
    // flush the queues).
    void run_for(Time window) {
        run(
            [&] {
                wl->start(0);
                wait_until(window);
                wl->stop();
                wait_until(window + 30 * kMs);
            },
            window + 40 * kMs);
    }
    std::uint64_t calls(Fn f) { return cpu->accounting().calls[idx(f)]; }

    KernelCosts costs;
    std::unique_ptr<Cpu> cpu;
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<Memory> mem;
    std::unique_ptr<PageAllocator> pages;
    std::unique_ptr<IommuDriver> idrv;
    std::unique_ptr<DmaApi> dma;
    DmaDevice* dev = nullptr;
    std::unique_ptr<Mt7921> nic;
    std::unique_ptr<StubInitiator> iommu_unused;
    std::unique_ptr<Mt76Driver> drv;
    std::unique_ptr<IperfWorkload> wl;
};

class AllModes : public Mt76Test, public ::testing::WithParamInterface<IommuMode> {};
std::string mode_name(const ::testing::TestParamInfo<IommuMode>& i) {
    return to_string(i.param);
}

} // namespace

INSTANTIATE_TEST_SUITE_P(Modes, AllModes,
                         ::testing::Values(IommuMode::Off, IommuMode::Passthrough,
                                           IommuMode::Strict, IommuMode::Lazy),
                         mode_name);

TEST_P(AllModes, TxMapsOnceAndUnmapsExactlyOncePerTransmittedBufferInTheTxFreePath) {
    const IommuMode mode = GetParam();
    build(mode);
    IperfWorkload& w = add_flow(true, 1500);
    run_for(10 * kMs);
    const std::uint64_t sent = w.sent;
    ASSERT_GT(sent, 500u); // ~1 Gb/s of air for 10 ms
    EXPECT_EQ(w.inflight(), 0u);
    EXPECT_EQ(w.completed, sent);
    EXPECT_EQ(nic->tx_packets, sent);
    EXPECT_EQ(drv->tx_queued, sent);
    EXPECT_EQ(nic->desc_fetches, sent); // one descriptor per packet, fetched after its doorbell
    EXPECT_EQ(calls(Fn::mt76_dma_kick_queue), sent);
    EXPECT_EQ(drv->tx_free_unmaps, sent);
    EXPECT_EQ(drv->tx_freed, sent);
    EXPECT_EQ(drv->tx_free_events, nic->tx_free_events);
    EXPECT_EQ(drv->unknown_tokens, 0u);
    EXPECT_EQ(drv->tx_cleaned, sent);
    // The only streaming maps: one per packet plus the page_pool's pages at the first RX fill,
    // none of which left the pool (no RX unmap).
    const std::uint64_t pool_maps = drv->page_pool().maps();
    EXPECT_EQ(pool_maps, (drv->params().rx_ring_size - 1 + 1) / 2); // two 2 KiB buffers per page
    EXPECT_EQ(drv->page_pool().unmaps(), 0u);
    EXPECT_EQ(dma->map_calls, sent + pool_maps);
    EXPECT_EQ(dma->unmap_calls, sent);
    EXPECT_EQ(calls(Fn::mt76_connac_txp_skb_unmap), sent);
    EXPECT_EQ(calls(Fn::mt7921_txwi_free), sent);
    EXPECT_EQ(drv->tokens().in_use(), 0u);
    EXPECT_EQ(nic->dma_errors, 0u);
    EXPECT_EQ(iommu->faults_total, 0u);
    if (mode == IommuMode::Strict) {
        // iommu_dma_unmap_page -> iotlb_sync: one invalidation and completion wait per unmap.
        EXPECT_EQ(iommu->cmd_completion_waits, sent);
        EXPECT_EQ(iommu->cmd_inv_pages, sent);
        EXPECT_EQ(dma->fq_entries, 0u);
    } else if (mode == IommuMode::Lazy) {
        // The NAPI core queues every unmap on its flush queue (255 usable slots): a flush when
        // the ring is full, and the timer for the rest.
        EXPECT_EQ(dma->fq_entries, sent);
        EXPECT_LE(dma->fq_flushes, (sent + 254) / 255 + dma->fq_flushes_timer);
        EXPECT_GE(dma->fq_flushes_timer, 1u);
        EXPECT_EQ(iommu->cmd_completion_waits, dma->fq_flushes);
        EXPECT_EQ(iommu->cmd_inv_pages, 0u);
    } else {
        EXPECT_EQ(iommu->cmd_total, 0u);
        EXPECT_EQ(calls(Fn::dma_direct_unmap_page), sent);
    }
}

TEST_P(AllModes, RxMapsNothingPerPacketAfterTheFirstFill) {
    build(GetParam());
    IperfWorkload& w = add_flow(false, 1500);
    std::uint64_t maps_after_fill = 0, unmaps_after_fill = 0;
    run(
        [&] {
            wl->start(0);
            wait_until(100 * kUs); // the init item has filled the ring
            maps_after_fill = dma->map_calls;
            unmaps_after_fill = dma->unmap_calls;
            wait_until(20 * kMs);
            wl->stop();
            wait_until(30 * kMs);
        },
        40 * kMs);
    ASSERT_GT(w.received, 1000u);
    EXPECT_EQ(maps_after_fill, (drv->params().rx_ring_size - 1 + 1) / 2);
    EXPECT_EQ(dma->map_calls, maps_after_fill);
    EXPECT_EQ(dma->unmap_calls, unmaps_after_fill);
    EXPECT_EQ(dma->unmap_calls, 0u);
    EXPECT_GT(drv->page_pool().recycled(), w.received / 4);
    EXPECT_EQ(drv->rx_frames, w.received);
    EXPECT_EQ(nic->rx_packets, w.received + nic->rx_dropped);
    EXPECT_EQ(calls(Fn::__x64_sys_recvfrom), w.received);
    EXPECT_EQ(iommu->faults_total, 0u);
    EXPECT_EQ(iommu->cmd_completion_waits, 0u);
}

TEST_F(Mt76Test, NapiPollsRespectTheBudgetAndPollAgainWhenItIsUsedUp) {
    Mt76DriverParams dp;
    dp.napi_budget = 16;
    build(IommuMode::Lazy, dp);
    IperfWorkload& w = add_flow(false, 1500);
    run_for(10 * kMs);
    ASSERT_GT(w.received, 500u);
    // A full A-MPDU lands 256 frames at once: polls stop at 16 and run again.
    EXPECT_EQ(drv->max_poll_work, 16u);
    EXPECT_GT(drv->napi_budget_hits, w.received / 16 / 2);
    EXPECT_EQ(drv->napi_polls, calls(Fn::__napi_poll));
    // Each re-poll is a softirq item of its own on the IRQ's core; the IRQs are fewer.
    EXPECT_LT(drv->irqs, drv->napi_polls);
    EXPECT_EQ(calls(Fn::net_rx_action), drv->napi_polls);
}

TEST_F(Mt76Test, ThreadedNapiRunsThePollAsThreadWork) {
    Mt76DriverParams dp;
    dp.threaded_napi = true;
    build(IommuMode::Strict, dp);
    IperfWorkload& w = add_flow(true, 1500);
    run_for(5 * kMs);
    ASSERT_GT(w.completed, 100u);
    EXPECT_EQ(calls(Fn::net_rx_action), 0u);
    EXPECT_GT(drv->napi_polls, 0u);
    EXPECT_EQ(drv->tx_free_unmaps, w.sent);
    EXPECT_EQ(iommu->cmd_completion_waits, w.sent);
}

TEST_F(Mt76Test, PacedTxFlowSendsItsRateAndTheSocketBufferBoundsASaturatingOne) {
    build(IommuMode::Off);
    IperfWorkload& w = add_flow(true, 1000, 40e6); // one 1000-byte packet per 200 us
    run_for(9900 * kUs);
    EXPECT_EQ(w.sent, 50u); // sends at 0, 200, ..., 9800 us
    EXPECT_EQ(w.completed, 50u);
    EXPECT_EQ(w.send_blocked, 0u);
    // 212992 / SKB_TRUESIZE(1014 + headroom + shinfo -> 2048 + 256)
    EXPECT_EQ(w.window(), 212992u / 2304u);
}

TEST_F(Mt76Test, SaturatingTxIsAirBound) {
    build(IommuMode::Off);
    IperfWorkload& w = add_flow(true, 1500);
    run_for(20 * kMs);
    // The socket keeps w.window() packets queued: aggregates of that size, back to back.
    const double goodput = 8.0 * 1500 * static_cast<double>(nic->tx_packets) / 0.020;
    const double air_limit = nic->air().saturated_goodput_bps(1500);
    EXPECT_GT(goodput, 0.3 * air_limit);
    EXPECT_LT(goodput, 1.05 * air_limit);
    EXPECT_GT(w.send_blocked, 0u); // the writer waited for socket space
    EXPECT_EQ(w.driver_busy, 0u);  // never for the ring or the tokens
}

TEST_F(Mt76Test, TwoFlowsOnTwoCoresShareTheRingAndEachBufferIsUnmappedOnce) {
    build(IommuMode::Strict);
    IperfWorkload& w = add_flow(true, 600, 0, 0, 2); // flows on cores 0 and 1
    run_for(5 * kMs);
    ASSERT_GT(w.sent, 300u);
    EXPECT_EQ(w.completed, w.sent);
    EXPECT_EQ(nic->tx_packets, w.sent);
    EXPECT_EQ(nic->desc_fetches, w.sent);
    EXPECT_EQ(drv->tx_free_unmaps, w.sent);
    EXPECT_EQ(dma->unmap_calls, w.sent);
    EXPECT_EQ(iommu->cmd_completion_waits, w.sent);
    EXPECT_EQ(nic->dma_errors, 0u);
    EXPECT_EQ(iommu->faults_total, 0u);
    EXPECT_EQ(drv->unknown_tokens, 0u);
}
