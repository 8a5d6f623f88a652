// The Linux DMA-mapping API as the kernel runs it per IOMMU mode
// (shared/reference/kernel-dma-paths.md §1-3):
// - off, passthrough: dma-direct. The DMA address is the physical address; map and unmap are
//   pure CPU work (no swiotlb: every buffer here is within the device's DMA mask).
// - strict, lazy: iommu-dma. map = alloc_iova_fast (per-CPU rcache, depot, rbtree under the
//   domain's iova_rbtree_lock) + iommu_map (PTE writes). unmap = iommu_iova_to_phys (for
//   unmap_page) + iommu_unmap_fast (PTE clears), then strict: amd_iommu_iotlb_sync (invalidate +
//   completion wait) and free_iova_fast; lazy: queue_iova on the per-CPU flush queue, freed after
//   the next flush (queue full: synchronous flush in the caller; timer: fq_flush_timeout).
// Every step is a named kernel function charged on the calling core.
#pragma once
#include "models/common/histogram.h"
#include "models/common/resource.h"
#include "models/cpu/cpu.h"
#include "models/iommu/io_page_table.h"
#include "models/iommu/iommu.h"
#include "models/kernel/flush_queue.h"
#include "models/kernel/iommu_driver.h"
#include "models/kernel/iova_allocator.h"
#include "models/memory/page_allocator.h"
#include "models/memory/page_owners.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iosim {

enum class DmaDir : std::uint8_t { ToDevice, FromDevice, Bidirectional };

struct DmaApiParams {
    IommuMode mode = IommuMode::Lazy;
    IovaParams iova;
    unsigned fq_size = 256;
    Time fq_timeout = 10 * kMs;
};

// A translated DMA domain (IOMMU_DOMAIN_DMA or DMA_FQ): page table, IOVA space, flush queue.
struct DmaDomain {
    DmaDomain(std::uint16_t id, PageAllocator& pages, const DmaApiParams& p);
    std::uint16_t id;
    IoPageTable pt;
    IovaAllocator iova;
    FlushQueue fq;
    Resource rbtree_lock; // iova_rbtree_lock
    unsigned fq_timer_core = 0;
};

struct DmaDevice {
    std::string name;
    std::uint16_t requester_id = 0;
    std::uint64_t dma_mask = ~std::uint64_t{0};
    DmaDomain* domain = nullptr; // null under dma-direct
};

struct DmaSeg {
    std::uint64_t addr;
    std::uint64_t len;
};

class DmaApi {
public:
    DmaApi(const DmaApiParams& p, Cpu& cpu, IommuDriver& drv, Iommu* iommu, PageAllocator& pages);

    IommuMode mode() const { return p_.mode; }
    bool translated() const { return p_.mode == IommuMode::Strict || p_.mode == IommuMode::Lazy; }
    // Probe a device: in translated modes it gets its own DMA domain, attached to the IOMMU.
    DmaDevice& add_device(const std::string& name, std::uint16_t requester_id,
                          std::uint64_t dma_mask = ~std::uint64_t{0});

    // dma_map_page_attrs / dma_unmap_page_attrs.
    std::uint64_t map_page(ExecCtx& ctx, DmaDevice& dev, std::uint64_t phys, std::uint64_t len,
                           DmaDir dir);
    void unmap_page(ExecCtx& ctx, DmaDevice& dev, std::uint64_t dma, std::uint64_t len, DmaDir dir);
    // dma_map_sg_attrs: returns the number of DMA segments written to `out` (one in translated
    // modes: the whole list gets one IOVA range; one per entry under dma-direct).
    unsigned map_sg(ExecCtx& ctx, DmaDevice& dev, const DmaSeg* sg, unsigned n, DmaDir dir,
                    DmaSeg* out);
    void unmap_sg(ExecCtx& ctx, DmaDevice& dev, const DmaSeg* dma, unsigned n, DmaDir dir);

    // dma_alloc_coherent at probe time (queues, descriptor rings): untimed, mapped for the
    // device's lifetime. Returns the DMA address; `phys` gets the memory's physical address.
    std::uint64_t alloc_coherent(DmaDevice& dev, std::uint64_t bytes, std::uint64_t* phys);

    const std::vector<std::unique_ptr<DmaDomain>>& domains() const { return domains_; }

    // Safety: keep the live streaming mappings of physical pages (backing store on). Null: off.
    void set_page_owners(PageOwners* o) { owners_ = o; }
    // Safety: per unmapped IOVA range, ns from the PTE clear (iommu_unmap_fast) to the end of the
    // invalidation that makes it unusable, as the kernel sees it: strict, the invalidate-pages
    // and completion wait of iommu_iotlb_sync; lazy, the flush (queue full or timer) that covers
    // the flush-queue entry, up to its completion wait. One sample per translated unmap.
    Histogram lazy_window_ns;

    // Counters for kernel.dma.*, kernel.iova.*, kernel.flush_queue.*.
    std::uint64_t map_calls = 0, unmap_calls = 0, map_sg_calls = 0, unmap_sg_calls = 0;
    std::uint64_t iova_alloc_fast = 0, iova_alloc_slow = 0, iova_alloc_failed = 0;
    std::uint64_t iova_rbtree_lock_spin_ps = 0;
    std::uint64_t fq_flushes = 0, fq_flushes_full = 0, fq_flushes_timer = 0, fq_entries = 0;
    std::uint64_t fq_freed = 0;
    std::uint64_t ptes_mapped = 0, ptes_unmapped = 0;
    std::uint64_t coherent_allocs = 0, coherent_ptes = 0; // probe-time mappings (kept)

private:
    std::uint64_t iommu_map_range(ExecCtx& ctx, DmaDomain& d, const DmaSeg* sg, unsigned n,
                                  std::uint64_t pfn, DmaDir dir);
    void iommu_unmap_range(ExecCtx& ctx, DmaDomain& d, std::uint64_t iova, std::uint64_t size);
    std::uint64_t alloc_iova(ExecCtx& ctx, DmaDevice& dev, std::uint64_t pages);
    void free_iova(ExecCtx& ctx, DmaDomain& d, std::uint64_t pfn, std::uint64_t pages);
    void queue_iova(ExecCtx& ctx, DmaDomain& d, std::uint64_t pfn, std::uint64_t pages,
                    Time unmapped_at);
    void fq_flush_iotlb(ExecCtx& ctx, DmaDomain& d);
    void fq_flush_timeout(ExecCtx& ctx, std::uint64_t domain_index);

    DmaApiParams p_;
    Cpu& cpu_;
    IommuDriver& drv_;
    Iommu* iommu_;
    PageAllocator& pages_;
    std::vector<std::unique_ptr<DmaDomain>> domains_;
    std::vector<std::unique_ptr<DmaDevice>> devices_;
    PageOwners* owners_ = nullptr;
};

} // namespace iosim
