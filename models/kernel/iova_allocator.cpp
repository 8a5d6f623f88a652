#include "models/kernel/iova_allocator.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace iosim {

namespace {

// fls_long(x): 1-based index of the highest set bit, 0 for 0. order_base_2(n) == fls(n - 1).
unsigned fls64(std::uint64_t x) {
    return x ? 64 - static_cast<unsigned>(__builtin_clzll(x)) : 0;
}
unsigned order_base_2(std::uint64_t n) {
    return fls64(n - 1);
}

// iova_magazine_pop: scan down from the top for a pfn that fits, swap the last one into its slot.
std::uint64_t magazine_pop(std::uint64_t* pfns, unsigned& size, std::uint64_t limit_pfn) {
    int i = static_cast<int>(size) - 1;
    for (; pfns[i] > limit_pfn; --i)
        if (i == 0) return 0;
    const std::uint64_t pfn = pfns[i];
    pfns[i] = pfns[--size];
    return pfn;
}

} // namespace

IovaAllocator::IovaAllocator(const IovaParams& p) : p_(p), workaround_(p.pci_32bit_workaround) {
    assert(p.cpus > 0 && p.magazine_size > 0 && p.start_pfn > 0);
    // init_iova_domain: the anchor at ~0 is both search hints' starting point.
    anchor_ = tree_.emplace(kAnchorPfn, Node{kAnchorPfn, false}).first;
    cached_node_ = cached32_node_ = anchor_;

    const std::size_t n = kRangeCacheMaxSize * (2 * std::size_t{p.cpus} + p.depot_max) + 1;
    pfn_store_.assign(n * p.magazine_size, 0);
    mags_.resize(n);
    spare_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        mags_[i] = Magazine{0, &pfn_store_[i * p.magazine_size]};
        spare_.push_back(&mags_[i]);
    }
    // iova_domain_init_rcaches: every CPU starts with an empty loaded and prev.
    cpu_rcaches_.resize(kRangeCacheMaxSize * std::size_t{p.cpus});
    for (auto& c : cpu_rcaches_) {
        c.loaded = spare_.back();
        spare_.pop_back();
        c.prev = spare_.back();
        spare_.pop_back();
    }
    depot_.assign(kRangeCacheMaxSize * std::size_t{p.depot_max}, nullptr);
    depot_size_.assign(kRangeCacheMaxSize, 0);
}

void IovaAllocator::reserve(std::uint64_t pfn_lo, std::uint64_t pfn_hi) {
    assert(pfn_lo <= pfn_hi && pfn_hi < kAnchorPfn);
    // reserve_iova keeps overlapping reservations merged; here the uncovered gaps become nodes
    // of their own, which covers the same pfns.
    auto add = [this](std::uint64_t lo, std::uint64_t hi) {
        tree_.emplace(lo, Node{hi, true});
        ++reserved_nodes_;
    };
    Iter it = tree_.upper_bound(pfn_lo);
    if (it != tree_.begin() && std::prev(it)->second.pfn_hi >= pfn_lo) --it;
    std::uint64_t cur = pfn_lo;
    for (; it != tree_.end() && it->first <= pfn_hi; ++it) {
        assert(it->second.reserved && "reserve() over an allocated range");
        if (it->first > cur) add(cur, it->first - 1);
        if (it->second.pfn_hi >= pfn_hi) return;
        cur = std::max(cur, it->second.pfn_hi + 1);
    }
    add(cur, pfn_hi);
}

std::uint64_t IovaAllocator::alloc(unsigned cpu, std::uint64_t pages, std::uint64_t dma_limit_pfn,
                                   IovaOp* op) {
    IovaOp scratch;
    IovaOp& o = op ? *op : scratch;
    o = IovaOp{};
    assert(cpu < p_.cpus && pages > 0 && dma_limit_pfn < kAnchorPfn);

    std::uint64_t pfn = 0;
    // iommu_dma_alloc_iova: below 4 GiB first while the workaround holds; the first failure
    // clears it for good ("Using %d-bit DMA addresses") and falls through to the full limit.
    if (dma_limit_pfn > kDma32LimitPfn && workaround_) {
        pfn = alloc_iova_fast(cpu, pages, kDma32LimitPfn, false, o);
        if (!pfn) {
            workaround_ = false;
            o.retried_full_limit = true;
        }
    }
    if (!pfn) pfn = alloc_iova_fast(cpu, pages, dma_limit_pfn, true, o);

    if (o.path == IovaOp::RcacheLoaded || o.path == IovaOp::RcachePrev || o.path == IovaOp::Depot) {
        ++rcache_hits;
    } else {
        ++rcache_misses;
    }
    if (pfn) ++outstanding_;
    return pfn;
}

