// Iommu through in_dma / out_mem / out_walk / in_regs: passthrough, IOTLB hits and page walks
// (read by read, at the entry addresses of the real page table), walk caches, 2 MiB leaves,
// faults and the fault log, the command queue (invalidations, completion waits, serialisation),
// walker slots. Strict and lazy translate the same way in the IOMMU (the difference is the
// kernel's), so the translation tests run in both modes.
#include "models/common/stubs.h"
#include "models/iommu/iommu.h"
#include "models/memory/memory.h"
#include "tests/harness/sc_test.h"

#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::StubTarget;
using iosim::test::ScTest;

namespace {

constexpr std::uint16_t kRid = 0x0100;
constexpr std::uint16_t kDom = 1;
constexpr std::uint8_t kRW = kPermRead | kPermWrite;

constexpr Time kHit = 5 * kNs;               // iotlb_hit_latency: paid by every translated DMA
constexpr Time kWalkMem = 50 * kNs;          // the walk target's answer time per read
constexpr Time kOverhead = 60 * kNs;         // walk_read_overhead
constexpr Time kStep = kWalkMem + kOverhead; // one level read by the walker
constexpr Time kMem = 100 * kNs;             // the DMA target's answer time

constexpr std::uint64_t kA = 0x4000'0000;   // a 4 KiB-mapped IOVA region (1 GiB)
constexpr std::uint64_t kP = 0x1'2345'6000; // ... its physical page
constexpr std::uint64_t k2M = 2ull << 20;

class IommuFixture : public ScTest {
protected:
    IommuParams params(IommuMode mode = IommuMode::Strict) const {
        IommuParams p;
        p.mode = mode;
        p.iotlb = IotlbParams{64, 4, CachePolicy::Lru, 1};
        p.iotlb_hit_latency = kHit;
        p.walk_cache_entries = 16;
        p.walk_cache_ways = 4;
        p.walker_slots = 4;
        p.walk_read_overhead = kOverhead;
        p.inv_pages_latency = 400 * kNs;
        p.inv_all_latency = 600 * kNs;
        p.completion_wait_latency = 300 * kNs;
        p.doorbell_latency = 150 * kNs;
        p.fault_log_size = 8;
        return p;
    }
    // Binds out_mem and out_walk to recording targets.
    void build(const IommuParams& p) {
        iommu = std::make_unique<Iommu>("iommu", p);
        dev = std::make_unique<StubInitiator>("dev", kRid);
        cpu = std::make_unique<StubInitiator>("cpu");
        mem = std::make_unique<StubTarget>("mem", kMem);
        walker = std::make_unique<StubTarget>("walker", kWalkMem);
        dev->out.bind(iommu->in_dma);
        cpu->out.bind(iommu->in_regs);
        iommu->out_mem.bind(mem->in);
        iommu->out_walk.bind(walker->in);
        iommu->attach(kRid, kDom, &pt);
    }
    void map(std::uint64_t iova, std::uint64_t phys, std::uint64_t size, std::uint8_t perm = kRW,
             IoPageTable* t = nullptr) {
        ASSERT_TRUE((t ? t : &pt)->map(iova, phys, size, perm).ok);
    }
    // A command written to the command-queue tail register, as the driver's copy_cmd_to_buffer.
    StubInitiator::Result command(IommuCommand& cmd, Time delay = 0) {
        return cpu->write(Iommu::kRegCmdTail, &cmd, sizeof cmd, delay);
    }
    std::vector<std::uint64_t> walk_addrs(std::size_t from = 0) const {
        std::vector<std::uint64_t> a;
        for (std::size_t i = from; i < walker->accesses.size(); ++i)
            a.push_back(walker->accesses[i].addr);
        return a;
    }
    std::vector<std::uint64_t> entries(std::uint64_t iova, unsigned first, unsigned n,
                                       const IoPageTable* t = nullptr) const {
        const auto w = (t ? t : &pt)->walk(iova);
        return std::vector<std::uint64_t>(w.entry_addr + first, w.entry_addr + first + n);
    }

