// VfioDriver (the timing shell of VFIO type1) on a small platform: Cpu (out_iommu ->
// Iommu.in_regs), Iommu (out_mem, out_walk -> Memory), an assigned device (StubInitiator ->
// Iommu.in_dma). MAP_DMA / UNMAP_DMA run as ioctls on a core: the kernel functions they charge per
// layout (fully fragmented, fully huge-paged, mixed; AMD fgsp and Intel), the IOTLB syncs the
// IOMMU executes (one INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT per batch of 512 regions), the
// device's DMA translated through the unmanaged domain and blocked after the unmap, continuation
// over several work items, RLIMIT_MEMLOCK, the group rule, passthrough and no-IOMMU mode.
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "models/iommu/iommu.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "models/vfio/phys_layout.h"
#include "models/vfio/vfio_timed.h"
#include "tests/harness/cpu_work.h"
#include "tests/harness/dma_path.h"
#include "tests/harness/sc_test.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::test::bind_dma_path;
using iosim::test::CpuWork;
using iosim::test::ScTest;
using iosim::test::uniform_costs;

namespace {

constexpr std::uint16_t kRid = 0x0300;
constexpr Time kCost = 10 * kNs; // every kernel function with a cost key, per unit
constexpr Time kPoll = 250 * kNs;
constexpr std::uint64_t k4K = 4096, k2M = 2ull << 20, k1G = 1ull << 30;
constexpr std::uint64_t kVaddr = 0x7f0000000000ull;
constexpr std::uint8_t kRW = kPermRead | kPermWrite;
const std::vector<std::string> kDev = {"0000:03:00.0"};

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}
constexpr std::size_t idx(Fn f) {
    return static_cast<std::size_t>(f);
}

class VfioTimedTest : public ScTest {
public: // the helpers below read the fixture
    void build(IommuMode mode, double fraction, VfioParams vp = {}, bool attach = true) {
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
        mp.size = 16 * k1G;
        mp.backing_store = false;
        mem = std::make_unique<Memory>("memory", mp);
        pages = std::make_unique<PageAllocator>(k1G, k1G, 1);
        // User memory: its own DRAM region, apart from the kernel's pages.
        layout = std::make_unique<FragmentedMemory>(LayoutParams{fraction, 7, 4 * k1G, 8 * k1G});
        mm = std::make_unique<UserMemory>(*layout);
        drv = std::make_unique<IommuDriver>(kPoll);
        VfioDriverParams p;
        p.vfio = vp;
        p.noiommu = mode == IommuMode::Off;
        vfio = std::make_unique<VfioDriver>(*cpu, *drv, iommu.get(), *pages, *mm, p);
        if (attach) vfio->attach_group(3, kDev, kDev, {kRid});

        device = std::make_unique<StubInitiator>("device", kRid);
        mmio = std::make_unique<StubTarget>("mmio");
        msi_src = std::make_unique<StubInitiator>("msi_src");
        cpu->out_iommu.bind(iommu->in_regs);
        cpu->out_mmio.bind(mmio->in);
        msi_src->out.bind(cpu->in_msi);
        iommu->out_mem.bind(mem->in);
        iommu->out_walk.bind(mem->in);
        iommu_unused = bind_dma_path(device->out, *iommu, *mem, mode); // as the platform wires it
        work = std::make_unique<CpuWork>(*cpu);
    }

    // An ioctl issued on `core`; returns in the test thread once it has returned (its done
    // callback ran), having recorded the time it took.
    void ioctl(unsigned core, std::function<void(ExecCtx&, VfioDriver::Done, void*)> issue) {
        sc_core::sc_event done;
        Time end = 0;
        struct Ctx {
            sc_core::sc_event* ev;
            Time* end;
        } c{&done, &end};
        work->post(core, now(), [&](ExecCtx& ctx) {
            issue(
                ctx,
                [](void* o, ExecCtx& x, std::uint64_t) {
                    auto* cc = static_cast<Ctx*>(o);
                    *cc->end = x.now();
                    cc->ev->notify(to_sc(x.now() - sim_now()));
                },
                &c);
        });
        sc_core::wait(done);
    }
    void map(std::uint64_t iova, std::uint64_t bytes, std::uint64_t vaddr = kVaddr) {
        ioctl(0, [=](ExecCtx& ctx, VfioDriver::Done d, void* o) {
            vfio->map_dma(ctx, iova, vaddr, bytes, kRW, d, o);
        });
    }
    void unmap(std::uint64_t iova, std::uint64_t bytes) {
        ioctl(0, [=](ExecCtx& ctx, VfioDriver::Done d, void* o) {
            vfio->unmap_dma(ctx, iova, bytes, d, o);
        });
    }
    std::uint64_t calls(Fn f) { return cpu->accounting().calls[idx(f)]; }
    Time excl(Fn f) { return cpu->accounting().excl_ps[idx(f)]; }

