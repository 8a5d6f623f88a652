// DmaApi and IommuDriver on a small platform: Cpu (out_iommu -> Iommu.in_regs), Iommu (out_mem,
// out_walk -> Memory), a device (StubInitiator -> Iommu.in_dma). The kernel runs as work items on
// the cores; the device's DMAs show what the mappings translate to. Per mode: dma-direct for off
// and passthrough; strict's invalidate + completion wait on unmap; lazy's flush queue (no command
// on unmap, a synchronous flush when a CPU's ring is full, the 10 ms timer); map_sg; the IOMMU
// lock that serialises the command queue across cores.
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "models/iommu/iommu.h"
#include "models/kernel/dma_api.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "tests/harness/cpu_work.h"
#include "tests/harness/dma_path.h"
#include "tests/harness/sc_test.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::StubTarget;
using iosim::test::bind_dma_path;
using iosim::test::CpuWork;
using iosim::test::ScTest;
using iosim::test::uniform_costs;

namespace {

constexpr std::uint16_t kRid = 0x0100;
constexpr Time kCost = 10 * kNs;  // every kernel function with a cost key, per unit
constexpr Time kPoll = 250 * kNs; // wait_on_sem's udelay between semaphore checks
using iosim::test::kCw;
using iosim::test::kDoorbell;
using iosim::test::kInvAll;
using iosim::test::kInvPages;
constexpr std::uint64_t kNoMapping = ~std::uint64_t{0};

constexpr std::size_t idx(Fn f) {
    return static_cast<std::size_t>(f);
}
constexpr Time round_up(Time t, Time q) {
    return (t + q - 1) / q * q;
}

class KernelTest : public ScTest {
protected:
    void build(IommuMode mode, bool zero_costs = false, unsigned cores = 2) {
        costs = uniform_costs(zero_costs ? 0 : kCost);
        CpuParams cp;
        cp.cores = cores;
        cp.hz = 1e9;
        cpu = std::make_unique<Cpu>("cpu", cp, costs);

        IommuParams ip = iosim::test::small_iommu_params(mode);
        iommu = std::make_unique<Iommu>("iommu", ip);

        MemoryParams mp;
        mp.size = 8ull << 30;
        mp.latency = 80 * kNs;
        mp.bandwidth = 16e9;
        mp.channels = 2;
        mp.backing_store = true;
        mem = std::make_unique<Memory>("memory", mp);
        pages = std::make_unique<PageAllocator>(1ull << 30, mp.size - (1ull << 30), 1);

        drv = std::make_unique<IommuDriver>(kPoll);
        DmaApiParams dp;
        dp.mode = mode;
        dp.iova.cpus = cores;
        dp.fq_size = 256;
        dp.fq_timeout = 10 * kMs;
        dma = std::make_unique<DmaApi>(dp, *cpu, *drv, iommu.get(), *pages);
        dev = &dma->add_device("dev0", kRid);

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

    // Runs `body` on `core` from the test thread's current time; returns (in the test thread) at
    // the simulated time the work item ended.
    void on_core(unsigned core, CpuWork::Body body) {
        sc_core::sc_event done;
        work->post(core, now(), [&done, body = std::move(body)](ExecCtx& ctx) {
            body(ctx);
            done.notify(to_sc(ctx.now() - sim_now()));
        });
        sc_core::wait(done);
    }
    // A device DMA write of a recognisable pattern; returns the response.
    StubInitiator::Result dma_write(std::uint64_t addr, std::vector<std::uint8_t>& data) {
        return device->write(addr, data.data(), static_cast<unsigned>(data.size()));
    }
    static std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
        std::vector<std::uint8_t> v(n);
        for (std::size_t i = 0; i < n; ++i)
            v[i] = static_cast<std::uint8_t>(seed + i * 13);
        return v;
    }
    std::vector<std::uint8_t> memory_at(std::uint64_t phys, std::size_t n) {
        std::vector<std::uint8_t> v(n);
        mem->store().read(phys, v.data(), n);
        return v;
    }
    const KernelAccounting& acct() { return cpu->accounting(); }
    // Functions called at least once, by name.
    std::vector<std::string> called() {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < kFnCount; ++i)
            if (acct().calls[i]) out.emplace_back(fn_name(static_cast<Fn>(i)));
        return out;
    }
    Time excl_total() {
        Time t = 0;
        for (auto v : acct().excl_ps)
            t += v;
        return t;
    }

