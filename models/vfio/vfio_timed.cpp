#include "models/vfio/vfio_timed.h"

#include <optional>
#include <utility>

namespace iosim {

namespace {

constexpr std::uint64_t k4K = 4096;

// The share of `total` that falls to item i of n when spread evenly (the shares sum to total).
std::uint64_t share(std::uint64_t total, std::uint64_t i, std::uint64_t n) {
    return n ? total * (i + 1) / n - total * i / n : 0;
}

// `n` calls of f, each charged one unit.
void calls(ExecCtx& ctx, Fn f, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i)
        KCall c(ctx, f);
}

} // namespace

VfioDriver::VfioDriver(Cpu& cpu, IommuDriver& drv, Iommu* iommu, PageAllocator& pt_pages,
                       UserMemory& mm, const VfioDriverParams& p)
    : cpu_(cpu), drv_(drv), iommu_(iommu), mm_(mm), p_(p) {
    pt_ = std::make_unique<IoPageTable>([&pt_pages] { return pt_pages.alloc_page(); },
                                        [&pt_pages](std::uint64_t a) { pt_pages.free_page(a); });
    container_ = std::make_unique<VfioContainer>(*pt_, mm_, p_.vfio);
}

void VfioDriver::attach_group(unsigned group, const std::vector<std::string>& members,
                              const std::vector<std::string>& requested,
                              const std::vector<std::uint16_t>& requester_ids) {
    container_->attach_group(group, members, requested);
    // No IOMMU (no-IOMMU mode): nothing to attach; the device DMAs to physical addresses.
    if (p_.noiommu || !iommu_) return;
    for (std::uint16_t rid : requester_ids)
        iommu_->attach(rid, p_.domain_id, pt_.get(), /*unmanaged=*/true);
}

std::vector<PhysRun> VfioDriver::pin_noiommu(std::uint64_t vaddr, std::uint64_t bytes) {
    std::vector<PhysRun> runs = mm_.fault_in(vaddr, bytes);
    pages_pinned += bytes / k4K;
    return runs;
}

std::size_t VfioDriver::add_op(std::unique_ptr<Op> op, ExecCtx& ctx, Done done, void* obj,
                               std::uint64_t arg) {
    op->started = ctx.now();
    op->done = done;
    op->obj = obj;
    op->arg = arg;
    for (std::size_t i = 0; i < ops_.size(); ++i)
        if (!ops_[i]) {
            ops_[i] = std::move(op);
            return i;
        }
    ops_.push_back(std::move(op));
    return ops_.size() - 1;
}

void VfioDriver::map_dma(ExecCtx& ctx, std::uint64_t iova, std::uint64_t vaddr, std::uint64_t bytes,
                         std::uint8_t prot, Done done, void* obj, std::uint64_t arg) {
    if (p_.noiommu)
        throw VfioError(VfioError::Code::kInval,
                        "VFIO_IOMMU_MAP_DMA: a no-IOMMU container has no DMA mapping "
                        "(enable_unsafe_noiommu_mode; the device uses physical addresses)");
    auto op = std::make_unique<Op>();
    op->map = container_->map_dma(iova, vaddr, bytes, prot); // throws before anything changes
    ++map_dma_calls;
    pages_pinned += op->map.pages_pinned;
    leaves_mapped += op->map.ptes_written;
    map_flushes += op->map.map_flushes;
    const std::size_t i = add_op(std::move(op), ctx, done, obj, arg);
    {
        // The ioctl's outer frames, held while this first item charges what it can.
        KSyscall sys(ctx);
        KFrame ix(ctx, Fn::__x64_sys_ioctl);
        KCall io(ctx, Fn::vfio_iommu_type1_ioctl);
        KCall dm(ctx, Fn::vfio_dma_do_map);
        KCall pm(ctx, Fn::vfio_pin_map_dma);
        if (!charge_map(ctx, *ops_[i])) {
            cpu_.post<&VfioDriver::step>(ctx.core(), ctx.now(), Cpu::Prio::Thread, this, i);
            return;
        }
    }
    finish(ctx, i);
}

