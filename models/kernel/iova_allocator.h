// IOVA allocator of one DMA domain: drivers/iommu/iova.c (rbtree of allocated ranges, per-CPU
// rcaches of 127-pfn magazines, the v6.6 fixed depot of MAX_GLOBAL_MAGS full magazines per size
// class) under dma-iommu.c:iommu_dma_alloc_iova (32-bit-first policy). Functional only: every call
// fills an IovaOp naming the path it took, so the timing shell can charge its cost.
//
// Units are pfns of the 4 KiB IOVA granule. One allocator = one iova_domain; its 32-bit workaround
// flag stands for the one device of the domain (the kernel keeps it per device).
// Not modelled: CPU hotplug, magazine allocation failure (the spare pool is sized so it cannot run
// out), the v6.7+ depot list and its 100 ms drain work.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

namespace iosim {

struct IovaParams {
    unsigned cpus = 1;
    unsigned magazine_size = 127; // IOVA_MAG_SIZE
    unsigned depot_max = 32;      // MAX_GLOBAL_MAGS (v6.6)
    std::uint64_t start_pfn = 1;  // init_iova_domain(..., start_pfn = 1)
    bool pci_32bit_workaround = true;
};

// What one alloc() or free() did, for the timing shell. `path` is where the pfn came from or went
// to: a magazine (loaded, prev after a swap, or via the depot) or the rbtree.
struct IovaOp {
    enum Path : std::uint8_t { None, RcacheLoaded, RcachePrev, Depot, Tree, Failed } path;
    unsigned tree_nodes_visited; // rb_prev steps that found a node, over all gap searches
    bool tree_locked;            // iova_rbtree_lock taken (tree path, magazine pfns freed)
    bool retried_full_limit;     // the below-4-GiB try failed and cleared the workaround
    bool flushed_rcaches;        // free_cpu_cached_iovas + free_global_cached_iovas ran
    unsigned depot_pfns_freed;   // pfns handed back to the tree by iova_magazine_free_pfns
};

class IovaAllocator {
public:
    static constexpr std::uint64_t kDma32Pfn = 1ull << (32 - 12);  // iovad->dma_32bit_pfn
    static constexpr std::uint64_t kDma32LimitPfn = kDma32Pfn - 1; // DMA_BIT_MASK(32) >> 12
    static constexpr unsigned kRangeCacheMaxSize = 6;              // IOVA_RANGE_CACHE_MAX_SIZE
    static constexpr std::uint64_t kAnchorPfn = ~0ull;             // IOVA_ANCHOR

    explicit IovaAllocator(const IovaParams& p = {});
    IovaAllocator(const IovaAllocator&) = delete;
    IovaAllocator& operator=(const IovaAllocator&) = delete;

    // reserve_iova: [pfn_lo, pfn_hi] inclusive is never handed out (MSI window 0xfee00-0xfeeff,
    // PCI windows). Call before allocating; overlapping reservations merge.
    void reserve(std::uint64_t pfn_lo, std::uint64_t pfn_hi);

    // iommu_dma_alloc_iova -> alloc_iova_fast. dma_limit_pfn is the highest usable pfn, inclusive
    // (dma_limit >> 12: 0xfffff for a 32-bit mask). Sizes below 32 pages are rounded up to a power
    // of two; every range is aligned to its size's power of two. Returns 0 on failure.
    std::uint64_t alloc(unsigned cpu, std::uint64_t pages, std::uint64_t dma_limit_pfn,
                        IovaOp* op = nullptr);
    // free_iova_fast with the size the caller mapped (not the rounded one), as
    // iommu_dma_free_iova passes it.
    void free(unsigned cpu, std::uint64_t pfn, std::uint64_t pages, IovaOp* op = nullptr);
    // free_cpu_cached_iovas for every CPU, then free_global_cached_iovas.
    void flush_rcaches();

    // Ranges in the rbtree, including those parked in magazines; excluding reservations and the
    // anchor. Invariant: tree_ranges() == outstanding() + cached().
    std::uint64_t tree_ranges() const { return tree_.size() - 1 - reserved_nodes_; }
    std::uint64_t outstanding() const { return outstanding_; } // ranges held by callers
    std::uint64_t cached() const { return cached_; }           // pfns in magazines and depots
    bool pci_32bit_workaround() const { return workaround_; }

    // Per alloc() call: a hit is a pfn served from a magazine.
    std::uint64_t rcache_hits = 0, rcache_misses = 0;
    std::uint64_t tree_allocs = 0, tree_frees = 0; // ranges inserted into / erased from the rbtree
    std::uint64_t depot_pushes = 0, depot_pops = 0;
    // Full magazines whose pfns went back to the tree because the depot was full.
    std::uint64_t depot_overflows = 0;

private:
    struct Node {
        std::uint64_t pfn_hi;
        bool reserved;
    };
    using Tree = std::map<std::uint64_t, Node>; // pfn_lo -> node: the rbtree
    using Iter = Tree::iterator;
    struct Magazine {
        unsigned size;
        std::uint64_t* pfns;
    };
    struct CpuRcache {
        Magazine* loaded;
        Magazine* prev;
    };

    std::uint64_t alloc_iova_fast(unsigned cpu, std::uint64_t size, std::uint64_t limit_pfn,
                                  bool flush_rcache, IovaOp& op);
    std::uint64_t rcache_get(unsigned cpu, std::uint64_t size, std::uint64_t limit_pfn, IovaOp& op);
    bool rcache_insert(unsigned cpu, unsigned log_size, std::uint64_t pfn, IovaOp& op);
    std::uint64_t alloc_and_insert(std::uint64_t size, std::uint64_t limit_pfn, IovaOp& op);
    void remove(Iter it);
    unsigned magazine_free_pfns(Magazine* mag);
    unsigned flush_all();

    CpuRcache& cpu_rcache(unsigned log_size, unsigned cpu) {
        return cpu_rcaches_[static_cast<std::size_t>(log_size) * p_.cpus + cpu];
    }
    bool mag_full(const Magazine* m) const { return m->size == p_.magazine_size; }

    IovaParams p_;
    Tree tree_;
    Iter anchor_, cached_node_, cached32_node_;
    std::uint64_t max32_alloc_size_ = kDma32Pfn;
    bool workaround_;
    std::uint64_t reserved_nodes_ = 0;
    std::uint64_t outstanding_ = 0;
    std::uint64_t cached_ = 0;

    // All magazines exist from construction: 2 per CPU and size class, a full depot per class,
    // and one in flight (the new `loaded` taken before the old one reaches the depot).
    std::vector<std::uint64_t> pfn_store_;
    std::vector<Magazine> mags_;
    std::vector<Magazine*> spare_;       // capacity reserved: push/pop never reallocate
    std::vector<CpuRcache> cpu_rcaches_; // [size class][cpu]
    std::vector<Magazine*> depot_;       // [size class][depot_max]
    std::vector<unsigned> depot_size_;   // [size class]
};

} // namespace iosim
