// DmaBench (models/dmabench) through its sockets, on the platform's path: the engine -> its PCIe
// link -> the IOMMU -> DRAM (walks too), the doorbell written through the link's MMIO side.
// Checked against what the mechanism must give: Little's law (transfers in flight = throughput x
// mean latency, with the in-flight limit reached and never exceeded), bytes = transfer x count,
// latencies no shorter than the path's fixed latencies and ordered percentiles, one walk per
// 4 KiB page or per 2 MiB page touched, writes held until they reach memory, and a rogue engine
// that runs to its end on fault responses.
#include "models/common/stubs.h"
#include "models/dmabench/dmabench.h"
#include "models/dmabench/dmabench_setup.h"
#include "models/iommu/iommu.h"
#include "models/memory/memory.h"
#include "models/pcie/pcie_link.h"
#include "tests/harness/sc_test.h"

#include <cstdint>
#include <memory>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::test::ScTest;

namespace {

constexpr std::uint16_t kRid = 0x0300;
constexpr std::uint16_t kDom = 1;
constexpr std::uint64_t kPhys = 4ull << 30; // the buffer's physical base (2 MiB aligned)
constexpr Time kLinkLatency = 250 * kNs;
constexpr Time kMemLatency = 90 * kNs;

class DmaBenchTest : public ScTest {
protected:
    // The engine on a PCIe 3.0 x8 link of its own, the IOMMU in `mode` (64-entry IOTLB), DRAM.
    // `mapped`: bytes of the window mapped (0: all of it).
    void build(DmaBenchParams bp, IommuMode mode = IommuMode::Strict, bool huge = false,
               std::uint64_t mapped = 0) {
        IommuParams ip;
        ip.mode = mode;
        ip.iotlb = IotlbParams{64, 4, CachePolicy::Lru, 1};
        ip.walk_cache_entries = 64;
        iommu = std::make_unique<Iommu>("iommu", ip);
        MemoryParams mp;
        mp.size = 16ull << 30;
        mp.latency = kMemLatency;
        mem = std::make_unique<Memory>("memory", mp);
        PcieLinkParams lp;
        lp.gen = 3;
        lp.lanes = 8;
        lp.latency = kLinkLatency;
        link = std::make_unique<PcieLink>("link", lp);
        bp.requester_id = kRid;
        bench = std::make_unique<DmaBench>("bench", bp);
        cpu = std::make_unique<StubInitiator>("cpu");
        cmd = std::make_unique<StubInitiator>("cmd"); // the IOMMU's command queue: unused
        cmd->out.bind(iommu->in_regs);
        msi = std::make_unique<StubTarget>("msi", 0);
        bench->out_dma.bind(link->in_dma);
        link->out_mmio.bind(bench->in_regs);
        cpu->out.bind(link->in_mmio);
        bench->irq_out.bind(link->in_msi);
        link->out_msi.bind(msi->in);
        link->out_dma.bind(iommu->in_dma);
        iommu->out_mem.bind(mem->in);
        iommu->out_walk.bind(mem->in);
        iommu->register_requester(kRid);
        if (!bp.rogue) {
            const std::uint64_t page = huge ? 2ull << 20 : 4096;
            const std::uint64_t bytes = ((mapped ? mapped : bp.window) + page - 1) / page * page;
            ASSERT_TRUE(pt.map(kDmaBenchIova, kPhys, bytes, kPermRead | kPermWrite, huge).ok);
            iommu->attach(kRid, kDom, &pt);
            bench->set_buffer(mode == IommuMode::Passthrough ? kPhys : kDmaBenchIova);
        }
        bench->set_done([](void* o, std::uint32_t, Time,
                           bool) { static_cast<DmaBenchTest*>(o)->last_done = sim_now(); },
                        this);
    }
    // Writes the start doorbell at `at` and runs until the engine is idle.
    void start_and_run(Time at = 1 * kUs) {
        run([&] {
            wait_until(at);
            std::uint32_t one = 1;
            ASSERT_EQ(cpu->write(kDmaBenchRegCtrl, &one, 4).status, tlm::TLM_OK_RESPONSE);
            started = sim_now();
        });
    }
    static DmaBenchParams params(std::uint64_t count, std::uint32_t inflight,
                                 std::uint32_t transfer = 64, std::uint64_t window = 16 << 10) {
        DmaBenchParams p;
        p.count = count;
        p.inflight = inflight;
        p.transfer = transfer;
        p.window = window;
        return p;
    }