    KernelCosts costs;
    std::unique_ptr<Cpu> cpu;
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<Memory> mem;
    std::unique_ptr<PageAllocator> pages;
    std::unique_ptr<FragmentedMemory> layout;
    std::unique_ptr<UserMemory> mm;
    std::unique_ptr<IommuDriver> drv;
    std::unique_ptr<VfioDriver> vfio;
    std::unique_ptr<StubInitiator> device, msi_src, iommu_unused;
    std::unique_ptr<StubTarget> mmio;
    std::unique_ptr<CpuWork> work;
};

// The checks every AMD (fgsp) unmap of `leaves` leaves over `pages` pages must satisfy through
// the timed path: the charged calls, and the IOMMU commands the syncs issued.
void expect_timed_fgsp_unmap(VfioTimedTest& t, std::uint64_t leaves, std::uint64_t pages) {
    const std::uint64_t syncs = ceil_div(leaves, 512);
    EXPECT_EQ(t.vfio->iova_to_phys_calls, leaves);
    EXPECT_EQ(t.calls(Fn::iommu_iova_to_phys), leaves);
    EXPECT_EQ(t.excl(Fn::iommu_iova_to_phys), leaves * kCost);
    EXPECT_EQ(t.calls(Fn::unmap_unpin_fast), leaves);
    EXPECT_EQ(t.calls(Fn::iommu_unmap_fast), leaves);
    EXPECT_EQ(t.vfio->iotlb_syncs, syncs);
    EXPECT_EQ(t.calls(Fn::iommu_iotlb_sync), syncs);
    EXPECT_EQ(t.calls(Fn::amd_iommu_iotlb_sync), syncs);
    EXPECT_EQ(t.iommu->cmd_inv_pages, syncs);
    EXPECT_EQ(t.iommu->cmd_completion_waits, syncs);
    EXPECT_EQ(t.calls(Fn::put_pfn), pages);
    EXPECT_EQ(t.excl(Fn::put_pfn), pages * kCost);
    EXPECT_EQ(t.calls(Fn::unpin_user_pages_dirty_lock), pages);
    EXPECT_EQ(t.vfio->pages_unpinned, pages);
    EXPECT_EQ(t.mm->locked_vm(), 0u);
    EXPECT_EQ(t.vfio->domain().leaf_count(), 0u);
}

} // namespace

TEST_F(VfioTimedTest, FullyFragmentedUnmapCallsOncePerLeafWithOneSyncPer512) {
    build(IommuMode::Strict, 0.0);
    const std::uint64_t bytes = 1300 * k4K; // 1300 leaves: 3 syncs (512 + 512 + 276)
    run([&] {
        map(0, bytes);
        unmap(0, bytes);
    });
    EXPECT_EQ(vfio->map_dma_calls, 1u);
    EXPECT_EQ(vfio->pages_pinned, 1300u);
    EXPECT_EQ(calls(Fn::pin_user_pages_remote), 3u);          // ceil(1300 / 512) pin batches
    EXPECT_EQ(excl(Fn::pin_user_pages_remote), 1300 * kCost); // charged per page
    EXPECT_EQ(calls(Fn::vfio_pin_pages_remote), 1300u);       // one per physical run
    EXPECT_EQ(calls(Fn::iommu_map), 1300u);
    EXPECT_EQ(calls(Fn::vfio_iommu_type1_ioctl), 2u);
    expect_timed_fgsp_unmap(*this, 1300, 1300);
    EXPECT_EQ(drv->commands, 2 * 3u); // invalidate + completion wait per sync, nothing at map
}