    KernelCosts costs;
    std::unique_ptr<Cpu> cpu;
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<Memory> mem;
    std::unique_ptr<PageAllocator> pages;
    std::unique_ptr<IommuDriver> drv;
    std::unique_ptr<DmaApi> dma;
    DmaDevice* dev = nullptr;
    std::unique_ptr<StubInitiator> device;
    std::unique_ptr<StubTarget> mmio;
    std::unique_ptr<StubInitiator> msi_src, iommu_unused;
    std::unique_ptr<CpuWork> work;
};

class DirectModes : public KernelTest, public ::testing::WithParamInterface<IommuMode> {};
class TranslatedModes : public KernelTest, public ::testing::WithParamInterface<IommuMode> {};
class AllModes : public KernelTest, public ::testing::WithParamInterface<IommuMode> {};
std::string mode_name(const ::testing::TestParamInfo<IommuMode>& i) {
    return to_string(i.param);
}

} // namespace

INSTANTIATE_TEST_SUITE_P(Modes, DirectModes,
                         ::testing::Values(IommuMode::Off, IommuMode::Passthrough), mode_name);
INSTANTIATE_TEST_SUITE_P(Modes, TranslatedModes,
                         ::testing::Values(IommuMode::Strict, IommuMode::Lazy), mode_name);
INSTANTIATE_TEST_SUITE_P(Modes, AllModes,
                         ::testing::Values(IommuMode::Off, IommuMode::Passthrough,
                                           IommuMode::Strict, IommuMode::Lazy),
                         mode_name);

TEST_P(DirectModes, MapIsThePhysicalAddressAndCostsOnlyDmaDirect) {
    build(GetParam());
    const std::uint64_t phys = pages->alloc_page() + 0x80;
    std::uint64_t handle = 0;
    auto data = pattern(512, 3);
    StubInitiator::Result r{};
    run([&] {
        on_core(0, [&](ExecCtx& ctx) {
            handle = dma->map_page(ctx, *dev, phys, 512, DmaDir::FromDevice);
        });
        r = dma_write(handle, data);
        on_core(0,
                [&](ExecCtx& ctx) { dma->unmap_page(ctx, *dev, handle, 512, DmaDir::FromDevice); });
    });
    EXPECT_EQ(handle, phys);
    EXPECT_EQ(dev->domain, nullptr);
    EXPECT_TRUE(dma->domains().empty());
    EXPECT_EQ(called(), std::vector<std::string>({"dma_direct_map_page", "dma_direct_unmap_page"}));
    EXPECT_EQ(excl_total(), 2 * kCost);
    EXPECT_EQ(cpu->busy_ps[0], 2 * kCost);
    EXPECT_EQ(dma->map_calls, 1u);
    EXPECT_EQ(dma->unmap_calls, 1u);
    EXPECT_EQ(iommu->cmd_total, 0u);
    EXPECT_EQ(drv->commands, 0u);
    EXPECT_EQ(iommu->translations, 0u);
    EXPECT_EQ(iommu->passthrough, GetParam() == IommuMode::Passthrough ? 1u : 0u);
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(memory_at(phys, 512), data);
}

TEST_P(TranslatedModes, MapReturnsAnIovaBelow4GiBThatTranslatesToThePage) {
    build(GetParam());
    const std::uint64_t page = pages->alloc_page();
    const std::uint64_t phys = page + 0x40;
    std::uint64_t iova = 0;
    auto data = pattern(256, 7);
    StubInitiator::Result r{}, beyond{};
    run([&] {
        on_core(1, [&](ExecCtx& ctx) {
            iova = dma->map_page(ctx, *dev, phys, 256, DmaDir::Bidirectional);
        });
        r = dma_write(iova, data);
        beyond = device->read(iova - 0x40 + 4096, nullptr, 8); // the next IOVA page: not mapped
    });
    ASSERT_NE(iova, kNoMapping);
    EXPECT_LT(iova, 1ull << 32); // dma-iommu tries below 4 GiB first (pci_32bit_workaround)
    EXPECT_EQ(iova & 0xfff, 0x40u);
    EXPECT_NE(iova & ~0xfffull, page);
    EXPECT_EQ(dev->domain->pt.iova_to_phys(iova), phys);
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.xlate, DmaExt::Xlate::Walk);
    EXPECT_EQ(memory_at(phys, 256), data); // the device's bytes are in the mapped page
    EXPECT_EQ(beyond.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(acct().calls[idx(Fn::iommu_dma_map_page)], 1u);
    EXPECT_EQ(acct().calls[idx(Fn::alloc_iova_fast)], 1u);
    EXPECT_EQ(acct().calls[idx(Fn::iommu_map)], 1u);
    EXPECT_EQ(acct().calls[idx(Fn::iommu_v1_map_pages)], 1u);
    EXPECT_EQ(acct().calls[idx(Fn::dma_direct_map_page)], 0u);
    EXPECT_EQ(dma->ptes_mapped, 1u);
    EXPECT_EQ(dev->domain->iova.outstanding(), 1u);
    EXPECT_EQ(iommu->cmd_total, 0u); // mapping needs no invalidation
}

