#include "models/kernel/dma_api.h"

#include <cassert>
#include <stdexcept>

namespace iosim {

namespace {
constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kPageMask = kPage - 1;

std::uint8_t prot(DmaDir dir) { // dma_info_to_prot
    switch (dir) {
    case DmaDir::ToDevice:
        return kPermRead;
    case DmaDir::FromDevice:
        return kPermWrite;
    case DmaDir::Bidirectional:
        return kPermRead | kPermWrite;
    }
    return 0;
}
std::uint64_t pages_of(std::uint64_t addr, std::uint64_t len) {
    return ((addr & kPageMask) + len + kPageMask) / kPage;
}
} // namespace

DmaDomain::DmaDomain(std::uint16_t id_, PageAllocator& pages, const DmaApiParams& p)
    : id(id_), pt([&pages] { return pages.alloc_page(); },
                  [&pages](std::uint64_t a) { pages.free_page(a); }),
      iova(p.iova), fq(p.iova.cpus, p.fq_size) {
    // iova_reserve_iommu_regions: the MSI window is never handed out as an IOVA.
    iova.reserve(0xFEE00, 0xFEEFF);
}

DmaApi::DmaApi(const DmaApiParams& p, Cpu& cpu, IommuDriver& drv, Iommu* iommu,
               PageAllocator& pages)
    : p_(p), cpu_(cpu), drv_(drv), iommu_(iommu), pages_(pages) {}

DmaDevice& DmaApi::add_device(const std::string& name, std::uint16_t requester_id,
                              std::uint64_t dma_mask) {
    auto dev = std::make_unique<DmaDevice>();
    dev->name = name;
    dev->requester_id = requester_id;
    dev->dma_mask = dma_mask;
    if (translated()) {
        auto id = static_cast<std::uint16_t>(domains_.size() + 1);
        domains_.push_back(std::make_unique<DmaDomain>(id, pages_, p_));
        dev->domain = domains_.back().get();
        if (iommu_) iommu_->attach(requester_id, id, &dev->domain->pt);
    }
    devices_.push_back(std::move(dev));
    return *devices_.back();
}

// ---------------------------------------------------------------- IOVA

std::uint64_t DmaApi::alloc_iova(ExecCtx& ctx, DmaDevice& dev, std::uint64_t pages) {
    DmaDomain& d = *dev.domain;
    KCall a(ctx, Fn::alloc_iova_fast);
    IovaOp op{};
    const std::uint64_t limit_pfn = std::min<std::uint64_t>(dev.dma_mask, (1ull << 48) - 1) >> 12;
    const std::uint64_t pfn = d.iova.alloc(ctx.core(), pages, limit_pfn, &op);
    if (op.tree_locked) {
        // Rcache miss: alloc_iova -> __alloc_and_insert_iova_range under iova_rbtree_lock.
        iova_rbtree_lock_spin_ps += ctx.lock(d.rbtree_lock);
        {
            KCall b(ctx, Fn::alloc_iova);
            KCall n(ctx, Fn::__alloc_and_insert_iova_range, op.tree_nodes_visited);
        }
        if (op.depot_pfns_freed) KCall f(ctx, Fn::iova_magazine_free_pfns, op.depot_pfns_freed);
        ctx.unlock(d.rbtree_lock);
        ++iova_alloc_slow;
    } else {
        ++iova_alloc_fast;
    }
    if (!pfn) ++iova_alloc_failed;
    return pfn;
}

void DmaApi::free_iova(ExecCtx& ctx, DmaDomain& d, std::uint64_t pfn, std::uint64_t pages) {
    KCall a(ctx, Fn::free_iova_fast);
    IovaOp op{};
    d.iova.free(ctx.core(), pfn, pages, &op);
    if (op.tree_locked) {
        // Full magazines and a full depot (or a size beyond the rcache): back to the rbtree.
        iova_rbtree_lock_spin_ps += ctx.lock(d.rbtree_lock);
        if (op.depot_pfns_freed) {
            KCall f(ctx, Fn::iova_magazine_free_pfns, op.depot_pfns_freed);
        } else {
            KCall f(ctx, Fn::free_iova);
        }
        ctx.unlock(d.rbtree_lock);
    }
}

// ---------------------------------------------------------------- page tables

std::uint64_t DmaApi::iommu_map_range(ExecCtx& ctx, DmaDomain& d, const DmaSeg* sg, unsigned n,
                                      std::uint64_t pfn, DmaDir dir) {
    KCall a(ctx, Fn::iommu_map);
    std::uint64_t iova = pfn * kPage;
    for (unsigned i = 0; i < n; ++i) {
        const std::uint64_t base = sg[i].addr & ~kPageMask;
        const std::uint64_t len = pages_of(sg[i].addr, sg[i].len) * kPage;
        auto r = d.pt.map(iova, base, len, prot(dir));
        assert(r.ok && "IOVA handed out twice");
        {
            KCall m(ctx, Fn::iommu_v1_map_pages, r.ptes_written);
            if (r.tables_allocated) KCall t(ctx, Fn::alloc_pte, r.tables_allocated);
        }
        ptes_mapped += r.ptes_written;
        iova += len;
    }
    return pfn * kPage;
}

void DmaApi::iommu_unmap_range(ExecCtx& ctx, DmaDomain& d, std::uint64_t iova, std::uint64_t size) {
    // __iommu_dma_unmap
    {
        KCall u(ctx, Fn::iommu_unmap_fast);
        auto r = d.pt.unmap(iova, size);
        KCall p(ctx, Fn::iommu_v1_unmap_pages, r.ptes_cleared);
        ptes_unmapped += r.ptes_cleared;
    }
    // Safety bookkeeping (no time): the range's IOTLB entries are stale from here on, until the
    // invalidation (strict: just below, lazy: the flush). Marked in strict too, so that a test
    // can see that strict leaves none behind.
    if (iommu_) iommu_->ptes_cleared(d.id, iova, size);
    const Time unmapped_at = ctx.now();
    const std::uint64_t pfn = iova / kPage, pages = size / kPage;
    if (p_.mode == IommuMode::Strict) {
        drv_.flush_pages(ctx, d.id, iova, size);
        lazy_window_ns.record((ctx.now() - unmapped_at) / kNs);
        free_iova(ctx, d, pfn, pages);
    } else {
        queue_iova(ctx, d, pfn, pages, unmapped_at);
    }
}

// ---------------------------------------------------------------- flush queue (lazy)

void DmaApi::fq_flush_iotlb(ExecCtx& ctx, DmaDomain& d) {
    KCall f(ctx, Fn::fq_flush_iotlb, 0);
    d.fq.flush_start();
    drv_.flush_all(ctx, d.id);
    d.fq.flush_finish();
    ++fq_flushes;
    // Safety: the lazy window of every entry this flush made unusable ends now.
    const Time done = ctx.now();
    d.fq.for_each_newly_covered(
        [&](const FqEntry& e) { lazy_window_ns.record((done - e.unmapped_at) / kNs); });
}

void DmaApi::queue_iova(ExecCtx& ctx, DmaDomain& d, std::uint64_t pfn, std::uint64_t pages,
                        Time unmapped_at) {
    KCall q(ctx, Fn::queue_iova);
    const unsigned cpu = ctx.core();
    auto release = [&](const auto& e) {
        KCall r(ctx, Fn::fq_ring_free_locked);
        free_iova(ctx, d, e.iova_pfn, e.pages);
        ++fq_freed;
    };
    d.fq.free_ready(cpu, release);
    if (d.fq.full(cpu)) {
        fq_flush_iotlb(ctx, d);
        ++fq_flushes_full;
        d.fq.free_ready(cpu, release);
    }
    d.fq.push(cpu, pfn, pages, ctx.now(), unmapped_at);
    ++fq_entries;
    if (d.fq.arm_timer()) {
        // mod_timer on this CPU: fq_flush_timeout runs here as a timer softirq.
        cpu_.post<&DmaApi::fq_flush_timeout>(cpu, ctx.now() + p_.fq_timeout, Cpu::Prio::Irq, this,
                                             d.id - 1u);
    }
}

void DmaApi::fq_flush_timeout(ExecCtx& ctx, std::uint64_t domain_index) {
    DmaDomain& d = *domains_[domain_index];
    d.fq.timer_fired();
    KCall t(ctx, Fn::fq_flush_timeout);
    fq_flush_iotlb(ctx, d);
    ++fq_flushes_timer;
    d.fq.free_all_ready([&](const auto& e) {
        KCall r(ctx, Fn::fq_ring_free_locked);
        free_iova(ctx, d, e.iova_pfn, e.pages);
        ++fq_freed;
    });
}

// ---------------------------------------------------------------- DMA API

std::uint64_t DmaApi::map_page(ExecCtx& ctx, DmaDevice& dev, std::uint64_t phys, std::uint64_t len,
                               DmaDir dir) {
    ++map_calls;
    if (owners_) owners_->mapped(phys, len);
    if (!dev.domain) {
        KCall a(ctx, Fn::dma_direct_map_page);
        return phys;
    }
    KCall a(ctx, Fn::iommu_dma_map_page);
    const std::uint64_t pages = pages_of(phys, len);
    const std::uint64_t pfn = alloc_iova(ctx, dev, pages);
    if (!pfn) return ~std::uint64_t{0}; // DMA_MAPPING_ERROR
    DmaSeg seg{phys, len};
    iommu_map_range(ctx, *dev.domain, &seg, 1, pfn, dir);
    return pfn * kPage + (phys & kPageMask);
}

void DmaApi::unmap_page(ExecCtx& ctx, DmaDevice& dev, std::uint64_t dma, std::uint64_t len,
                        DmaDir) {
    ++unmap_calls;
    if (!dev.domain) {
        KCall a(ctx, Fn::dma_direct_unmap_page);
        if (owners_) owners_->unmapped(dma, len);
        return;
    }
    DmaDomain& d = *dev.domain;
    KCall a(ctx, Fn::iommu_dma_unmap_page);
    {
        KCall p(ctx, Fn::iommu_iova_to_phys);
        [[maybe_unused]] auto phys = d.pt.iova_to_phys(dma);
        assert(phys && "unmap of an IOVA that is not mapped");
        if (owners_ && phys) owners_->unmapped(*phys, len);
    }
    iommu_unmap_range(ctx, d, dma & ~kPageMask, pages_of(dma, len) * kPage);
}

unsigned DmaApi::map_sg(ExecCtx& ctx, DmaDevice& dev, const DmaSeg* sg, unsigned n, DmaDir dir,
                        DmaSeg* out) {
    ++map_calls;
    ++map_sg_calls;
    if (owners_)
        for (unsigned i = 0; i < n; ++i)
            owners_->mapped(sg[i].addr, sg[i].len);
    if (!dev.domain) {
        // dma_direct_map_sg: one dma_direct_map_page per entry, entries are not merged.
        for (unsigned i = 0; i < n; ++i) {
            KCall a(ctx, Fn::dma_direct_map_page);
            out[i] = sg[i];
        }
        return n;
    }
    KCall a(ctx, Fn::iommu_dma_map_sg);
    std::uint64_t pages = 0, bytes = 0;
    for (unsigned i = 0; i < n; ++i) {
        pages += pages_of(sg[i].addr, sg[i].len);
        bytes += sg[i].len;
    }
    const std::uint64_t pfn = alloc_iova(ctx, dev, pages);
    if (!pfn) return 0;
    iommu_map_range(ctx, *dev.domain, sg, n, pfn, dir);
    // __finalise_sg: the IOVA range is contiguous, so the list becomes one DMA segment.
    out[0] = {pfn * kPage + (sg[0].addr & kPageMask), bytes};
    return 1;
}

void DmaApi::unmap_sg(ExecCtx& ctx, DmaDevice& dev, const DmaSeg* dma, unsigned n, DmaDir) {
    ++unmap_calls;
    ++unmap_sg_calls;
    if (!dev.domain) {
        for (unsigned i = 0; i < n; ++i) {
            KCall a(ctx, Fn::dma_direct_unmap_page);
            if (owners_) owners_->unmapped(dma[i].addr, dma[i].len);
        }
        return;
    }
    // iommu_dma_unmap_sg: one __iommu_dma_unmap over [first, last), no iommu_iova_to_phys.
    KCall a(ctx, Fn::iommu_dma_unmap_sg);
    const std::uint64_t start = dma[0].addr & ~kPageMask;
    const std::uint64_t end = dma[n - 1].addr + dma[n - 1].len;
    if (owners_) // the physical pages, read back from the page table before it is cleared
        for (std::uint64_t a = start; a < end; a += kPage)
            if (auto phys = dev.domain->pt.iova_to_phys(a))
                owners_->unmapped(*phys & ~kPageMask, 1);
    iommu_unmap_range(ctx, *dev.domain, start, (end - start + kPageMask) & ~kPageMask);
}

std::uint64_t DmaApi::alloc_coherent(DmaDevice& dev, std::uint64_t bytes, std::uint64_t* phys) {
    const std::uint64_t pages = (bytes + kPageMask) / kPage;
    const std::uint64_t pa = pages_.alloc_contiguous(pages);
    if (phys) *phys = pa;
    ++coherent_allocs;
    if (!dev.domain) return pa;
    DmaDomain& d = *dev.domain;
    IovaOp op{};
    const std::uint64_t limit_pfn = std::min<std::uint64_t>(dev.dma_mask, (1ull << 48) - 1) >> 12;
    const std::uint64_t pfn = d.iova.alloc(0, pages, limit_pfn, &op);
    if (!pfn) throw std::runtime_error("IOVA space exhausted at probe of " + dev.name);
    auto r = d.pt.map(pfn * kPage, pa, pages * kPage, kPermRead | kPermWrite);
    if (!r.ok) throw std::logic_error("coherent mapping overlaps");
    coherent_ptes += r.ptes_written;
    return pfn * kPage;
}

} // namespace iosim
