// The timing shell of VFIO type1 (drivers/vfio/vfio_iommu_type1.c): runs VfioContainer's
// VFIO_IOMMU_MAP_DMA and VFIO_IOMMU_UNMAP_DMA on a core as an ioctl, charging every kernel
// function the functional core counted (kfunc.h's VFIO block, shared/reference/kernel-dma-paths.md
// §7), and issuing each IOTLB sync as real IOMMU commands through the kernel's IommuDriver
// (INVALIDATE_IOMMU_PAGES over the batch's gathered range + COMPLETION_WAIT, under iommu->lock),
// so the sync's time and the command-queue contention with other cores are the IOMMU's.
//
// The container owns one IOMMU_DOMAIN_UNMANAGED page table; attach_group points the group's
// requester ids at it in the Iommu (as iommu_attach_group does), in every mode but off. Such a
// domain is not a DMA domain: iommu.strict / lazy (platform.iommu.mode) does not apply to it, and
// under passthrough the assigned group still gets it (translated) instead of the identity domain.
//
// Mode off: vfio-pci's no-IOMMU mode (enable_unsafe_noiommu_mode). There is no MAP_DMA; the user
// pins its memory itself (hugetlbfs) and programs physical addresses: pin_noiommu().
//
// Time: the functional effect (page table, locked_vm) happens when the ioctl starts; its CPU work
// is then replayed run by run (map) or sync batch by sync batch (unmap). Where the core is a
// global quantum ahead of SystemC time, the rest continues as a new work item on the same core,
// as vfio_unmap_unpin's cond_resched() lets it (so other cores' IOMMU commands interleave in time
// order). Only the first item holds the outer frames (entry_SYSCALL_64, vfio_iommu_type1_ioctl,
// vfio_dma_do_map/unmap): their inclusive time covers that item; exclusive times are exact.
// The per-run split of counted totals (pin batches, map_pages steps) is even over the runs.
//
// Not modelled: a device DMA racing the unmap of its own mapping (the page table changes at the
// ioctl's start), mm->mmap_lock contention, page faults of memory never touched (fault-in is free).
#pragma once
#include "models/cpu/cpu.h"
#include "models/iommu/io_page_table.h"
#include "models/iommu/iommu.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/page_allocator.h"
#include "models/vfio/phys_layout.h"
#include "models/vfio/vfio_type1.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iosim {

struct VfioDriverParams {
    VfioParams vfio;
    bool noiommu = false;            // platform.iommu.mode off: vfio-pci's no-IOMMU mode
    std::uint16_t domain_id = 0x400; // the unmanaged domain's id (apart from DMA domains 1..n)
};

class VfioDriver {
public:
    using Done = void (*)(void* obj, ExecCtx& ctx, std::uint64_t arg);

    // `iommu` may be null (a test without one); `pt_pages` gives the page-table pages; `mm` the
    // process whose memory is pinned.
    VfioDriver(Cpu& cpu, IommuDriver& drv, Iommu* iommu, PageAllocator& pt_pages, UserMemory& mm,
               const VfioDriverParams& p);

    // VFIO_GROUP_SET_CONTAINER (probe time, untimed): the whole-group rule of
    // VfioContainer::attach_group (throws VfioError), then the devices' requester ids are pointed
    // at the domain. The topology's IOMMU groups give `members`; until it is wired, a device is
    // its own group.
    void attach_group(unsigned group, const std::vector<std::string>& members,
                      const std::vector<std::string>& requested,
                      const std::vector<std::uint16_t>& requester_ids);

    // VFIO_IOMMU_MAP_DMA / VFIO_IOMMU_UNMAP_DMA issued from `ctx` (a thread on its core). A refused
    // call throws VfioError at once with nothing charged or changed. Otherwise the work is charged
    // from ctx.now(), possibly over several work items, and done(obj, ctx, arg) runs in the last
    // one, at the ioctl's return.
    void map_dma(ExecCtx& ctx, std::uint64_t iova, std::uint64_t vaddr, std::uint64_t bytes,
                 std::uint8_t prot, Done done, void* obj, std::uint64_t arg = 0);
    void unmap_dma(ExecCtx& ctx, std::uint64_t iova, std::uint64_t bytes, Done done, void* obj,
                   std::uint64_t arg = 0);

    // No-IOMMU mode: the process's pages behind [vaddr, vaddr + bytes), faulted in and pinned
    // (hugetlbfs pages do not move), as physical runs for the device. Counted in pages_pinned.
    std::vector<PhysRun> pin_noiommu(std::uint64_t vaddr, std::uint64_t bytes);

    bool noiommu() const { return p_.noiommu; }
    bool fgsp() const { return p_.vfio.fgsp; }
    VfioContainer& container() { return *container_; }
    const IoPageTable& domain() const { return *pt_; }
    std::uint16_t domain_id() const { return p_.domain_id; }

    // Totals since construction (not reset at warm-up: set-up and teardown are not steady state).
    std::uint64_t map_dma_calls = 0, unmap_dma_calls = 0;
    std::uint64_t pages_pinned = 0, pages_unpinned = 0;
    std::uint64_t iova_to_phys_calls = 0, leaves_mapped = 0, leaves_unmapped = 0;
    std::uint64_t iotlb_syncs = 0, map_flushes = 0;
    Time map_ps = 0, unmap_ps = 0; // from ioctl entry to return, summed
    Time last_ps = 0;              // of the last ioctl completed

private:
    struct Op {
        bool unmap = false;
        VfioContainer::MapResult map;
        VfioContainer::UnmapResult um;
        std::size_t cursor = 0; // runs (map) or sync batches (unmap) charged so far
        Time started = 0;
        Done done = nullptr;
        void* obj = nullptr;
        std::uint64_t arg = 0;
    };

    // Starts `op` (an ioctl entered now, to report to done(obj, arg)): its slot in ops_.
    std::size_t add_op(std::unique_ptr<Op> op, ExecCtx& ctx, Done done, void* obj,
                       std::uint64_t arg);
    void step(ExecCtx& ctx, std::uint64_t op);
    // Charge from `op.cursor` on; false if it stopped to let SystemC time catch up.
    bool charge_map(ExecCtx& ctx, Op& op);
    bool charge_unmap(ExecCtx& ctx, Op& op);
    void finish(ExecCtx& ctx, std::uint64_t index);

    Cpu& cpu_;
    IommuDriver& drv_;
    Iommu* iommu_;
    UserMemory& mm_;
    VfioDriverParams p_;
    std::unique_ptr<IoPageTable> pt_;
    std::unique_ptr<VfioContainer> container_;
    std::vector<std::unique_ptr<Op>> ops_; // in progress; a slot is reused once done
};

} // namespace iosim
