// DMA safety (issue 4) through the models' sockets: IOMMU faults by reason and requester with the
// bounded log; where DMAs marked Intent::Stray end (blocked, through a stale IOTLB entry, through
// a mapping, in memory); stale IOTLB hits (none in strict, one per stray before the flush in
// lazy); the window from unmap to invalidation (strict: the invalidation and its completion wait;
// lazy: up to the flush that covers the entry, one per unmap); stray writes into memory the
// kernel had handed to a new mapping; an NVMe command whose DMA faults completing with an error
// the driver counts.
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "models/iommu/iommu.h"
#include "models/kernel/dma_api.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "models/memory/page_owners.h"
#include "models/nvme/nvme_ctrl.h"
#include "models/nvme/nvme_driver.h"
#include "tests/harness/cpu_work.h"
#include "tests/harness/dma_path.h"
#include "tests/harness/sc_test.h"

#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::test::bind_dma_path;
using iosim::test::CpuWork;
using iosim::test::ScTest;
using iosim::test::uniform_costs;

namespace {

constexpr std::uint16_t kRid = 0x0100;
constexpr Time kPoll = 250 * kNs;
using iosim::test::kCw;
using iosim::test::kDoorbell;
using iosim::test::kInvAll;
using iosim::test::kInvPages;
constexpr Time kTimeout = 10 * kMs;

constexpr Time round_up(Time t, Time q) {
    return (t + q - 1) / q * q;
}

class SafetyTest : public ScTest {
protected:
    // The platform's DMA path: a device through the IOMMU (or straight to DRAM when off), the
    // DMA API on cores. `owners`: keep the live mappings of pages (the backing store's reuse
    // check). `log`: fault records kept.
    void build(IommuMode mode, bool owners = false, unsigned log = 64, Time cost = 0,
               bool nvme = false) {
        costs = uniform_costs(cost);
        CpuParams cp;
        cp.cores = 2;
        cp.hz = 1e9;
        cpu = std::make_unique<Cpu>("cpu", cp, costs);
        IommuParams ip = iosim::test::small_iommu_params(mode);
        ip.fault_log_size = log;
        iommu = std::make_unique<Iommu>("iommu", ip);
        MemoryParams mp;
        mp.size = 8ull << 30;
        mp.backing_store = true;
        mem = std::make_unique<Memory>("memory", mp);
        mem->set_count_strays(true); // memory's own count, checked against the IOMMU's
        pages = std::make_unique<PageAllocator>(1ull << 30, mp.size - (1ull << 30), 1);
        drv = std::make_unique<IommuDriver>(kPoll);
        DmaApiParams dp;
        dp.mode = mode;
        dp.iova.cpus = cp.cores;
        dp.fq_size = 256;
        dp.fq_timeout = kTimeout;
        dma = std::make_unique<DmaApi>(dp, *cpu, *drv, iommu.get(), *pages);
        if (owners) {
            page_owners = std::make_unique<PageOwners>();
            dma->set_page_owners(page_owners.get());
            mem->set_page_owners(page_owners.get());
        }
        dev = &dma->add_device("dev0", kRid);
        device = std::make_unique<StubInitiator>("device", kRid);
        rogue = std::make_unique<StubInitiator>("rogue", kRid);
        rogue->set_intent(DmaExt::Intent::Stray);
        cpu->out_iommu.bind(iommu->in_regs);
        if (nvme) {
            // An NVMe controller whose requester id is not the DmaDevice's (no domain for it).
            NvmeCtrlParams np;
            np.requester_id = 0x0500;
            np.cmd_latency = 1 * kUs;
            np.read_latency = 5 * kUs;
            nvme_ctrl = std::make_unique<NvmeCtrl>("nvme0", np);
            cpu->out_mmio.bind(nvme_ctrl->in_regs);
            nvme_ctrl->irq_out.bind(cpu->in_msi);
            nvme_ctrl->out_dma.bind(iommu->in_dma);
            nvme_drv = std::make_unique<NvmeDriver>(*cpu, *dma, *dev, *nvme_ctrl, 16);
        } else {
            mmio = std::make_unique<StubTarget>("mmio");
            msi_src = std::make_unique<StubInitiator>("msi_src");
            cpu->out_mmio.bind(mmio->in);
            msi_src->out.bind(cpu->in_msi);
        }
        iommu->out_mem.bind(mem->in);
        iommu->out_walk.bind(mem->in);
        if (mode == IommuMode::Off) {
            // Both initiators straight to DRAM, as the platform wires a device when off.
            device->out.bind(mem->in);
            rogue->out.bind(mem->in);
            iommu_unused = std::make_unique<StubInitiator>("iommu_unused");
            iommu_unused->out.bind(iommu->in_dma);
        } else {
            device->out.bind(iommu->in_dma);
            rogue->out.bind(iommu->in_dma);
        }
        work = std::make_unique<CpuWork>(*cpu);
    }
    void on_core(unsigned core, CpuWork::Body body) {
        sc_core::sc_event done;
        work->post(core, now(), [&done, body = std::move(body)](ExecCtx& ctx) {
            body(ctx);
            done.notify(to_sc(ctx.now() - sim_now()));
        });
        sc_core::wait(done);
    }
    std::uint64_t map(std::uint64_t phys, DmaDir dir = DmaDir::FromDevice) {
        std::uint64_t a = 0;
        on_core(0, [&](ExecCtx& ctx) { a = dma->map_page(ctx, *dev, phys, 4096, dir); });
        return a;
    }
    void unmap(std::uint64_t a, DmaDir dir = DmaDir::FromDevice) {
        on_core(0, [&](ExecCtx& ctx) { dma->unmap_page(ctx, *dev, a, 4096, dir); });
    }