void VfioDriver::unmap_dma(ExecCtx& ctx, std::uint64_t iova, std::uint64_t bytes, Done done,
                           void* obj, std::uint64_t arg) {
    auto op = std::make_unique<Op>();
    op->unmap = true;
    op->um = container_->unmap_dma(iova, bytes); // throws before anything changes
    ++unmap_dma_calls;
    pages_unpinned += op->um.pages_unpinned;
    iova_to_phys_calls += op->um.iova_to_phys_calls;
    leaves_unmapped += op->um.leaves_unmapped;
    iotlb_syncs += op->um.iotlb_syncs;
    const std::size_t i = add_op(std::move(op), ctx, done, obj, arg);
    {
        KSyscall sys(ctx);
        KFrame ix(ctx, Fn::__x64_sys_ioctl);
        KCall io(ctx, Fn::vfio_iommu_type1_ioctl);
        KCall du(ctx, Fn::vfio_dma_do_unmap);
        // vfio_remove_dma -> vfio_unmap_unpin per mapping removed; their loops are charged below,
        // inside the last one's frames (so the stacks into iommu_iova_to_phys have them).
        const Op& o = *ops_[i];
        for (std::uint64_t d = 0; d + 1 < o.um.dmas_removed; ++d) {
            KCall rd(ctx, Fn::vfio_remove_dma);
            KCall uu(ctx, Fn::vfio_unmap_unpin);
        }
        std::optional<KCall> rd, uu;
        if (o.um.dmas_removed) {
            rd.emplace(ctx, Fn::vfio_remove_dma);
            uu.emplace(ctx, Fn::vfio_unmap_unpin);
        }
        if (!charge_unmap(ctx, *ops_[i])) {
            cpu_.post<&VfioDriver::step>(ctx.core(), ctx.now(), Cpu::Prio::Thread, this, i);
            return;
        }
    }
    finish(ctx, i);
}

void VfioDriver::step(ExecCtx& ctx, std::uint64_t i) {
    Op& op = *ops_[i];
    bool done;
    {
        // The ioctl goes on in this item: its frames are open again (not new calls).
        KResume sys(ctx, Fn::entry_SYSCALL_64);
        KFrame ds(ctx, Fn::do_syscall_64, false);
        KFrame ix(ctx, Fn::__x64_sys_ioctl, false);
        KResume io(ctx, Fn::vfio_iommu_type1_ioctl);
        if (op.unmap) {
            KResume du(ctx, Fn::vfio_dma_do_unmap);
            std::optional<KResume> rd, uu;
            if (op.um.dmas_removed) {
                rd.emplace(ctx, Fn::vfio_remove_dma);
                uu.emplace(ctx, Fn::vfio_unmap_unpin);
            }
            done = charge_unmap(ctx, op);
        } else {
            KResume dm(ctx, Fn::vfio_dma_do_map);
            KResume pm(ctx, Fn::vfio_pin_map_dma);
            done = charge_map(ctx, op);
        }
    }
    if (!done) {
        cpu_.post<&VfioDriver::step>(ctx.core(), ctx.now(), Cpu::Prio::Thread, this, i);
        return;
    }
    finish(ctx, i);
}

void VfioDriver::finish(ExecCtx& ctx, std::uint64_t i) {
    std::unique_ptr<Op> op = std::move(ops_[i]);
    if (op->unmap) {
        // vfio_lock_acct once per mapping removed (locked_vm -= its pages).
        calls(ctx, Fn::vfio_lock_acct, op->um.dmas_removed);
        unmap_ps += ctx.now() - op->started;
    } else {
        map_ps += ctx.now() - op->started;
    }
    last_ps = ctx.now() - op->started;
    if (op->done) op->done(op->obj, ctx, op->arg);
}