TEST_F(VfioTimedTest, TheCaptures3307CallsFromA13MiBFullyFragmentedMapping) {
    // vfio_type1.h's first layout for the reference capture: 3307 x 4 KiB on AMD, 7 syncs.
    build(IommuMode::Strict, 0.0);
    run([&] {
        map(0, 3307 * k4K);
        unmap(0, 3307 * k4K);
    });
    EXPECT_EQ(calls(Fn::iommu_iova_to_phys), 3307u);
    EXPECT_EQ(iommu->cmd_inv_pages, 7u);
    expect_timed_fgsp_unmap(*this, 3307, 3307);
}

TEST_F(VfioTimedTest, FullyHugePagedUnmapCallsOncePer2MLeaf) {
    build(IommuMode::Strict, 1.0);
    const std::uint64_t bytes = 600 * k2M; // 600 x 2 MiB leaves: 2 syncs
    run([&] {
        map(0, bytes);
        unmap(0, bytes);
    });
    EXPECT_EQ(vfio->leaves_mapped, 600u);
    EXPECT_EQ(excl(Fn::iommu_v1_map_pages), 600 * kCost); // per PTE written
    EXPECT_EQ(calls(Fn::iommu_map), 600u);                // one run per huge page
    expect_timed_fgsp_unmap(*this, 600, 600 * 512);
}

TEST_F(VfioTimedTest, MixedLayoutCallsOncePerLeafOfEitherSize) {
    build(IommuMode::Lazy, 0.5);
    const std::uint64_t bytes = 64 * k2M;
    run([&] {
        map(0, bytes);
        unmap(0, bytes);
    });
    const std::uint64_t huge = layout->huge_pages(), small = layout->small_pages();
    ASSERT_GT(huge, 0u);
    ASSERT_GT(small, 0u);
    EXPECT_EQ(huge * 512 + small, bytes / k4K);
    // Lazy mode changes nothing: a VFIO domain is unmanaged, its syncs are synchronous.
    expect_timed_fgsp_unmap(*this, huge + small, bytes / k4K);
    EXPECT_EQ(iommu->cmd_inv_all, 0u);
}

TEST_F(VfioTimedTest, IntelProbesEveryPageAndSyncsPerRunBatch) {
    VfioParams vp;
    vp.fgsp = false;
    build(IommuMode::Strict, 1.0, vp);
    const std::uint64_t bytes = 4 * k2M; // 4 runs of 512 pages: 4 x 512 + 4 - 1 lookups
    run([&] {
        map(0, bytes);
        unmap(0, bytes);
    });
    EXPECT_EQ(calls(Fn::iommu_iova_to_phys), 4 * 512 + 3u);
    EXPECT_EQ(vfio->iova_to_phys_calls, 4 * 512 + 3u);
    EXPECT_EQ(calls(Fn::unmap_unpin_fast), 4u);
    EXPECT_EQ(iommu->cmd_inv_pages, 1u);
}