TEST_F(KernelTest, StrictUnmapInvalidatesWaitsAndLeavesTheIovaFaulting) {
    build(IommuMode::Strict);
    const std::uint64_t phys = pages->alloc_page();
    std::uint64_t iova = 0, again = 0;
    auto data = pattern(64, 1);
    StubInitiator::Result before{}, after{};
    Time unmap_start = 0, unmap_end = 0;
    run([&] {
        on_core(0, [&](ExecCtx& ctx) {
            iova = dma->map_page(ctx, *dev, phys, 4096, DmaDir::FromDevice);
        });
        before = dma_write(iova, data); // the IOTLB now holds the translation
        on_core(0, [&](ExecCtx& ctx) {
            unmap_start = ctx.now();
            dma->unmap_page(ctx, *dev, iova, 4096, DmaDir::FromDevice);
            unmap_end = ctx.now();
        });
        after = dma_write(iova, data);
        on_core(0, [&](ExecCtx& ctx) {
            again = dma->map_page(ctx, *dev, phys, 4096, DmaDir::FromDevice);
        });
    });
    EXPECT_EQ(before.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(iommu->cmd_inv_pages, 1u);
    EXPECT_EQ(iommu->cmd_completion_waits, 1u);
    EXPECT_EQ(iommu->cmd_total, 2u);
    EXPECT_EQ(drv->commands, 2u);
    EXPECT_EQ(drv->completion_waits, 1u);
    // wait_on_sem polls every kPoll: the wait is a whole number of polls, at least the time the
    // IOMMU needs for the two commands minus what the core did after sending the first.
    EXPECT_GT(drv->wait_ps, 0u);
    EXPECT_EQ(drv->wait_ps % kPoll, 0u);
    EXPECT_EQ(acct().excl_ps[idx(Fn::wait_on_sem)], drv->wait_ps);
    EXPECT_GE(unmap_end - unmap_start, kDoorbell + kInvPages + kCw);
    EXPECT_EQ(acct().calls[idx(Fn::amd_iommu_iotlb_sync)], 1u);
    EXPECT_EQ(acct().calls[idx(Fn::queue_iova)], 0u);
    EXPECT_EQ(after.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(iommu->faults().size(), 1u);
    EXPECT_EQ(iommu->faults()[0].reason, IommuFault::Reason::NotPresent);
    EXPECT_EQ(iommu->faults()[0].iova, iova);
    EXPECT_EQ(again, iova); // freed at once: the per-CPU rcache hands it out again
    EXPECT_EQ(dma->unmap_calls, 1u);
    EXPECT_EQ(dma->ptes_unmapped, 1u);
}

TEST_F(KernelTest, StrictWaitOnSemRoundsUpToThePollInterval) {
    build(IommuMode::Strict, /*zero_costs=*/true);
    const std::uint64_t phys = pages->alloc_page();
    std::uint64_t iova = 0;
    Time took = 0;
    run([&] {
        on_core(0, [&](ExecCtx& ctx) {
            iova = dma->map_page(ctx, *dev, phys, 4096, DmaDir::ToDevice);
        });
        on_core(0, [&](ExecCtx& ctx) {
            const Time t = ctx.now();
            dma->unmap_page(ctx, *dev, iova, 4096, DmaDir::ToDevice);
            took = ctx.now() - t;
        });
    });
    // With free CPU work both commands are sent at the same local time: the semaphore is
    // stored after doorbell + invalidation + completion wait = 950 ns, seen at the 4th poll.
    const Time sem = kDoorbell + kInvPages + kCw;
    EXPECT_EQ(drv->wait_ps, round_up(sem, kPoll));
    EXPECT_EQ(drv->wait_ps, 1000 * kNs);
    EXPECT_EQ(took, drv->wait_ps);
}

TEST_F(KernelTest, LazyUnmapQueuesTheIovaAndTheTimerFlushFreesIt) {
    build(IommuMode::Lazy);
    std::uint64_t coherent_phys = 0;
    dma->alloc_coherent(*dev, 4096, &coherent_phys); // a queue: mapped for the device's life
    const std::uint64_t pa = pages->alloc_page(), pb = pages->alloc_page();
    std::uint64_t a = 0, b = 0;
    auto data = pattern(64, 9);
    StubInitiator::Result stale{}, flushed{};
    std::uint64_t outstanding_before_flush = 0, cmds_after_unmap = 1;
    Time unmapped_at = 0;
    DmaDomain* d = dev->domain;
    run([&] {
        on_core(1,
                [&](ExecCtx& ctx) { a = dma->map_page(ctx, *dev, pa, 4096, DmaDir::FromDevice); });
        dma_write(a, data); // IOTLB filled
        on_core(1, [&](ExecCtx& ctx) {
            unmapped_at = ctx.now();
            dma->unmap_page(ctx, *dev, a, 4096, DmaDir::FromDevice);
            b = dma->map_page(ctx, *dev, pb, 4096, DmaDir::FromDevice);
        });
        cmds_after_unmap = iommu->cmd_total;
        outstanding_before_flush = d->iova.outstanding();
        // Until the flush the IOTLB still translates the unmapped IOVA.
        stale = dma_write(a, data);
        wait_until(unmapped_at + 10 * kMs + 100 * kUs);
        flushed = dma_write(a, data);
    });
    EXPECT_EQ(cmds_after_unmap, 0u);         // no command on unmap
    EXPECT_NE(b, a);                         // the unmapped IOVA is not reusable before the flush
    EXPECT_EQ(outstanding_before_flush, 3u); // coherent + a (queued) + b
    EXPECT_EQ(stale.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stale.xlate, DmaExt::Xlate::Hit);
    EXPECT_EQ(dma->fq_entries, 1u);
    EXPECT_EQ(dma->fq_flushes_timer, 1u);
    EXPECT_EQ(dma->fq_flushes_full, 0u);
    EXPECT_EQ(dma->fq_flushes, 1u);
    EXPECT_EQ(dma->fq_freed, 1u);
    EXPECT_EQ(iommu->cmd_inv_all, 1u);
    EXPECT_EQ(iommu->cmd_inv_pages, 0u);
    EXPECT_EQ(iommu->cmd_completion_waits, 1u);
    EXPECT_EQ(acct().calls[idx(Fn::fq_flush_timeout)], 1u);
    EXPECT_EQ(d->fq.queued_total(), 0u);
    EXPECT_EQ(d->iova.outstanding(), 2u); // coherent + b
    EXPECT_EQ(flushed.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(cpu->irqs, 1u); // the timer ran as a softirq on the unmapping core
}

TEST_F(KernelTest, LazyThe256thUnmapOnOneCoreForcesASynchronousFlush) {
    build(IommuMode::Lazy);
    dma->alloc_coherent(*dev, 4096, nullptr);
    DmaDomain* d = dev->domain;
    std::vector<std::uint64_t> phys;
    for (int i = 0; i < 256; ++i)
        phys.push_back(pages->alloc_page());
    auto map_unmap = [&](int from, int to) {
        return [&, from, to](ExecCtx& ctx) {
            for (int i = from; i < to; ++i) {
                const std::uint64_t iova =
                    dma->map_page(ctx, *dev, phys[i], 4096, DmaDir::ToDevice);
                dma->unmap_page(ctx, *dev, iova, 4096, DmaDir::ToDevice);
            }
        };
    };
    std::uint64_t full_after_255 = 9, queued_after_255 = 0, full_after_256 = 9;
    std::uint64_t freed_after_256 = 0, queued_after_256 = 0, outstanding_after_256 = 0;
    run([&] {
        on_core(0, map_unmap(0, 255));
        full_after_255 = dma->fq_flushes_full;
        queued_after_255 = d->fq.queued(0);
        on_core(0, map_unmap(255, 256));
        full_after_256 = dma->fq_flushes_full;
        freed_after_256 = dma->fq_freed;
        queued_after_256 = d->fq.queued(0);
        outstanding_after_256 = d->iova.outstanding();
        wait_until(20 * kMs);
    });
    EXPECT_EQ(d->fq.capacity(), 255u); // IOVA_DEFAULT_FQ_SIZE 256, one slot always empty
    EXPECT_EQ(full_after_255, 0u);
    EXPECT_EQ(queued_after_255, 255u);
    EXPECT_EQ(full_after_256, 1u);
    EXPECT_EQ(freed_after_256, 255u);
    EXPECT_EQ(queued_after_256, 1u);
    EXPECT_EQ(outstanding_after_256, 2u); // coherent + the one queued after the flush
    // Then the timer takes the last one.
    EXPECT_EQ(dma->fq_flushes_timer, 1u);
    EXPECT_EQ(dma->fq_flushes, 2u);
    EXPECT_EQ(dma->fq_freed, 256u);
    EXPECT_EQ(d->iova.outstanding(), 1u); // back to the coherent mapping
    EXPECT_EQ(iommu->cmd_inv_all, 2u);
    EXPECT_EQ(iommu->cmd_completion_waits, 2u);
    EXPECT_EQ(iommu->cmd_inv_pages, 0u);
}

TEST_F(KernelTest, LazyTimerFlushWaitRoundsUpToThePollInterval) {
    build(IommuMode::Lazy, /*zero_costs=*/true);
    const std::uint64_t phys = pages->alloc_page();
    run([&] {
        on_core(0, [&](ExecCtx& ctx) {
            const std::uint64_t iova = dma->map_page(ctx, *dev, phys, 4096, DmaDir::ToDevice);
            dma->unmap_page(ctx, *dev, iova, 4096, DmaDir::ToDevice);
        });
        wait_until(11 * kMs);
    });
    // Invalidate-all then completion wait: 150 + 600 + 400 = 1150 ns, seen at the 5th poll.
    EXPECT_EQ(drv->wait_ps, round_up(kDoorbell + kInvAll + kCw, kPoll));
    EXPECT_EQ(drv->wait_ps, 1250 * kNs);
    EXPECT_EQ(cpu->busy_ps[0], 1250 * kNs); // the timer softirq's time on core 0
}

TEST_P(AllModes, MapSgIsOneSegmentUnderTheIommuAndOnePerEntryWithout) {
    const IommuMode mode = GetParam();
    build(mode);
    constexpr unsigned n = 4;
    DmaSeg sg[n];
    for (unsigned i = 0; i < n; ++i)
        sg[i] = {pages->alloc_page(), 4096};
    sg[0].addr += 0x100; // a buffer that starts inside its first page
    sg[0].len -= 0x100;
    DmaSeg out[n] = {};
    unsigned nseg = 0;
    std::vector<StubInitiator::Result> res;
    auto data = pattern(64, 5);
    run([&] {
        on_core(0, [&](ExecCtx& ctx) {
            nseg = dma->map_sg(ctx, *dev, sg, n, DmaDir::FromDevice, out);
        });
        // The device writes at the start of each entry's bytes, through its DMA addresses.
        std::uint64_t skip = 0;
        for (unsigned i = 0; i < n; ++i) {
            const std::uint64_t addr = nseg == 1 ? out[0].addr + skip : out[i].addr;
            res.push_back(dma_write(addr, data));
            skip += sg[i].len;
        }
    });
    const bool translated = mode == IommuMode::Strict || mode == IommuMode::Lazy;
    if (translated) {
        ASSERT_EQ(nseg, 1u);
        EXPECT_EQ(out[0].len, 4 * 4096u - 0x100u);
        EXPECT_EQ(out[0].addr & 0xfff, 0x100u);
        EXPECT_EQ(dma->ptes_mapped, 4u);
        EXPECT_EQ(acct().calls[idx(Fn::iommu_dma_map_sg)], 1u);
    } else {
        ASSERT_EQ(nseg, n);
        for (unsigned i = 0; i < n; ++i) {
            EXPECT_EQ(out[i].addr, sg[i].addr);
            EXPECT_EQ(out[i].len, sg[i].len);
        }
        EXPECT_EQ(acct().calls[idx(Fn::dma_direct_map_page)], n);
    }
    ASSERT_EQ(res.size(), n);
    for (unsigned i = 0; i < n; ++i) {
        EXPECT_EQ(res[i].status, tlm::TLM_OK_RESPONSE) << i;
        EXPECT_EQ(memory_at(sg[i].addr, 64), data) << "entry " << i;
    }
    EXPECT_EQ(dma->map_sg_calls, 1u);
}

// Two cores unmapping at the same instant: iommu->lock makes the second spin while the first
// sends its commands and waits for the semaphore; its own commands queue behind the first's.
TEST_F(KernelTest, StrictUnmapsOnTwoCoresSerialiseOnTheIommuLock) {
    build(IommuMode::Strict, /*zero_costs=*/true);
    const std::uint64_t pa = pages->alloc_page(), pb = pages->alloc_page();
    std::uint64_t a = 0, b = 0;
    Time end[2] = {0, 0};
    constexpr Time t = 200 * kUs;
    run([&] {
        work->post(0, 0,
                   [&](ExecCtx& ctx) { a = dma->map_page(ctx, *dev, pa, 4096, DmaDir::ToDevice); });
        work->post(1, 0,
                   [&](ExecCtx& ctx) { b = dma->map_page(ctx, *dev, pb, 4096, DmaDir::ToDevice); });
        work->post(0, t, [&](ExecCtx& ctx) {
            dma->unmap_page(ctx, *dev, a, 4096, DmaDir::ToDevice);
            end[0] = ctx.now();
        });
        work->post(1, t, [&](ExecCtx& ctx) {
            dma->unmap_page(ctx, *dev, b, 4096, DmaDir::ToDevice);
            end[1] = ctx.now();
        });
    });
    const Time wait = round_up(kDoorbell + kInvPages + kCw, kPoll); // 1000 ns
    EXPECT_EQ(end[0], t + wait);
    EXPECT_EQ(drv->lock_spin_ps, wait); // core 1 spun while core 0 held the lock
    EXPECT_EQ(acct().excl_ps[idx(Fn::native_queued_spin_lock_slowpath)], wait);
    EXPECT_EQ(end[1], t + 2 * wait);
    EXPECT_EQ(drv->wait_ps, 2 * wait);
    EXPECT_EQ(iommu->cmd_total, 4u);
    EXPECT_EQ(cpu->busy_ps[1], 2 * wait);
}

TEST_F(KernelTest, StrictUnmapsOnTwoCoresSpinWithRealCosts) {
    build(IommuMode::Strict);
    const std::uint64_t pa = pages->alloc_page(), pb = pages->alloc_page();
    std::uint64_t a = 0, b = 0;
    run([&] {
        on_core(0, [&](ExecCtx& ctx) { a = dma->map_page(ctx, *dev, pa, 4096, DmaDir::ToDevice); });
        on_core(1, [&](ExecCtx& ctx) { b = dma->map_page(ctx, *dev, pb, 4096, DmaDir::ToDevice); });
        const Time t = now();
        work->post(0, t,
                   [&](ExecCtx& ctx) { dma->unmap_page(ctx, *dev, a, 4096, DmaDir::ToDevice); });
        work->post(1, t,
                   [&](ExecCtx& ctx) { dma->unmap_page(ctx, *dev, b, 4096, DmaDir::ToDevice); });
    });
    // Core 1 spins for as long as core 0 holds iommu->lock: the four functions it runs under the
    // lock (build_inv_iommu_pages, copy_cmd_to_buffer, build_completion_wait, copy_cmd_to_buffer)
    // and its semaphore wait; both cores wait equally long (the queue is idle when each sends).
    EXPECT_EQ(drv->lock_spin_ps, 4 * kCost + drv->wait_ps / 2);
    EXPECT_EQ(acct().excl_ps[idx(Fn::native_queued_spin_lock_slowpath)], drv->lock_spin_ps);
    EXPECT_EQ(acct().calls[idx(Fn::native_queued_spin_lock_slowpath)], 1u);
    EXPECT_EQ(drv->wait_ps % kPoll, 0u);
    EXPECT_EQ(iommu->cmd_total, 4u);
}
