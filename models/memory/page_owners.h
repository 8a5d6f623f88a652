// Which physical pages the kernel has handed to a DMA mapping right now (the safety statistics'
// "reused memory"): per 4 KiB page, the number of live streaming mappings (dma_map_* minus
// dma_unmap_*). Kept only with the backing store on (platform.memory.backing_store): the DMA API
// updates it on every streaming map and unmap, the memory model consults it when a stray write
// (DmaExt::Intent::Stray) lands. A stray write into a page with a live mapping wrote into memory
// the kernel has given to an owner: for a use-after-unmap stray, the next request reusing the
// buffer (fio resubmits an io_u's buffer at once); for a random stray, any in-flight buffer.
#pragma once
#include <cstdint>
#include <unordered_map>

namespace iosim {

class PageOwners {
public:
    static constexpr std::uint64_t kPage = 4096;

    void mapped(std::uint64_t phys, std::uint64_t len) {
        for_pages(phys, len, [this](std::uint64_t pfn) { ++live_[pfn]; });
    }
    void unmapped(std::uint64_t phys, std::uint64_t len) {
        for_pages(phys, len, [this](std::uint64_t pfn) {
            auto it = live_.find(pfn);
            if (it != live_.end() && --it->second == 0) live_.erase(it);
        });
    }
    // Whether any page of [phys, phys + len) is mapped for DMA right now.
    bool owned(std::uint64_t phys, std::uint64_t len) const {
        bool any = false;
        for_pages(phys, len, [&](std::uint64_t pfn) { any = any || live_.count(pfn); });
        return any;
    }
    std::size_t pages() const { return live_.size(); }

private:
    template <class Fn> static void for_pages(std::uint64_t phys, std::uint64_t len, Fn fn) {
        if (len == 0) return;
        for (std::uint64_t p = phys / kPage; p <= (phys + len - 1) / kPage; ++p)
            fn(p);
    }
    std::unordered_map<std::uint64_t, std::uint32_t> live_;
};

} // namespace iosim
