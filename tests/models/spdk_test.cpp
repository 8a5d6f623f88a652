// SpdkWorkload (SPDK's userspace NVMe driver through VFIO) on a small platform, driven through the
// sockets: Cpu (out_mmio -> NvmeCtrl.in_regs: doorbells from user space; in_msi <- irq_out),
// NvmeCtrl (out_dma -> Iommu.in_dma, or straight to Memory under off), Iommu -> Memory, and the
// VfioDriver that maps the job's hugepage pool. Checks what the mechanism must give: the pool is
// mapped once (one MAP_DMA, 2 MiB leaves), every device DMA (SQE fetch, data, CQE) is translated
// through the IOTLB, no interrupt is raised, the polling core never sleeps, every latency covers
// the flash read; under off (no-IOMMU) nothing is mapped or translated.
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "models/iommu/iommu.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "models/nvme/nvme_ctrl.h"
#include "models/vfio/phys_layout.h"
#include "models/vfio/vfio_timed.h"
#include "models/workload/spdk.h"
#include "tests/harness/dma_path.h"
#include "tests/harness/sc_test.h"

#include <memory>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::test::bind_dma_path;
using iosim::test::ScTest;
using iosim::test::uniform_costs;

namespace {

constexpr std::uint64_t k1G = 1ull << 30;
constexpr std::uint64_t kIos = 200;

class SpdkTest : public ScTest, public ::testing::WithParamInterface<IommuMode> {
protected:
    void build(IommuMode mode) {
        costs = uniform_costs(20 * kNs);
        CpuParams cp;
        cp.cores = 2;
        cpu = std::make_unique<Cpu>("cpu", cp, costs);
        IommuParams ip;
        ip.mode = mode;
        iommu = std::make_unique<Iommu>("iommu", ip);
        MemoryParams mp;
        mp.size = 8 * k1G;
        mem = std::make_unique<Memory>("memory", mp);
        pages = std::make_unique<PageAllocator>(k1G, k1G, 1);
        layout = std::make_unique<FragmentedMemory>(LayoutParams{1.0, 3, 4 * k1G, 4 * k1G});
        mm = std::make_unique<UserMemory>(*layout);
        drv = std::make_unique<IommuDriver>(kUs);
        VfioDriverParams vp;
        vp.noiommu = mode == IommuMode::Off;
        vfio = std::make_unique<VfioDriver>(*cpu, *drv, iommu.get(), *pages, *mm, vp);
        NvmeCtrlParams np;
        nvme = std::make_unique<NvmeCtrl>("nvme", np);
        vfio->attach_group(0, {"nvme0"}, {"nvme0"}, {np.requester_id});

        cpu->out_mmio.bind(nvme->in_regs);
        cpu->out_iommu.bind(iommu->in_regs);
        nvme->irq_out.bind(cpu->in_msi);
        iommu->out_mem.bind(mem->in);
        iommu->out_walk.bind(mem->in);
        iommu_unused = bind_dma_path(nvme->out_dma, *iommu, *mem, mode); // as the platform wires it
        SpdkParams sp;
        sp.iodepth = 8;
        sp.jobs = 1;
        sp.first_cpu = 1;
        sp.ios = kIos;
        sp.queue_depth = 64;
        spdk = std::make_unique<SpdkWorkload>(sp, *cpu, *nvme, *vfio);
    }

    KernelCosts costs;
    std::unique_ptr<Cpu> cpu;
    std::unique_ptr<Iommu> iommu;
    std::unique_ptr<Memory> mem;
    std::unique_ptr<PageAllocator> pages;
    std::unique_ptr<FragmentedMemory> layout;
    std::unique_ptr<UserMemory> mm;
    std::unique_ptr<IommuDriver> drv;
    std::unique_ptr<VfioDriver> vfio;
    std::unique_ptr<NvmeCtrl> nvme;
    std::unique_ptr<StubInitiator> iommu_unused;
    std::unique_ptr<SpdkWorkload> spdk;
};

std::string mode_name(const ::testing::TestParamInfo<IommuMode>& i) {
    return to_string(i.param);
}

} // namespace

INSTANTIATE_TEST_SUITE_P(Modes, SpdkTest,
                         ::testing::Values(IommuMode::Off, IommuMode::Passthrough,
                                           IommuMode::Strict, IommuMode::Lazy),
                         mode_name);

TEST_P(SpdkTest, MapsOncePollsWithoutInterruptsAndTranslatesEveryDma) {
    const IommuMode mode = GetParam();
    build(mode);
    run([&] { spdk->start(sim_now()); });
    EXPECT_TRUE(spdk->finished());
    EXPECT_EQ(spdk->completed, kIos);
    EXPECT_EQ(spdk->errors, 0u);
    EXPECT_EQ(spdk->inflight(), 0u);
    EXPECT_EQ(nvme->reads, kIos);
    EXPECT_EQ(nvme->dma_errors, 0u);
    // Polled: no MSI-X message, no interrupt handler on any core.
    EXPECT_EQ(nvme->msis, 0u);
    EXPECT_EQ(cpu->irqs, 0u);
    EXPECT_EQ(spdk->sq_doorbells, kIos);
    EXPECT_EQ(spdk->latency_ns.count(), kIos);
    EXPECT_GE(spdk->latency_ns.min(), to_ns(NvmeCtrlParams{}.read_latency));
    // The job's core ran only SPDK: pollers and submissions, never idle between them.
    const auto& calls = cpu->accounting().calls;
    EXPECT_EQ(calls[static_cast<std::size_t>(Fn::spdk_nvme_ns_cmd_read)], kIos);
    EXPECT_EQ(calls[static_cast<std::size_t>(Fn::nvme_pcie_qpair_complete_tracker)], kIos);
    EXPECT_EQ(spdk->polls,
              calls[static_cast<std::size_t>(Fn::spdk_nvme_qpair_process_completions)]);
    EXPECT_EQ(cpu->busy_ps[1], cpu->busy_until(1));
    EXPECT_EQ(cpu->busy_ps[0], 0u);
    EXPECT_EQ(vfio->pages_pinned, spdk->pool_bytes() / 4096);
    EXPECT_EQ(iommu->cmd_total, 0u);
    if (mode == IommuMode::Off) {
        EXPECT_EQ(vfio->map_dma_calls, 0u);
        EXPECT_EQ(iommu->translations, 0u);
        EXPECT_EQ(iommu->iotlb().lookups, 0u);
    } else {
        EXPECT_EQ(vfio->map_dma_calls, 1u);
        EXPECT_EQ(vfio->leaves_mapped, spdk->pool_bytes() >> 21); // 2 MiB hugepages
        // An SQE fetch, the 4 KiB of data and a CQE per I/O, through the unmanaged domain.
        EXPECT_EQ(iommu->passthrough, 0u);
        EXPECT_EQ(iommu->translations, 3 * kIos);
        EXPECT_EQ(iommu->iotlb().lookups, 3 * kIos);
        EXPECT_EQ(iommu->walks, 1u); // the pool's one 2 MiB leaf, then hits
        EXPECT_EQ(iommu->faults_total, 0u);
    }
}