TEST_F(VfioTimedTest, TheDeviceTranslatesThroughTheDomainUntilTheUnmap) {
    build(IommuMode::Strict, 1.0);
    std::uint32_t word = 0x1234;
    StubInitiator::Result before{}, again{}, after{};
    run([&] {
        map(0x100000000ull, 2 * k2M);
        before = device->write(0x100000000ull + 0x40, &word, 4);
        again = device->write(0x100000000ull + 0x80, &word, 4);
        unmap(0x100000000ull, 2 * k2M);
        after = device->write(0x100000000ull + 0x40, &word, 4);
    });
    EXPECT_EQ(before.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(before.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(again.xlate, DmaExt::Xlate::Hit); // same 2 MiB leaf, from the IOTLB
    // The sync invalidated the IOTLB: the next DMA walks and finds nothing.
    EXPECT_EQ(after.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(iommu->faults_total, 1u);
}

TEST_F(VfioTimedTest, PassthroughStillTranslatesTheAssignedGroup) {
    // Under iommu.passthrough every other device keeps the identity domain (iommu_test); the
    // assigned one is switched to the container's unmanaged domain and translated.
    build(IommuMode::Passthrough, 1.0);
    std::uint32_t word = 7;
    StubInitiator::Result assigned{}, unmapped{};
    run([&] {
        map(0, k2M);
        assigned = device->write(0x40, &word, 4);
        unmapped = device->write(0x12345000, &word, 4); // no identity fallback for it
    });
    EXPECT_EQ(assigned.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(assigned.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(unmapped.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(iommu->translations, 2u);
    EXPECT_EQ(iommu->passthrough, 0u);
}

TEST_F(VfioTimedTest, ALargeUnmapYieldsBetweenBatchesAndKeepsItsTime) {
    build(IommuMode::Strict, 0.0);
    const std::uint64_t bytes = 4096 * k4K; // 8 syncs; ~100 us of work at 10 ns per call
    Time took = 0;
    std::uint64_t items_before = 0;
    run([&] {
        map(0, bytes);
        items_before = cpu->items;
        const Time t0 = now();
        unmap(0, bytes);
        took = now() - t0;
    });
    EXPECT_GT(cpu->items - items_before, 1u); // continued as further work items
    EXPECT_EQ(vfio->unmap_ps, vfio->last_ps);
    EXPECT_EQ(took, vfio->unmap_ps);
    // The time is the charged work plus the syncs' waits, nothing lost between items.
    Time charged = 0;
    for (auto v : cpu->accounting().excl_ps)
        charged += v;
    EXPECT_EQ(vfio->map_ps + vfio->unmap_ps, charged);
    expect_timed_fgsp_unmap(*this, 4096, 4096);
}

TEST_F(VfioTimedTest, RlimitMemlockIsAClearErrorWithNothingCharged) {
    VfioParams vp;
    vp.rlimit_memlock_bytes = 8ull << 20; // Linux's default 8 MiB
    build(IommuMode::Strict, 1.0, vp);
    std::string what;
    run([&] {
        work->post(0, now(), [&](ExecCtx& ctx) {
            try {
                vfio->map_dma(ctx, 0, kVaddr, 16ull << 20, kRW, nullptr, nullptr);
            } catch (const VfioError& e) {
                EXPECT_EQ(e.code(), VfioError::Code::kNoMem);
                what = e.what();
            }
        });
    });
    EXPECT_NE(what.find("RLIMIT_MEMLOCK"), std::string::npos) << what;
    EXPECT_EQ(calls(Fn::vfio_iommu_type1_ioctl), 0u);
    EXPECT_EQ(vfio->map_dma_calls, 0u);
    EXPECT_EQ(mm->locked_vm(), 0u);
}

TEST_F(VfioTimedTest, APartialGroupIsRefusedAndItsDevicesStayUnattached) {
    build(IommuMode::Strict, 1.0, {}, false);
    const std::vector<std::string> group = {"0000:03:00.0", "0000:03:00.1"};
    try {
        vfio->attach_group(7, group, {"0000:03:00.0"}, {kRid, kRid + 1});
        FAIL() << "a partial group was attached";
    } catch (const VfioError& e) {
        EXPECT_EQ(e.code(), VfioError::Code::kNotViable);
        EXPECT_NE(std::string(e.what()).find("0000:03:00.1 is not bound to vfio-pci"),
                  std::string::npos);
    }
    std::uint32_t word = 1;
    StubInitiator::Result r{};
    run([&] { r = device->write(0x40, &word, 4); });
    EXPECT_EQ(r.status, tlm::TLM_ADDRESS_ERROR_RESPONSE); // no domain: the device is not attached
    EXPECT_EQ(iommu->faults().at(0).reason, IommuFault::Reason::NoDomain);
    vfio->attach_group(7, group, group, {kRid, kRid + 1}); // whole: accepted
    EXPECT_TRUE(vfio->container().has_group(7));
}

TEST_F(VfioTimedTest, NoIommuModeMapsNothingAndGivesPhysicalPages) {
    build(IommuMode::Off, 1.0);
    EXPECT_TRUE(vfio->noiommu());
    const std::vector<PhysRun> runs = vfio->pin_noiommu(kVaddr, 4 * k2M);
    ASSERT_EQ(runs.size(), 4u);
    for (const PhysRun& r : runs)
        EXPECT_EQ(r.phys % k2M, 0u);
    EXPECT_EQ(vfio->pages_pinned, 4 * 512u);
    bool refused = false;
    std::uint32_t word = 1;
    StubInitiator::Result r{};
    run([&] {
        work->post(0, now(), [&](ExecCtx& ctx) {
            try {
                vfio->map_dma(ctx, 0, kVaddr, k2M, kRW, nullptr, nullptr);
            } catch (const VfioError&) {
                refused = true;
            }
        });
        r = device->write(runs[0].phys + 0x40, &word, 4); // straight to DRAM
    });
    EXPECT_TRUE(refused);
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(vfio->domain().leaf_count(), 0u);
    EXPECT_EQ(iommu->cmd_total, 0u);
}
