// The host's physical page allocator (the buddy allocator, reduced to what DMA needs): 4 KiB pages
// and physically contiguous runs from a region of DRAM. Single pages come from a free list that is
// shuffled deterministically, so consecutive allocations are not physically adjacent, as user
// memory after boot is not: that is what makes one O_DIRECT buffer several DMA segments.
#pragma once
#include "models/common/rng.h"

#include <cassert>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace iosim {

class PageAllocator {
public:
    static constexpr std::uint64_t kPage = 4096;

    // Pages in [base, base+size). `scatter_pool` pages are pre-shuffled for alloc_page().
    PageAllocator(std::uint64_t base, std::uint64_t size, std::uint64_t seed,
                  std::uint64_t scatter_pool = 1 << 16)
        : next_(base), end_(base + size) {
        Rng rng(seed, "page_allocator");
        std::uint64_t n = std::min<std::uint64_t>(scatter_pool, size / kPage / 2);
        free_.reserve(n);
        for (std::uint64_t i = 0; i < n; ++i)
            free_.push_back(next_ + i * kPage);
        next_ += n * kPage;
        for (std::uint64_t i = n; i > 1; --i)
            std::swap(free_[i - 1], free_[rng.below(i)]);
    }

    std::uint64_t alloc_page() {
        if (!free_.empty()) {
            std::uint64_t p = free_.back();
            free_.pop_back();
            ++allocated_;
            return p;
        }
        return alloc_contiguous(1);
    }
    // `pages` physically contiguous pages aligned to `align` bytes.
    std::uint64_t alloc_contiguous(std::uint64_t pages, std::uint64_t align = kPage) {
        std::uint64_t p = (next_ + align - 1) / align * align;
        if (p + pages * kPage > end_) throw std::runtime_error("host memory exhausted");
        next_ = p + pages * kPage;
        allocated_ += pages;
        return p;
    }
    void free_page(std::uint64_t p) {
        assert(p % kPage == 0);
        free_.push_back(p);
        --allocated_;
    }
    std::uint64_t allocated_pages() const { return allocated_; }

private:
    std::uint64_t next_;
    std::uint64_t end_;
    std::uint64_t allocated_ = 0;
    std::vector<std::uint64_t> free_;
};

} // namespace iosim