    std::uint64_t next_table_ = 0x7000'0000;
    IoPageTable pt{[this] { return next_table_ += 4096; }, [](std::uint64_t) {}};
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<Memory> mem;
    std::unique_ptr<PcieLink> link;
    std::unique_ptr<DmaBench> bench;
    std::unique_ptr<StubInitiator> cpu, cmd;
    std::unique_ptr<StubTarget> msi;
    Time started = 0, last_done = 0;
};

} // namespace

// Little's law on the engine's own figures: with `inflight` slots always busy, completions per
// second x mean latency = inflight (the ramp at the start and the tail at the end are a few
// latencies out of thousands). Bandwidth = transfer x count / elapsed.
TEST_F(DmaBenchTest, ThroughputTimesLatencyIsTheInFlightLimit) {
    constexpr std::uint64_t kCount = 20000;
    constexpr std::uint32_t kInflight = 16;
    build(params(kCount, kInflight));
    start_and_run();
    ASSERT_EQ(bench->transfers, kCount);
    EXPECT_EQ(bench->bytes, kCount * 64);
    EXPECT_EQ(bench->dma_errors, 0u);
    EXPECT_EQ(bench->max_outstanding, kInflight); // reached, never exceeded
    EXPECT_EQ(bench->outstanding(), 0u);
    const double elapsed_s = to_s(last_done - started);
    const double per_s = kCount / elapsed_s;
    const double mean_latency_s = bench->latency_ns.mean() * 1e-9;
    EXPECT_NEAR(per_s * mean_latency_s, kInflight, 0.02 * kInflight);
    // 64 B reads by 16 in flight are latency-bound: far below the link's 7.88 GB/s.
    EXPECT_LT(bench->bytes / elapsed_s, link->bytes_per_s() / 2);
    // Every read crosses the link both ways and reads DRAM.
    EXPECT_GE(bench->latency_ns.min(), (2 * kLinkLatency + kMemLatency) / kNs);
    const Histogram& h = bench->latency_ns;
    EXPECT_LE(h.percentile(0.5), h.percentile(0.99));
    EXPECT_LE(h.percentile(0.99), h.percentile(0.999));
    EXPECT_LE(h.percentile(0.999), h.max());
    // The window (4 pages) fits the IOTLB: one compulsory miss per page.
    const auto& c = iommu->counters_of(kRid);
    EXPECT_EQ(c.lookups, kCount);
    EXPECT_EQ(c.misses, 4u);
    EXPECT_EQ(c.hits, kCount - 4);
}

// A transfer that crosses a 4 KiB boundary is cut there: each piece is a request of its own, with
// a translation of its own.
TEST_F(DmaBenchTest, TransfersAreCutAtPageBoundaries) {
    // 3000-byte transfers: slot i covers [3000 i, 3000 i + 3000), which crosses a 4 KiB boundary
    // for most i.
    auto p = params(0, 4, 3000, 30000); // 10 slots, sequential, until stopped
    p.random = false;
    p.count = 10;
    build(p);
    start_and_run();
    std::uint64_t pieces = 0;
    for (std::uint64_t i = 0; i < 10; ++i) {
        const std::uint64_t lo = 3000 * i, hi = lo + 2999;
        pieces += (hi / 4096) - (lo / 4096) + 1;
    }
    EXPECT_EQ(bench->pieces, pieces);
    EXPECT_EQ(iommu->counters_of(kRid).lookups, pieces);
    EXPECT_EQ(bench->bytes, 30000u);
}

// Sequential 4 KiB reads over a 64 MiB window touch each page once: one walk per 4 KiB page with
// 4 KiB leaves, one per 2 MiB page with 2 MiB leaves.
TEST_F(DmaBenchTest, FourKiBPagesWalkPerPage) {
    auto p = params(16384, 16, 4096, 64ull << 20);
    p.random = false;
    build(p, IommuMode::Strict, false);
    start_and_run();
    const auto& c = iommu->counters_of(kRid);
    EXPECT_EQ(c.walks, 16384u); // 256 per MiB
    EXPECT_EQ(c.misses, 16384u);
    EXPECT_EQ(iommu->fills, 16384u);
    EXPECT_EQ(iommu->fills_2m, 0u);
    // The directory entries stay in the walk caches: after the first walk of each 2 MiB region
    // (a PDE-cache miss), a walk reads the leaf only.
    EXPECT_EQ(iommu->walk_cache_hits[2], 16384u - 32);
    EXPECT_EQ(c.walk_reads, 16384u + 32 + 1 + 1); // leaf each; PDE per 2 MiB; PDPTE, PML4E once
    EXPECT_EQ(iommu->walk_cache_hits[1], 31u);    // a new 2 MiB region: its PDE is read
}