// alloc_iova_fast. limit_pfn inclusive.
std::uint64_t IovaAllocator::alloc_iova_fast(unsigned cpu, std::uint64_t size,
                                             std::uint64_t limit_pfn, bool flush_rcache,
                                             IovaOp& op) {
    // Cacheable sizes are rounded so a freed range always fits its size class again.
    if (size < (1u << (kRangeCacheMaxSize - 1))) size = std::uint64_t{1} << order_base_2(size);

    if (const std::uint64_t pfn = rcache_get(cpu, size, limit_pfn + 1, op)) return pfn;
    for (;;) {
        // alloc_iova(size_aligned = true) passes limit_pfn + 1 down.
        if (const std::uint64_t pfn = alloc_and_insert(size, limit_pfn + 1, op)) {
            op.path = IovaOp::Tree;
            return pfn;
        }
        if (!flush_rcache) {
            op.path = IovaOp::Failed;
            return 0;
        }
        // Try replenishing IOVAs by flushing the rcaches, then retry once.
        flush_rcache = false;
        op.flushed_rcaches = true;
        op.tree_locked = true;
        op.depot_pfns_freed += flush_all();
    }
}

// iova_rcache_get + __iova_rcache_get. limit_pfn exclusive, as the kernel passes it.
std::uint64_t IovaAllocator::rcache_get(unsigned cpu, std::uint64_t size, std::uint64_t limit_pfn,
                                        IovaOp& op) {
    const unsigned log_size = order_base_2(size);
    if (log_size >= kRangeCacheMaxSize) return 0;
    CpuRcache& c = cpu_rcache(log_size, cpu);
    IovaOp::Path path;
    if (c.loaded->size > 0) {
        path = IovaOp::RcacheLoaded;
    } else if (c.prev->size > 0) {
        std::swap(c.loaded, c.prev);
        path = IovaOp::RcachePrev;
    } else if (depot_size_[log_size] > 0) {
        // The empty loaded magazine is freed and replaced by a full one from the depot.
        spare_.push_back(c.loaded);
        c.loaded = depot_[log_size * std::size_t{p_.depot_max} + --depot_size_[log_size]];
        ++depot_pops;
        path = IovaOp::Depot;
    } else {
        return 0;
    }
    // Only the loaded magazine is searched: if nothing in it fits the limit, the tree is next.
    const std::uint64_t pfn = magazine_pop(c.loaded->pfns, c.loaded->size, limit_pfn - size);
    if (pfn) {
        op.path = path;
        --cached_;
    }
    return pfn;
}

// __alloc_and_insert_iova_range. limit_pfn exclusive. Returns the new pfn_lo or 0.
std::uint64_t IovaAllocator::alloc_and_insert(std::uint64_t size, std::uint64_t limit_pfn,
                                              IovaOp& op) {
    op.tree_locked = true;
    const std::uint64_t align_mask = ~0ull << fls64(size - 1);
    std::uint64_t high_pfn = limit_pfn, low_pfn = p_.start_pfn;

    // max32_alloc_size: an earlier 32-bit search failed for this size and nothing below 4 GiB
    // has been freed since.
    if (limit_pfn <= kDma32Pfn && size >= max32_alloc_size_) return 0;

    Iter curr = limit_pfn <= kDma32Pfn ? cached32_node_ : cached_node_;
    const std::uint64_t retry_pfn = curr->second.pfn_hi;
    bool retried = false;
    Iter prev;
    std::uint64_t new_pfn;
    for (;;) {
        // Walk the tree backwards from the hint: the first gap from the top that fits wins.
        bool has_curr;
        do {
            high_pfn = std::min(high_pfn, curr->first);
            new_pfn = (high_pfn - size) & align_mask;
            prev = curr;
            has_curr = curr != tree_.begin();
            if (has_curr) {
                --curr;
                ++op.tree_nodes_visited;
            }
        } while (has_curr && new_pfn <= curr->second.pfn_hi && new_pfn >= low_pfn);

        if (high_pfn >= size && new_pfn >= low_pfn) break;
        // Nothing below the hint: search once more between the hint and the limit.
        if (!retried && low_pfn == p_.start_pfn && retry_pfn < limit_pfn) {
            retried = true;
            high_pfn = limit_pfn;
            low_pfn = retry_pfn + 1;
            curr =
                limit_pfn > kDma32Pfn ? anchor_ : tree_.lower_bound(limit_pfn); // iova_find_limit
            continue;
        }
        max32_alloc_size_ = size; // recorded whatever the limit, as the kernel does
        return 0;
    }

    // `prev` is the node just above the gap: the exact insertion hint.
    const Iter n = tree_.emplace_hint(prev, new_pfn, Node{new_pfn + size - 1, false});
    // __cached_rbnode_insert_update
    if (n->second.pfn_hi < kDma32Pfn) {
        cached32_node_ = n;
    } else {
        cached_node_ = n;
    }
    ++tree_allocs;
    return new_pfn;
}

