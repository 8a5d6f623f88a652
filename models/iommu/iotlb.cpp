#include "models/iommu/iotlb.h"

#include <cassert>

namespace iosim {

Iotlb::Iotlb(const IotlbParams& p) : cache_(p.entries, p.ways, p.policy, p.seed) {}

const Translation* Iotlb::lookup(std::uint16_t domain, std::uint64_t iova) {
    ++lookups;
    const Translation* t = cache_.lookup(domain, tag(iova, 12));
    if (!t) t = cache_.lookup(domain, tag(iova, 21));
    if (t) {
        ++hits;
    } else {
        ++misses;
    }
    return t;
}

void Iotlb::insert(std::uint16_t domain, std::uint64_t iova, const Translation& t) {
    assert(t.page_shift == 12 || t.page_shift == 21);
    assert((t.phys_base & ((1ull << t.page_shift) - 1)) == 0);
    const std::uint64_t before = cache_.evictions();
    had_large_ |= t.page_shift != 12;
    cache_.insert(domain, tag(iova, t.page_shift), t);
    evictions += cache_.evictions() - before;
}

unsigned Iotlb::invalidate_range(std::uint16_t domain, std::uint64_t iova, std::uint64_t size) {
    if (size == 0) return 0;
    // Inclusive last byte, saturated: the all-pages encoding (0x7ffffffffffff000 plus S) may be
    // passed through as a huge size.
    const std::uint64_t last = (size - 1 > ~0ull - iova) ? ~0ull : iova + size - 1;
    // A short range (a strict unmap: usually one page) probes the sets of the 4 KiB and 2 MiB
    // tags it covers; a long one scans every line, as a 2 MiB entry or the range spans many sets.
    if (last - iova < kProbeLimit * 4096) {
        unsigned n = 0;
        for (std::uint64_t p = iova >> 12; p <= last >> 12; ++p)
            n += cache_.erase(domain, tag(p << 12, 12));
        for (std::uint64_t p = iova >> 21; p <= last >> 21; ++p)
            n += cache_.erase(domain, tag(p << 21, 21));
        invalidated += n;
        return n;
    }
    const unsigned n = cache_.invalidate_if(
        [domain, iova, last](std::uint16_t d, std::uint64_t tg, const Translation& t) {
            if (d != domain) return false;
            const std::uint64_t base = (tg & ~kLargeTag) << t.page_shift;
            const std::uint64_t page_last = base + ((1ull << t.page_shift) - 1);
            return base <= last && page_last >= iova;
        });
    invalidated += n;
    return n;
}

unsigned Iotlb::mark_stale(std::uint16_t domain, std::uint64_t iova, std::uint64_t size) {
    if (size == 0) return 0;
    const std::uint64_t last = (size - 1 > ~0ull - iova) ? ~0ull : iova + size - 1;
    unsigned n = 0;
    if (last - iova < kProbeLimit * 4096) {
        for (std::uint64_t p = iova >> 12; p <= last >> 12; ++p)
            if (Translation* t = cache_.peek_mut(domain, tag(p << 12, 12))) {
                t->stale = true;
                ++n;
            }
        for (std::uint64_t p = iova >> 21; had_large_ && p <= last >> 21; ++p)
            if (Translation* t = cache_.peek_mut(domain, tag(p << 21, 21))) {
                t->stale = true;
                ++n;
            }
        return n;
    }
    cache_.for_each_valid([&](std::uint16_t d, std::uint64_t tg, Translation& t) {
        if (d != domain) return;
        const std::uint64_t base = (tg & ~kLargeTag) << t.page_shift;
        const std::uint64_t page_last = base + ((1ull << t.page_shift) - 1);
        if (base <= last && page_last >= iova) {
            t.stale = true;
            ++n;
        }
    });
    return n;
}

unsigned Iotlb::invalidate_domain(std::uint16_t domain) {
    const unsigned n = cache_.invalidate_domain(domain);
    invalidated += n;
    return n;
}

unsigned Iotlb::invalidate_all() {
    const unsigned n = cache_.invalidate_all();
    invalidated += n;
    return n;
}

} // namespace iosim
