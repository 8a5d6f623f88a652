// Sparse byte store for physical memory, allocated a 4 KiB page at a time on first write. Reads
// of untouched memory return zeros. Switched off (platform.memory.backing_store: false) for speed:
// then DMA moves no data, only time.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace iosim {

class BackingStore {
public:
    static constexpr std::uint64_t kPage = 4096;

    void write(std::uint64_t addr, const std::uint8_t* src, std::uint64_t len) {
        while (len) {
            std::uint64_t off = addr % kPage;
            std::uint64_t n = std::min(len, kPage - off);
            std::memcpy(page(addr / kPage) + off, src, n);
            addr += n;
            src += n;
            len -= n;
        }
    }
    void read(std::uint64_t addr, std::uint8_t* dst, std::uint64_t len) const {
        while (len) {
            std::uint64_t off = addr % kPage;
            std::uint64_t n = std::min(len, kPage - off);
            auto it = pages_.find(addr / kPage);
            if (it == pages_.end()) {
                std::memset(dst, 0, n);
            } else {
                std::memcpy(dst, it->second.get() + off, n);
            }
            addr += n;
            dst += n;
            len -= n;
        }
    }
    std::size_t pages() const { return pages_.size(); }

private:
    std::uint8_t* page(std::uint64_t pfn) {
        auto& p = pages_[pfn];
        if (!p) {
            p = std::make_unique<std::uint8_t[]>(kPage);
            std::memset(p.get(), 0, kPage);
        }
        return p.get();
    }
    std::unordered_map<std::uint64_t, std::unique_ptr<std::uint8_t[]>> pages_;
};

} // namespace iosim
