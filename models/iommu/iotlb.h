// IOTLB: caches page-table leaves (4 KiB or 2 MiB) per domain, on a set-associative array.
// Invalidation mirrors AMD's INVALIDATE_IOMMU_PAGES (a domain and an address range, PDE flush
// left to the walk caches) and the all-pages encoding (invalidate_domain).
#pragma once
#include "models/iommu/io_page_table.h" // kPermRead, kPermWrite
#include "models/iommu/set_assoc_cache.h"

#include <cstdint>

namespace iosim {

struct IotlbParams {
    unsigned entries = 256;
    unsigned ways = 8;
    CachePolicy policy = CachePolicy::Lru;
    std::uint64_t seed = 1;
};

struct Translation {
    std::uint64_t phys_base; // page-aligned base of the leaf
    std::uint8_t page_shift; // 12 or 21
    std::uint8_t perm;       // kPermRead | kPermWrite
    // Not hardware state: set when the kernel cleared the PTE this entry caches (the entry is
    // stale until an invalidation drops it). Counted by the safety statistics on a hit.
    bool stale = false;
};

class Iotlb {
public:
    explicit Iotlb(const IotlbParams& p = {});

    // Probes the 4 KiB tag, then the 2 MiB tag; one lookup either way.
    const Translation* lookup(std::uint16_t domain, std::uint64_t iova);
    void insert(std::uint16_t domain, std::uint64_t iova, const Translation& t);
    // Drops every entry of `domain` whose page overlaps [iova, iova + size).
    unsigned invalidate_range(std::uint16_t domain, std::uint64_t iova, std::uint64_t size);
    unsigned invalidate_domain(std::uint16_t domain);
    // The kernel cleared the PTEs of [iova, iova + size): marks the cached entries overlapping it
    // stale (no replacement-state change, no counter). Returns how many were marked.
    unsigned mark_stale(std::uint16_t domain, std::uint64_t iova, std::uint64_t size);
    unsigned invalidate_all();
    unsigned occupancy() const { return cache_.occupancy(); }

    const SetAssocCache<Translation>& cache() const { return cache_; }
    // Cache tag of the page holding `iova`; the 2 MiB tags carry bit 63 so the two sizes never
    // alias (a 4 KiB tag is at most 52 bits).
    static std::uint64_t tag(std::uint64_t iova, unsigned page_shift) {
        return (iova >> page_shift) | (page_shift == 12 ? 0 : kLargeTag);
    }

    std::uint64_t lookups = 0, hits = 0, misses = 0, evictions = 0, invalidated = 0;

private:
    static constexpr std::uint64_t kLargeTag = 1ull << 63;
    // Ranges up to this many 4 KiB pages are invalidated by probing their sets, not by a scan.
    static constexpr std::uint64_t kProbeLimit = 16;
    SetAssocCache<Translation> cache_;
    bool had_large_ = false; // a 2 MiB entry was cached once (mark_stale probes its tags)
};

} // namespace iosim