    std::uint64_t next_table_ = 0x7000'0000;
    IoPageTable::PageAlloc alloc = [this] { return next_table_ += 4096; };
    IoPageTable pt{alloc, [](std::uint64_t) {}};
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<StubInitiator> dev, cpu;
    std::unique_ptr<StubTarget> mem, walker;
};

class IommuXlate : public IommuFixture, public ::testing::WithParamInterface<IommuMode> {
protected:
    IommuParams params() const { return IommuFixture::params(GetParam()); }
};

std::string mode_name(const ::testing::TestParamInfo<IommuMode>& i) {
    return to_string(i.param);
}

} // namespace

INSTANTIATE_TEST_SUITE_P(Modes, IommuXlate, ::testing::Values(IommuMode::Strict, IommuMode::Lazy),
                         mode_name);

TEST_F(IommuFixture, PassthroughForwardsUntranslatedWithoutALookup) {
    build(params(IommuMode::Passthrough));
    StubInitiator::Result r{}, other{};
    run([&] {
        r = dev->read(0x1234'5678, nullptr, 64, 3 * kNs);
        dev->set_requester(0x0999); // no device-table entry: the identity domain still applies
        other = dev->write(0x9000, nullptr, 8);
    });
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.delay, 3 * kNs + kMem); // no hit latency, no walk
    EXPECT_EQ(r.xlate, DmaExt::Xlate::None);
    EXPECT_EQ(other.status, tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(mem->accesses.size(), 2u);
    EXPECT_EQ(mem->accesses[0].addr, 0x1234'5678u);
    EXPECT_EQ(mem->accesses[1].addr, 0x9000u);
    EXPECT_TRUE(walker->accesses.empty());
    EXPECT_EQ(iommu->passthrough, 2u);
    EXPECT_EQ(iommu->translations, 0u);
    EXPECT_EQ(iommu->iotlb().lookups, 0u);
}

TEST_P(IommuXlate, FirstDmaWalksFourLevelsAtTheEntryAddressesThenHits) {
    build(params());
    map(kA, kP, 4096);
    StubInitiator::Result first{}, second{};
    std::uint64_t restored = 0;
    run([&] {
        first = dev->read(kA + 0x80, nullptr, 64);
        restored = dev->payload().get_address();
        wait_until(10 * kUs);
        second = dev->write(kA + 0xff8, nullptr, 8);
    });
    EXPECT_EQ(first.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(first.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(first.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(restored, kA + 0x80); // the initiator gets its IOVA back
    ASSERT_EQ(walker->accesses.size(), 4u);
    EXPECT_EQ(walk_addrs(), entries(kA, 0, 4));
    EXPECT_EQ(walk_addrs()[0], pt.root_phys() + 8 * ((kA >> 39) & 511));
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_FALSE(walker->accesses[i].write);
        EXPECT_EQ(walker->accesses[i].len, 8u);
        EXPECT_EQ(walker->accesses[i].at, kHit + i * kStep) << "level read " << i;
    }
    ASSERT_EQ(mem->accesses.size(), 2u);
    EXPECT_EQ(mem->accesses[0].addr, kP | 0x80); // phys | offset
    EXPECT_EQ(mem->accesses[0].at, kHit + 4 * kStep);

    EXPECT_EQ(second.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(second.xlate, DmaExt::Xlate::Hit);
    EXPECT_EQ(second.delay, kHit + kMem);
    EXPECT_EQ(mem->accesses[1].addr, kP | 0xff8);
    EXPECT_EQ(mem->accesses[1].at, 10 * kUs + kHit);
    EXPECT_EQ(walker->accesses.size(), 4u); // no new reads

    EXPECT_EQ(iommu->translations, 2u);
    EXPECT_EQ(iommu->walks, 1u);
    EXPECT_EQ(iommu->walk_reads, 4u);
    EXPECT_EQ(iommu->walk_ps, 4 * kStep);
    EXPECT_EQ(iommu->iotlb().lookups, 2u);
    EXPECT_EQ(iommu->iotlb().hits, 1u);
    EXPECT_EQ(iommu->iotlb().misses, 1u);
    for (unsigned d = 0; d < 3; ++d) {
        EXPECT_EQ(iommu->walk_cache_misses[d], 1u);
        EXPECT_EQ(iommu->walk_cache_hits[d], 0u);
    }
}

TEST_P(IommuXlate, WalkCachesSkipTheUpperLevels) {
    build(params());
    map(kA, kP, 3 * 4096);
    map(kA + k2M, 0x3'0000'0000, 4096); // same PDPTE, next PDE
    StubInitiator::Result a{}, b{}, c{};
    run([&] {
        a = dev->read(kA, nullptr, 8);
        wait_until(10 * kUs);
        b = dev->read(kA + 0x2000, nullptr, 8); // same PDE: only the leaf table is read
        wait_until(20 * kUs);
        c = dev->read(kA + k2M, nullptr, 8); // PDE misses, PDPTE hits: two reads
    });
    EXPECT_EQ(a.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(b.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(b.delay, kHit + 1 * kStep + kMem);
    EXPECT_EQ(c.delay, kHit + 2 * kStep + kMem);
    ASSERT_EQ(walker->accesses.size(), 7u);
    EXPECT_EQ(walk_addrs(4),
              std::vector<std::uint64_t>({entries(kA + 0x2000, 3, 1)[0], entries(kA + k2M, 2, 1)[0],
                                          entries(kA + k2M, 3, 1)[0]}));
    EXPECT_EQ(mem->accesses[1].addr, kP + 0x2000);
    EXPECT_EQ(mem->accesses[2].addr, 0x3'0000'0000u);
    EXPECT_EQ(iommu->walk_cache_hits[2], 1u); // PDE, for b
    EXPECT_EQ(iommu->walk_cache_hits[1], 1u); // PDPTE, for c
    EXPECT_EQ(iommu->walk_reads, 7u);
}

TEST_P(IommuXlate, WithoutWalkCachesEveryMissReadsFourLevels) {
    IommuParams p = params();
    p.walk_cache_entries = 0;
    build(p);
    map(kA, kP, 2 * 4096);
    StubInitiator::Result a{}, b{};
    run([&] {
        a = dev->read(kA, nullptr, 8);
        wait_until(10 * kUs);
        b = dev->read(kA + 0x1000, nullptr, 8);
    });
    EXPECT_EQ(a.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(b.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(walk_addrs(4), entries(kA + 0x1000, 0, 4));
    EXPECT_EQ(iommu->walk_reads, 8u);
}

TEST_P(IommuXlate, TwoMiBLeafWalksThreeLevelsAndCoversEveryPageInside) {
    build(params());
    constexpr std::uint64_t iova = 0x8000'0000, phys = 0x2'0000'0000;
    map(iova, phys, k2M);
    ASSERT_EQ(pt.walk(iova).page_shift, 21);
    StubInitiator::Result first{};
    std::vector<StubInitiator::Result> rest;
    run([&] {
        first = dev->read(iova + 0x1234, nullptr, 8);
        wait_until(10 * kUs);
        for (std::uint64_t off = 0; off < k2M; off += 4096)
            rest.push_back(dev->read(iova + off + 8, nullptr, 8));
    });
    EXPECT_EQ(first.delay, kHit + 3 * kStep + kMem);
    EXPECT_EQ(walk_addrs(), entries(iova, 0, 3));
    ASSERT_EQ(rest.size(), 512u);
    for (std::size_t i = 0; i < rest.size(); ++i) {
        ASSERT_EQ(rest[i].xlate, DmaExt::Xlate::Hit) << "page " << i;
        ASSERT_EQ(rest[i].delay, kHit + kMem) << "page " << i;
        ASSERT_EQ(mem->accesses[1 + i].addr, phys + i * 4096 + 8) << "page " << i;
    }
    EXPECT_EQ(iommu->walk_reads, 3u);
    EXPECT_EQ(iommu->iotlb().hits, 512u);
    EXPECT_EQ(iommu->iotlb().occupancy(), 1u); // one entry for the whole 2 MiB
}

TEST_P(IommuXlate, UnmappedIovaFaultsNotPresentAndReachesNoMemory) {
    build(params());
    map(kA, kP, 4096);
    constexpr std::uint64_t far = 0x100'0000'0000; // root entry 2: not present
    StubInitiator::Result ok{}, hole{}, nothing{};
    run([&] {
        ok = dev->read(kA, nullptr, 8);
        wait_until(10 * kUs);
        hole = dev->write(kA + 0x5000, nullptr, 8); // leaf table present, entry not
        wait_until(20 * kUs);
        nothing = dev->read(far + 0x10, nullptr, 8);
    });
    EXPECT_EQ(ok.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(hole.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(hole.xlate, DmaExt::Xlate::Fault);
    EXPECT_EQ(hole.delay, kHit + kStep); // PDE cached: the leaf read finds nothing
    EXPECT_EQ(nothing.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(pt.walk(far).levels_read, 1u);
    EXPECT_EQ(nothing.delay, kHit + kStep);
    EXPECT_EQ(dev->payload().get_address(), far + 0x10);
    EXPECT_EQ(mem->accesses.size(), 1u); // only the good DMA
    ASSERT_EQ(iommu->faults().size(), 2u);
    const IommuFault& f = iommu->faults()[0];
    EXPECT_EQ(f.requester_id, kRid);
    EXPECT_EQ(f.iova, kA + 0x5000);
    EXPECT_TRUE(f.write);
    EXPECT_EQ(f.reason, IommuFault::Reason::NotPresent);
    EXPECT_EQ(f.at, 10 * kUs + kHit + kStep);
    EXPECT_EQ(iommu->faults()[1].iova, far + 0x10);
    EXPECT_FALSE(iommu->faults()[1].write);
    EXPECT_EQ(iommu->faults_total, 2u);
    EXPECT_EQ(iommu->faults_dropped, 0u);
    EXPECT_EQ(iommu->translations, 3u);
    EXPECT_EQ(iommu->walks, 3u);
    EXPECT_EQ(iommu->iotlb().occupancy(), 1u); // a failed walk caches nothing
}

TEST_P(IommuXlate, UnknownRequesterFaultsNoDomain) {
    build(params());
    map(kA, kP, 4096);
    StubInitiator::Result r{};
    run([&] {
        wait_until(1 * kUs);
        dev->set_requester(0x0200);
        r = dev->read(kA, nullptr, 8, 7 * kNs);
    });
    EXPECT_EQ(r.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.xlate, DmaExt::Xlate::Fault);
    EXPECT_EQ(r.delay, 7 * kNs); // rejected at the device table: no lookup, no walk
    ASSERT_EQ(iommu->faults().size(), 1u);
    EXPECT_EQ(iommu->faults()[0].requester_id, 0x0200);
    EXPECT_EQ(iommu->faults()[0].reason, IommuFault::Reason::NoDomain);
    EXPECT_EQ(iommu->faults()[0].at, 1 * kUs + 7 * kNs);
    EXPECT_TRUE(walker->accesses.empty());
    EXPECT_TRUE(mem->accesses.empty());
    EXPECT_EQ(iommu->iotlb().lookups, 0u);
}

TEST_P(IommuXlate, AccessAgainstThePermissionsFaults) {
    build(params());
    map(kA, kP, 4096, kPermRead);                    // DMA_TO_DEVICE
    map(kA + 0x1000, kP + 0x1000, 4096, kPermWrite); // DMA_FROM_DEVICE
    StubInitiator::Result w1{}, w2{}, r{}, rd_wo{};
    run([&] {
        w1 = dev->write(kA, nullptr, 8); // walks, then refused
        wait_until(10 * kUs);
        w2 = dev->write(kA + 8, nullptr, 8); // the entry is cached: refused on the hit
        r = dev->read(kA, nullptr, 8);
        wait_until(20 * kUs);
        rd_wo = dev->read(kA + 0x1000, nullptr, 8);
    });
    EXPECT_EQ(w1.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(w1.delay, kHit + 4 * kStep);
    EXPECT_EQ(w2.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(w2.delay, kHit);
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.xlate, DmaExt::Xlate::Hit);
    EXPECT_EQ(rd_wo.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(iommu->faults().size(), 3u);
    for (const auto& f : iommu->faults())
        EXPECT_EQ(f.reason, IommuFault::Reason::Permission);
    EXPECT_EQ(mem->accesses.size(), 1u);
}

TEST_P(IommuXlate, FaultLogIsBoundedAndCountsWhatItDrops) {
    IommuParams p = params();
    p.fault_log_size = 4;
    build(p);
    run([&] {
        for (std::uint64_t i = 0; i < 6; ++i)
            dev->read(0x10'0000'0000 + i * 4096, nullptr, 8);
    });
    EXPECT_EQ(iommu->faults_total, 6u);
    EXPECT_EQ(iommu->faults_dropped, 2u);
    ASSERT_EQ(iommu->faults().size(), 4u);
    for (std::uint64_t i = 0; i < 4; ++i)
        EXPECT_EQ(iommu->faults()[i].iova, 0x10'0000'0000 + i * 4096); // the first ones are kept
}

TEST_P(IommuXlate, InvalidatePagesRemovesExactlyTheRange) {
    build(params());
    map(kA, kP, 4 * 4096);
    std::vector<StubInitiator::Result> after;
    StubInitiator::Result cmd_res{};
    unsigned occupancy_before = 0, occupancy_after = 0;
    run([&] {
        for (std::uint64_t i = 0; i < 4; ++i)
            dev->read(kA + i * 4096, nullptr, 8);
        wait_until(10 * kUs);
        occupancy_before = iommu->iotlb().occupancy();
        IommuCommand inv{IommuCommand::Op::InvalidatePages, kDom, kA + 0x1000, 2 * 4096, 0};
        cmd_res = command(inv);
        occupancy_after = iommu->iotlb().occupancy();
        wait_until(20 * kUs);
        for (std::uint64_t i = 0; i < 4; ++i)
            after.push_back(dev->read(kA + i * 4096, nullptr, 8));
    });
    EXPECT_EQ(cmd_res.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(occupancy_before, 4u);
    EXPECT_EQ(occupancy_after, 2u);
    ASSERT_EQ(after.size(), 4u);
    EXPECT_EQ(after[0].xlate, DmaExt::Xlate::Hit);
    EXPECT_EQ(after[1].xlate, DmaExt::Xlate::Walk);
    // The invalidation dropped the directory entries over the range too (PDE bit): a full walk.
    EXPECT_EQ(after[1].delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(after[2].xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(after[2].delay, kHit + kStep + kMem); // walk caches refilled by after[1]
    EXPECT_EQ(after[3].xlate, DmaExt::Xlate::Hit);
    EXPECT_EQ(iommu->cmd_inv_pages, 1u);
    EXPECT_EQ(iommu->cmd_total, 1u);
    EXPECT_EQ(iommu->cmd_busy_ps, 400 * kNs);
}

// INVALIDATE_IOMMU_PAGES with PDE=1 drops the directory entries whose region overlaps the range,
// at every level, and keeps the others: a page in another 2 MiB region still finds its PDE.
TEST_P(IommuXlate, InvalidatePagesDropsOnlyTheDirectoryEntriesOverTheRange) {
    build(params());
    map(kA, kP, 4096);
    map(kA + k2M, 0x3'0000'0000, 2 * 4096); // same PDPTE, its own PDE
    StubInitiator::Result other{}, again{};
    run([&] {
        dev->read(kA, nullptr, 8);       // 4 reads, fills PML4E, PDPTE, PDE(A)
        dev->read(kA + k2M, nullptr, 8); // 2 reads, fills PDE(A + 2 MiB)
        wait_until(10 * kUs);
        IommuCommand inv{IommuCommand::Op::InvalidatePages, kDom, kA, 4096, 0};
        command(inv);
        wait_until(20 * kUs);
        other = dev->read(kA + k2M + 0x1000, nullptr, 8); // its PDE survived: 1 read
        wait_until(30 * kUs);
        again = dev->read(kA, nullptr, 8); // every level over kA went: 4 reads
    });
    EXPECT_EQ(other.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(other.delay, kHit + 1 * kStep + kMem);
    EXPECT_EQ(again.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(again.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(iommu->walk_reads, 4u + 2u + 1u + 4u);
}

TEST_P(IommuXlate, InvalidateAllClearsOnlyItsDomain) {
    build(params());
    IoPageTable pt2{alloc, [](std::uint64_t) {}};
    iommu->attach(0x0200, 2, &pt2);
    map(kA, kP, 4096);
    map(kA, 0x5'0000'0000, 4096, kRW, &pt2); // the same IOVA in another domain
    StubInitiator::Result d1{}, d2{};
    run([&] {
        dev->read(kA, nullptr, 8);
        dev->set_requester(0x0200);
        dev->read(kA, nullptr, 8);
        wait_until(10 * kUs);
        IommuCommand all{IommuCommand::Op::InvalidateAll, kDom, 0, ~std::uint64_t{0}, 0};
        command(all);
        wait_until(20 * kUs);
        d2 = dev->read(kA, nullptr, 8);
        dev->set_requester(kRid);
        d1 = dev->read(kA, nullptr, 8);
    });
    EXPECT_EQ(d2.xlate, DmaExt::Xlate::Hit);
    EXPECT_EQ(d1.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(d1.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(mem->accesses[2].addr, 0x5'0000'0000u);
    EXPECT_EQ(mem->accesses[3].addr, kP);
    EXPECT_EQ(iommu->cmd_inv_all, 1u);
}

TEST_F(IommuFixture, CommandsAreServedOneAfterTheOther) {
    const IommuParams p = params();
    build(p);
    IommuCommand cw1{IommuCommand::Op::CompletionWait, kDom, 0, 0, 0};
    IommuCommand cw2 = cw1, inv{IommuCommand::Op::InvalidatePages, kDom, kA, 4096, 0};
    IommuCommand cw3 = cw1, all{IommuCommand::Op::InvalidateAll, kDom, 0, ~0ull, 0}, cw4 = cw1;
    StubInitiator::Result r1{}, r2{};
    constexpr Time t0 = 5 * kUs, t1 = 50 * kUs, t2 = 100 * kUs;
    run([&] {
        wait_until(t0);
        // Two completion waits written at the same time (two cores behind one lock would do
        // this back to back): the second is served after the first.
        r1 = command(cw1);
        r2 = command(cw2);
        wait_until(t1);
        command(inv, 20 * kNs); // local time ahead of SystemC time, as a core's
        command(cw3, 20 * kNs);
        wait_until(t2);
        command(all);
        command(cw4);
    });
    EXPECT_EQ(r1.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r1.delay, 0u); // posted
    EXPECT_EQ(r2.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(cw1.complete_at, t0 + p.doorbell_latency + p.completion_wait_latency);
    EXPECT_EQ(cw2.complete_at, t0 + p.doorbell_latency + 2 * p.completion_wait_latency);
    EXPECT_EQ(cw3.complete_at,
              t1 + 20 * kNs + p.doorbell_latency + p.inv_pages_latency + p.completion_wait_latency);
    EXPECT_EQ(cw4.complete_at,
              t2 + p.doorbell_latency + p.inv_all_latency + p.completion_wait_latency);
    EXPECT_EQ(iommu->cmd_total, 6u);
    EXPECT_EQ(iommu->cmd_completion_waits, 4u);
    EXPECT_EQ(iommu->cmd_inv_pages, 1u);
    EXPECT_EQ(iommu->cmd_inv_all, 1u);
    EXPECT_EQ(iommu->cmd_busy_ps,
              4 * p.completion_wait_latency + p.inv_pages_latency + p.inv_all_latency);
}

TEST_F(IommuFixture, RegisterAccessesOtherThanACommandWriteAreErrors) {
    build(params());
    IommuCommand cw{IommuCommand::Op::CompletionWait, kDom, 0, 0, 0};
    std::uint32_t word = 0;
    StubInitiator::Result wrong_reg{}, read{}, short_write{};
    run([&] {
        wrong_reg = cpu->write(0x2000, &cw, sizeof cw);
        read = cpu->read(Iommu::kRegCmdTail, &cw, sizeof cw);
        short_write = cpu->write(Iommu::kRegCmdTail, &word, 4);
    });
    EXPECT_EQ(wrong_reg.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(read.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(short_write.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(iommu->cmd_total, 0u);
}

TEST_P(IommuXlate, OneWalkerSerialisesMissesThatArriveTogether) {
    IommuParams p = params();
    p.walker_slots = 1;
    p.walk_cache_entries = 0;
    build(p);
    map(kA, kP, 4096);
    map(kA + 0x1000, kP + 0x1000, 4096);
    StubInitiator::Result a{}, b{};
    run([&] {
        a = dev->read(kA, nullptr, 8);
        b = dev->read(kA + 0x1000, nullptr, 8);
    });
    EXPECT_EQ(a.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(b.delay, kHit + 8 * kStep + kMem); // starts when the first walk ends
    ASSERT_EQ(walker->accesses.size(), 8u);
    EXPECT_EQ(walker->accesses[4].at, kHit + 4 * kStep);
    EXPECT_EQ(iommu->walk_wait_ps, 4 * kStep);
}

TEST_P(IommuXlate, TwoWalkersServeTwoMissesInParallel) {
    IommuParams p = params();
    p.walker_slots = 2;
    p.walk_cache_entries = 0;
    build(p);
    map(kA, kP, 4096);
    map(kA + 0x1000, kP + 0x1000, 4096);
    StubInitiator::Result a{}, b{}, c{};
    run([&] {
        a = dev->read(kA, nullptr, 8);
        b = dev->read(kA + 0x1000, nullptr, 8);
        c = dev->read(0x100'0000'0000, nullptr, 8); // a third miss waits for a walker
    });
    EXPECT_EQ(a.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(b.delay, kHit + 4 * kStep + kMem);
    EXPECT_EQ(c.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(c.delay, kHit + 4 * kStep + 1 * kStep); // one root read, after a walker frees
    EXPECT_EQ(iommu->walk_wait_ps, 4 * kStep);
}

// The IOMMU in front of a real Memory: walk reads and DMA share DRAM, data lands at the
// translated physical address.
TEST_F(IommuFixture, WalkReadsAndDmaGoThroughRealMemory) {
    MemoryParams mp;
    mp.size = 32ull << 30;
    mp.latency = 80 * kNs;
    mp.bandwidth = 16e9; // 8 GB/s per channel: 1 byte = 125 ps
    mp.channels = 2;
    mp.backing_store = true;
    Memory dram("dram", mp);
    iommu = std::make_unique<Iommu>("iommu", params(IommuMode::Strict));
    dev = std::make_unique<StubInitiator>("dev", kRid);
    cpu = std::make_unique<StubInitiator>("cpu");
    dev->out.bind(iommu->in_dma);
    cpu->out.bind(iommu->in_regs);
    iommu->out_mem.bind(dram.in);
    iommu->out_walk.bind(dram.in);
    iommu->attach(kRid, kDom, &pt);
    map(kA, kP, 4096);
    std::vector<std::uint8_t> data(64), back(64, 0);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(0xA0 + i);
    StubInitiator::Result w{}, r{};
    run([&] {
        w = dev->write(kA + 0x40, data.data(), 64);
        wait_until(10 * kUs);
        r = dev->read(kA + 0x40, back.data(), 64);
    });
    const Time step = 8 * 125 + 80 * kNs + kOverhead; // 8-byte read + DRAM latency + overhead
    EXPECT_EQ(w.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(w.delay, kHit + 4 * step + 64 * 125 + 80 * kNs);
    EXPECT_EQ(r.delay, kHit + 64 * 125 + 80 * kNs);
    EXPECT_EQ(back, data);
    std::vector<std::uint8_t> at_phys(64);
    dram.store().read(kP + 0x40, at_phys.data(), 64);
    EXPECT_EQ(at_phys, data);
    EXPECT_EQ(dram.reads, 4u + 1u); // four table levels and the DMA read
    EXPECT_EQ(dram.read_bytes, 4u * 8u + 64u);
    EXPECT_EQ(dram.writes, 1u);
}