// vfio_pin_map_dma's loop, one physically contiguous run at a time: vfio_pin_pages_remote (pin
// batches refilled by vaddr_get_pfns -> pin_user_pages_remote, charged per page), vfio_lock_acct,
// then vfio_iommu_map -> iommu_map -> iommu_v1_map_pages per iommu_pgsize step (per PTE), with
// alloc_pte for new tables and a domain flush where a 2 MiB leaf replaced an emptied table.
bool VfioDriver::charge_map(ExecCtx& ctx, Op& op) {
    const VfioContainer::MapResult& r = op.map;
    for (const std::size_t first = op.cursor; op.cursor < r.runs; ++op.cursor) {
        if (op.cursor > first && ctx.needs_sync()) return false; // cond_resched between runs
        const std::uint64_t i = op.cursor, n = r.runs;
        {
            KCall pin(ctx, Fn::vfio_pin_pages_remote);
            // Pin batches (and the pages in them) spread over the runs; per page, exact in total.
            const std::uint64_t b0 = r.pin_batches * i / n, b1 = r.pin_batches * (i + 1) / n;
            for (std::uint64_t b = b0; b < b1; ++b) {
                KCall v(ctx, Fn::vaddr_get_pfns);
                KCall g(ctx, Fn::pin_user_pages_remote, share(r.pages_pinned, b, r.pin_batches));
            }
            KCall acct(ctx, Fn::vfio_lock_acct);
        }
        KCall vm(ctx, Fn::vfio_iommu_map);
        KCall im(ctx, Fn::iommu_map);
        const std::uint64_t s0 = r.map_pages_calls * i / n, s1 = r.map_pages_calls * (i + 1) / n;
        for (std::uint64_t s = s0; s < s1; ++s)
            KCall mp(ctx, Fn::iommu_v1_map_pages, share(r.ptes_written, s, r.map_pages_calls));
        if (const std::uint64_t t = share(r.tables_allocated, i, n)) KCall a(ctx, Fn::alloc_pte, t);
        for (std::uint64_t f = share(r.map_flushes, i, n); f; --f)
            drv_.flush_all(ctx, p_.domain_id);
    }
    return true;
}

// vfio_unmap_unpin's loop, one sync batch at a time: iommu_iova_to_phys per lookup,
// unmap_unpin_fast -> iommu_unmap_fast -> iommu_v1_unmap_pages per region (no flush), then
// vfio_sync_unpin: iommu_iotlb_sync (amd_iommu_iotlb_sync: INVALIDATE_IOMMU_PAGES over the
// gathered range + COMPLETION_WAIT, waited for) and the unpin of every page of the batch.
bool VfioDriver::charge_unmap(ExecCtx& ctx, Op& op) {
    const VfioContainer::UnmapResult& r = op.um;
    for (const std::size_t first = op.cursor; op.cursor < r.syncs.size(); ++op.cursor) {
        if (op.cursor > first && ctx.needs_sync()) return false; // cond_resched in the loop
        const VfioContainer::SyncBatch& b = r.syncs[op.cursor];
        calls(ctx, Fn::iommu_iova_to_phys, b.iova_to_phys_calls);
        for (std::uint64_t g = 0; g < b.regions; ++g) {
            KCall uf(ctx, Fn::unmap_unpin_fast);
            KCall iu(ctx, Fn::iommu_unmap_fast);
            KCall up(ctx, Fn::iommu_v1_unmap_pages, share(b.leaves, g, b.regions));
        }
        KCall su(ctx, Fn::vfio_sync_unpin);
        {
            KCall is(ctx, Fn::iommu_iotlb_sync);
            if (iommu_)
                drv_.flush_pages(ctx, p_.domain_id, b.gathered.first,
                                 b.gathered.last - b.gathered.first + 1);
        }
        for (std::uint64_t g = 0; g < b.regions; ++g) {
            KCall ur(ctx, Fn::vfio_unpin_pages_remote);
            for (std::uint64_t pg = share(b.pages, g, b.regions); pg; --pg) {
                KCall pp(ctx, Fn::put_pfn);
                KCall un(ctx, Fn::unpin_user_pages_dirty_lock);
            }
        }
    }
    return true;
}

} // namespace iosim