    KernelCosts costs;
    std::unique_ptr<Cpu> cpu;
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<Memory> mem;
    std::unique_ptr<PageAllocator> pages;
    std::unique_ptr<PageOwners> page_owners;
    std::unique_ptr<IommuDriver> drv;
    std::unique_ptr<DmaApi> dma;
    DmaDevice* dev = nullptr;
    std::unique_ptr<StubInitiator> device, rogue, msi_src, iommu_unused;
    std::unique_ptr<StubTarget> mmio;
    std::unique_ptr<CpuWork> work;
    std::unique_ptr<NvmeCtrl> nvme_ctrl;
    std::unique_ptr<NvmeDriver> nvme_drv;
    std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(4096, 0xab);
};

class AllModes : public SafetyTest, public ::testing::WithParamInterface<IommuMode> {};
std::string mode_name(const ::testing::TestParamInfo<IommuMode>& i) {
    return to_string(i.param);
}

} // namespace

INSTANTIATE_TEST_SUITE_P(Modes, AllModes,
                         ::testing::Values(IommuMode::Off, IommuMode::Passthrough,
                                           IommuMode::Strict, IommuMode::Lazy),
                         mode_name);

// ------------------------------------------------------------------ faults

TEST_F(SafetyTest, EveryFaultReasonIsRecordedWithDeviceIovaAccessAndCountedByReason) {
    build(IommuMode::Strict, false, /*log=*/3);
    iommu->register_requester(kRid); // counters of its own; 0x0300 counts under slot 0 (other)
    const std::uint64_t p_to = pages->alloc_page(), p_from = pages->alloc_page();
    std::uint64_t ro = 0, wo = 0;
    StubInitiator::Result r[5];
    run([&] {
        ro = map(p_to, DmaDir::ToDevice);                  // read-only for the device
        wo = map(p_from, DmaDir::FromDevice);              // write-only for the device
        r[0] = device->write(0x7000'0000, buf.data(), 64); // nothing mapped there
        r[1] = device->write(ro, buf.data(), 64);          // write to a read-only mapping
        r[2] = device->read(wo, buf.data(), 64);           // read of a write-only mapping
        device->set_requester(0x0300);                     // a device with no domain
        r[3] = device->read(0x1000, buf.data(), 64);
        device->set_requester(kRid);
        r[4] = device->write(ro, buf.data(), 64); // beyond the log (3 records)
    });
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(r[i].status, tlm::TLM_ADDRESS_ERROR_RESPONSE) << i;
    // Nothing reached memory: its only reads are the walks' page-table reads.
    EXPECT_EQ(mem->writes, 0u);
    EXPECT_EQ(mem->reads, iommu->walk_reads);
    ASSERT_EQ(iommu->faults().size(), 3u);
    const auto& f = iommu->faults();
    EXPECT_EQ(f[0].reason, IommuFault::Reason::NotPresent);
    EXPECT_EQ(f[0].iova, 0x7000'0000u);
    EXPECT_TRUE(f[0].write);
    EXPECT_EQ(f[0].requester_id, kRid);
    EXPECT_EQ(f[1].reason, IommuFault::Reason::Permission);
    EXPECT_EQ(f[1].iova, ro);
    EXPECT_TRUE(f[1].write);
    EXPECT_EQ(f[2].reason, IommuFault::Reason::Permission);
    EXPECT_EQ(f[2].iova, wo);
    EXPECT_FALSE(f[2].write);
    EXPECT_LT(f[0].at, f[1].at);
    EXPECT_EQ(iommu->faults_total, 5u);
    EXPECT_EQ(iommu->faults_dropped, 2u);
    EXPECT_EQ(iommu->faults_by_reason[0], 1u); // not present
    EXPECT_EQ(iommu->faults_by_reason[1], 1u); // no domain
    EXPECT_EQ(iommu->faults_by_reason[2], 3u); // permission
    EXPECT_EQ(iommu->counters_of(kRid).faults, 4u);
    EXPECT_EQ(iommu->counters_of(0x0300).faults, 1u);
    EXPECT_EQ(iommu->stray_blocked, 0u); // none of them was marked stray
}

// ------------------------------------------------------------------ stray DMAs per mode

// A device keeps DMAing a buffer after the driver unmapped it (before any other mapping).
TEST_P(AllModes, UseAfterUnmapIsBlockedInStrictStaleInLazyAndReachesMemoryWithout) {
    const IommuMode mode = GetParam();
    build(mode);
    const std::uint64_t phys = pages->alloc_page();
    StubInitiator::Result during{}, after{}, after_flush{};
    run([&] {
        const std::uint64_t a = map(phys);
        during = device->write(a, buf.data(), 4096); // the legitimate DMA fills the IOTLB
        unmap(a);
        after = rogue->write(a, buf.data(), 4096); // before any flush
        wait_until(now() + kTimeout + 100 * kUs);  // the lazy timer has flushed
        after_flush = rogue->write(a, buf.data(), 4096);
    });
    EXPECT_EQ(during.status, tlm::TLM_OK_RESPONSE);
    switch (mode) {
    case IommuMode::Off:
    case IommuMode::Passthrough:
        EXPECT_EQ(after.status, tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(after_flush.status, tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(mem->stray_reached, 2u);
        EXPECT_EQ(iommu->stray_seen, mode == IommuMode::Off ? 0u : 2u);
        EXPECT_EQ(iommu->stray_blocked, 0u);
        break;
    case IommuMode::Strict:
        EXPECT_EQ(after.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
        EXPECT_EQ(after_flush.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
        EXPECT_EQ(iommu->stray_blocked, 2u);
        EXPECT_EQ(mem->stray_reached, 0u);
        EXPECT_EQ(iommu->stale_iotlb_hits, 0u); // invalidated before unmap returned
        break;
    case IommuMode::Lazy:
        // The IOTLB still holds the translation the kernel cleared: the write goes through.
        EXPECT_EQ(after.status, tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(after.xlate, DmaExt::Xlate::Hit);
        EXPECT_EQ(iommu->stale_iotlb_hits, 1u);
        EXPECT_EQ(iommu->stray_via_stale, 1u);
        EXPECT_EQ(mem->stray_reached, 1u);
        // After the timer's flush it faults.
        EXPECT_EQ(after_flush.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
        EXPECT_EQ(iommu->stray_blocked, 1u);
        break;
    }
    EXPECT_EQ(iommu->stray_seen, mode == IommuMode::Off ? 0u : 2u);
    if (mode != IommuMode::Off) {
        EXPECT_EQ(iommu->stray_reached, mem->stray_reached);
    }
}

TEST_F(SafetyTest, AnEntryEvictedBeforeTheFlushWalksAndFaultsInLazy) {
    build(IommuMode::Lazy);
    const std::uint64_t phys = pages->alloc_page();
    StubInitiator::Result after{};
    run([&] {
        const std::uint64_t a = map(phys);
        device->write(a, buf.data(), 64);
        unmap(a);
        iommu->iotlb_mut().invalidate_all(); // as if evicted by other traffic
        after = rogue->write(a, buf.data(), 64);
    });
    EXPECT_EQ(after.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(iommu->stale_iotlb_hits, 0u);
    EXPECT_EQ(iommu->stray_blocked, 1u);
    EXPECT_EQ(iommu->faults_by_reason[0], 1u);
}

TEST_F(SafetyTest, StrayThroughAPresentMappingIsCountedAsSuchNotStale) {
    build(IommuMode::Strict);
    const std::uint64_t phys = pages->alloc_page();
    run([&] {
        const std::uint64_t a = map(phys);
        rogue->write(a, buf.data(), 64); // walk
        rogue->write(a, buf.data(), 64); // hit
    });
    EXPECT_EQ(iommu->stray_via_mapping, 2u);
    EXPECT_EQ(iommu->stray_via_stale, 0u);
    EXPECT_EQ(mem->stray_reached, 2u);
    EXPECT_EQ(mem->stray_writes_reached, 2u);
}

// ------------------------------------------------------------------ the window

TEST_F(SafetyTest, StrictWindowIsOneInvalidationAndItsCompletionWaitPerUnmap) {
    build(IommuMode::Strict);
    run([&] {
        for (int i = 0; i < 5; ++i)
            unmap(map(pages->alloc_page()));
    });
    // Zero CPU costs: both commands leave at the unmap's time; the semaphore lands after
    // doorbell + invalidate-pages + completion wait, seen at the next poll.
    const Time w = round_up(kDoorbell + kInvPages + kCw, kPoll);
    EXPECT_EQ(dma->lazy_window_ns.count(), 5u);
    EXPECT_EQ(dma->lazy_window_ns.count(), dma->unmap_calls);
    EXPECT_EQ(dma->lazy_window_ns.max(), w / kNs);
    EXPECT_EQ(dma->lazy_window_ns.min(), w / kNs);
    EXPECT_EQ(drv->wait_ps, 5 * w);
}

TEST_F(SafetyTest, LazyWindowRunsToTheTimerFlushOneSamplePerUnmap) {
    build(IommuMode::Lazy);
    Time t0 = 0;
    run([&] {
        t0 = now();
        for (int i = 0; i < 3; ++i)
            unmap(map(pages->alloc_page()));
        wait_until(t0 + kTimeout + kMs);
    });
    // Zero costs: every unmap at t0, the timer (armed by the first) at t0 + 10 ms, then the
    // invalidate-all and completion wait.
    const Time flush = round_up(kDoorbell + kInvAll + kCw, kPoll);
    EXPECT_EQ(dma->fq_flushes_timer, 1u);
    EXPECT_EQ(dma->lazy_window_ns.count(), 3u);
    EXPECT_EQ(dma->lazy_window_ns.max(), (kTimeout + flush) / kNs);
    EXPECT_EQ(dma->lazy_window_ns.min(), (kTimeout + flush) / kNs);
}

TEST_F(SafetyTest, LazyFullQueueFlushClosesTheWindowsOfTheEntriesItCovers) {
    build(IommuMode::Lazy, false, 64, /*cost=*/10 * kNs);
    const unsigned n = 600; // 255 fill a ring; the 256th and 511th unmaps flush synchronously
    run([&] {
        on_core(0, [&](ExecCtx& ctx) {
            for (unsigned i = 0; i < n; ++i) {
                const std::uint64_t a =
                    dma->map_page(ctx, *dev, pages->alloc_page(), 4096, DmaDir::ToDevice);
                dma->unmap_page(ctx, *dev, a, 4096, DmaDir::ToDevice);
            }
        });
        wait_until(now() + kTimeout + kMs);
    });
    EXPECT_EQ(dma->fq_flushes_full, 2u);
    EXPECT_EQ(dma->fq_flushes_timer, 1u);
    EXPECT_LE(dma->fq_flushes_full, n / 255);
    EXPECT_EQ(dma->lazy_window_ns.count(), n); // one window per unmap, none twice
    // The longest waits for the timer (armed by the first unmap, 10 ms before its flush) plus
    // the flush itself; none is longer.
    const Time flush = round_up(kDoorbell + kInvAll + kCw, kPoll) + 20 * 10 * kNs;
    EXPECT_LE(dma->lazy_window_ns.max(), (kTimeout + flush) / kNs);
    EXPECT_GT(dma->lazy_window_ns.max(), (kTimeout - kMs) / kNs);
    // Entries flushed by a full queue waited less than one ring's worth of map/unmap work.
    EXPECT_LT(dma->lazy_window_ns.min(), 1000 * kUs / kNs);
}

// ------------------------------------------------------------------ reused memory

// Lazy: the buffer's page is mapped again for the next request (a new IOVA, as fio reuses its
// buffer) while the old IOVA's translation is still in the IOTLB; a stray write through it lands
// in the next request's page.
TEST_F(SafetyTest, StaleWriteIntoAPageMappedAgainCountsAsCorruptingReusedMemory) {
    build(IommuMode::Lazy, /*owners=*/true);
    const std::uint64_t phys = pages->alloc_page();
    std::uint64_t a = 0, b = 0;
    run([&] {
        a = map(phys);
        device->write(a, buf.data(), 4096);
        unmap(a);
        rogue->write(a, buf.data(), 64); // page not owned by anyone now: not counted
        b = map(phys);                   // the next request reuses the buffer
        std::vector<std::uint8_t> stray(64, 0x5a);
        rogue->write(a, stray.data(), 64); // through the stale entry, into b's page
    });
    EXPECT_NE(a, b);
    EXPECT_EQ(iommu->stray_via_stale, 2u);
    EXPECT_EQ(mem->stray_reached, 2u);
    EXPECT_EQ(mem->stray_corrupted_reused, 1u);
    std::uint8_t first = 0;
    mem->store().read(phys, &first, 1);
    EXPECT_EQ(first, 0x5a); // the stray data is in the page b's request owns
}

TEST_F(SafetyTest, StrictBlocksTheSameStrayWrite) {
    build(IommuMode::Strict, /*owners=*/true);
    const std::uint64_t phys = pages->alloc_page(), other = pages->alloc_page();
    run([&] {
        const std::uint64_t a = map(phys);
        device->write(a, buf.data(), 4096);
        unmap(a);
        map(other); // takes a's IOVA from the rcache: a stray to a would land in `other`
        map(phys);  // the next request on the first buffer, another IOVA
        rogue->write(a + 4096 * 64, buf.data(), 64); // an IOVA nobody holds
    });
    EXPECT_EQ(iommu->stray_blocked, 1u);
    EXPECT_EQ(mem->stray_corrupted_reused, 0u);
}

TEST_F(SafetyTest, PassthroughStrayIntoAnInFlightBufferCountsAsReusedMemory) {
    build(IommuMode::Passthrough, /*owners=*/true);
    const std::uint64_t phys = pages->alloc_page();
    run([&] {
        const std::uint64_t a = map(phys); // == phys
        unmap(a);
        rogue->write(a, buf.data(), 64); // freed, not reused yet
        map(phys);
        rogue->write(a, buf.data(), 64); // the page belongs to the next request
    });
    EXPECT_EQ(mem->stray_reached, 2u);
    EXPECT_EQ(mem->stray_corrupted_reused, 1u);
    EXPECT_EQ(page_owners->pages(), 1u);
}

// ------------------------------------------------------------------ the device sees the error

// nvme0 whose requester id has no domain: its DMAs fault (NoDomain), the command completes with
// Data Transfer Error, the driver counts it and the request ends with that status; the
// simulation goes on and the next command (the device attached) succeeds.
TEST_F(SafetyTest, NvmeCommandWhoseDmaFaultsCompletesWithAnErrorTheDriverCounts) {
    build(IommuMode::Strict, false, 64, 0, /*nvme=*/true);
    std::vector<DmaSeg> segs{{pages->alloc_page(), 4096}};
    BlkRequest rq[2];
    int done = 0;
    std::uint16_t status[2] = {99, 99};
    for (int i = 0; i < 2; ++i) {
        rq[i].bytes = 4096;
        rq[i].segs = segs;
        rq[i].nsegs = 1;
        rq[i].owner = &done;
        rq[i].tag = static_cast<std::uint64_t>(i);
        rq[i].done = [](void* owner, ExecCtx&, BlkRequest& r) {
            ++*static_cast<int*>(owner);
            (void)r;
        };
    }
    run([&] {
        on_core(0, [&](ExecCtx& ctx) { ASSERT_TRUE(nvme_drv->submit(ctx, rq[0])); });
        wait_until(now() + 200 * kUs);
        status[0] = rq[0].status;
        // The IOMMU learns the controller's requester id (the domain the driver maps into).
        iommu->attach(0x0500, dev->domain->id, &dev->domain->pt);
        on_core(0, [&](ExecCtx& ctx) { ASSERT_TRUE(nvme_drv->submit(ctx, rq[1])); });
        wait_until(now() + 200 * kUs);
        status[1] = rq[1].status;
    });
    EXPECT_EQ(done, 2);
    EXPECT_EQ(status[0], 0x4u); // NVMe generic status: Data Transfer Error
    EXPECT_EQ(status[1], 0u);
    EXPECT_EQ(nvme_drv->errors, 1u);
    EXPECT_EQ(nvme_drv->completed, 2u);
    EXPECT_GE(nvme_ctrl->dma_errors, 1u);
    EXPECT_GE(iommu->counters_of(0x0500).faults, 1u); // unregistered: slot 0 (other)
    EXPECT_EQ(iommu->faults().at(0).reason, IommuFault::Reason::NoDomain);
}