// remove_iova: __cached_rbnode_delete_update, then the erase.
void IovaAllocator::remove(Iter it) {
    const std::uint64_t lo = it->first, hi = it->second.pfn_hi;
    const Iter next = std::next(it);
    if (it == cached32_node_ || (hi < kDma32Pfn && lo >= cached32_node_->first))
        cached32_node_ = next;
    if (lo < kDma32Pfn) max32_alloc_size_ = kDma32Pfn;
    if (lo >= cached_node_->first) cached_node_ = next;
    tree_.erase(it);
    ++tree_frees;
}

void IovaAllocator::free(unsigned cpu, std::uint64_t pfn, std::uint64_t pages, IovaOp* op) {
    IovaOp scratch;
    IovaOp& o = op ? *op : scratch;
    o = IovaOp{};
    assert(cpu < p_.cpus && pages > 0 && outstanding_ > 0);
#ifndef NDEBUG
    {
        // A simulator bug, not a user error: the range must be allocated and of this size.
        const auto it = tree_.find(pfn);
        assert(it != tree_.end() && !it->second.reserved);
        const std::uint64_t want = pages < (1u << (kRangeCacheMaxSize - 1))
                                       ? std::uint64_t{1} << order_base_2(pages)
                                       : pages;
        assert(it->second.pfn_hi - it->first + 1 == want);
        (void)want;
    }
#endif
    --outstanding_;
    const unsigned log_size = order_base_2(pages);
    if (log_size < kRangeCacheMaxSize && rcache_insert(cpu, log_size, pfn, o)) return;
    // free_iova
    o.tree_locked = true;
    o.path = IovaOp::Tree;
    const Iter it = tree_.find(pfn);
    if (it != tree_.end()) remove(it);
}

// __iova_rcache_insert.
bool IovaAllocator::rcache_insert(unsigned cpu, unsigned log_size, std::uint64_t pfn, IovaOp& op) {
    CpuRcache& c = cpu_rcache(log_size, cpu);
    Magazine* to_free = nullptr;
    if (!mag_full(c.loaded)) {
        op.path = IovaOp::RcacheLoaded;
    } else if (!mag_full(c.prev)) {
        std::swap(c.loaded, c.prev);
        op.path = IovaOp::RcachePrev;
    } else {
        if (spare_.empty()) return false; // iova_magazine_alloc(GFP_ATOMIC) failed
        Magazine* fresh = spare_.back();
        spare_.pop_back();
        unsigned& n = depot_size_[log_size];
        if (n < p_.depot_max) {
            depot_[log_size * std::size_t{p_.depot_max} + n++] = c.loaded;
            ++depot_pushes;
        } else {
            to_free = c.loaded;
            ++depot_overflows;
        }
        c.loaded = fresh;
        op.path = IovaOp::Depot;
    }
    c.loaded->pfns[c.loaded->size++] = pfn;
    ++cached_;
    if (to_free) {
        // Outside the per-CPU lock, under the rbtree lock: the magazine's ranges leave the cache.
        op.tree_locked = true;
        op.depot_pfns_freed += magazine_free_pfns(to_free);
        spare_.push_back(to_free);
    }
    return true;
}

// iova_magazine_free_pfns: erase every range of the magazine from the tree.
unsigned IovaAllocator::magazine_free_pfns(Magazine* mag) {
    const unsigned n = mag->size;
    for (unsigned i = 0; i < n; ++i) {
        const Iter it = tree_.find(mag->pfns[i]);
        assert(it != tree_.end()); // the kernel WARNs and goes on
        if (it != tree_.end()) remove(it);
    }
    mag->size = 0;
    cached_ -= n;
    return n;
}

unsigned IovaAllocator::flush_all() {
    unsigned n = 0;
    for (unsigned cpu = 0; cpu < p_.cpus; ++cpu) { // free_cpu_cached_iovas, CPU by CPU
        for (unsigned cls = 0; cls < kRangeCacheMaxSize; ++cls) {
            CpuRcache& c = cpu_rcache(cls, cpu);
            n += magazine_free_pfns(c.loaded);
            n += magazine_free_pfns(c.prev);
        }
    }
    for (unsigned cls = 0; cls < kRangeCacheMaxSize; ++cls) { // free_global_cached_iovas
        for (unsigned j = 0; j < depot_size_[cls]; ++j) {
            Magazine* m = depot_[cls * std::size_t{p_.depot_max} + j];
            n += magazine_free_pfns(m);
            spare_.push_back(m);
        }
        depot_size_[cls] = 0;
    }
    return n;
}

void IovaAllocator::flush_rcaches() {
    flush_all();
}

} // namespace iosim