TEST_F(DmaBenchTest, TwoMiBPagesWalkPerTwoMiB) {
    auto p = params(16384, 16, 4096, 64ull << 20);
    p.random = false;
    build(p, IommuMode::Strict, true);
    start_and_run();
    const auto& c = iommu->counters_of(kRid);
    EXPECT_EQ(c.walks, 32u); // 0.5 per MiB
    EXPECT_EQ(iommu->fills_2m, 32u);
    EXPECT_EQ(iommu->hits_2m, 16384u - 32);
    EXPECT_EQ(iommu->hits_4k, 0u);
    EXPECT_EQ(c.walk_reads, 32u + 1 + 1); // the 2 MiB leaf each; PDPTE and PML4E once
}

// Writes are posted, but a slot is held until its write has reached memory (the PCIe path says
// when): the latency includes the IOMMU and DRAM, not just the link.
TEST_F(DmaBenchTest, WritesHoldTheirSlotUntilTheyReachMemory) {
    auto p = params(4000, 8);
    p.write = true;
    build(p);
    start_and_run();
    EXPECT_EQ(bench->transfers, 4000u);
    EXPECT_EQ(mem->writes, 4000u);
    EXPECT_GE(bench->latency_ns.min(), (kLinkLatency + kMemLatency) / kNs);
    const double per_s = 4000 / to_s(last_done - started);
    EXPECT_NEAR(per_s * bench->latency_ns.mean() * 1e-9, 8.0, 0.2);
}

// A window only half mapped: each read of the unmapped half misses, walks, finds no leaf and
// faults (nothing is filled, so the next read there misses again); the engine counts the errors
// and completes every transfer. The counters keep lookups = hits + misses and fills = walks that
// found a leaf.
TEST_F(DmaBenchTest, HalfMappedWindowFaultsAndCountsEveryMiss) {
    auto p = params(32, 1, 4096, 64 << 10); // 16 pages, each read twice, one at a time
    p.random = false;
    build(p, IommuMode::Strict, false, 32 << 10);
    start_and_run();
    const auto& c = iommu->counters_of(kRid);
    EXPECT_EQ(bench->transfers, 32u);
    EXPECT_EQ(bench->dma_errors, 16u); // pages 8..15, twice each
    EXPECT_EQ(c.lookups, 32u);
    EXPECT_EQ(c.hits, 8u);    // the mapped pages' second reads
    EXPECT_EQ(c.misses, 24u); // 8 compulsory + 16 to unmapped pages
    EXPECT_EQ(c.lookups, c.hits + c.misses);
    EXPECT_EQ(c.walks, 24u);
    EXPECT_EQ(iommu->fills, 8u);
    EXPECT_EQ(c.faults, 16u);
    EXPECT_EQ(iommu->faults_total, 16u);
    EXPECT_EQ(iommu->requester_counters()[0].translations, 0u); // nobody else
}

// The rogue engine DMAs where nobody mapped anything: every request faults (no domain for it),
// each marked stray; the engine counts its errors and runs to its end.
TEST_F(DmaBenchTest, RogueEngineRunsOnFaults) {
    auto p = params(1000, 8);
    p.rogue = true;
    p.rogue_span = 8ull << 30;
    build(p, IommuMode::Strict);
    start_and_run();
    EXPECT_EQ(bench->transfers, 1000u);
    EXPECT_EQ(bench->stray_dmas, 1000u);
    EXPECT_EQ(bench->dma_errors, 1000u);
    EXPECT_EQ(iommu->faults_total, 1000u);
    EXPECT_EQ(iommu->counters_of(kRid).faults, 1000u);
    EXPECT_EQ(mem->reads, 0u);
}

// Under passthrough the same rogue reads reach DRAM: nothing stops them.
TEST_F(DmaBenchTest, RogueEngineReachesMemoryInPassthrough) {
    auto p = params(1000, 8);
    p.rogue = true;
    p.rogue_span = 8ull << 30;
    build(p, IommuMode::Passthrough);
    start_and_run();
    EXPECT_EQ(bench->dma_errors, 0u);
    EXPECT_EQ(mem->reads, 1000u);
    EXPECT_EQ(iommu->counters_of(kRid).passthrough, 1000u);
}
