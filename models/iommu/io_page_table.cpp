#include "models/iommu/io_page_table.h"

#include <array>
#include <cassert>
#include <utility>

namespace iosim {

namespace {

// AMD v1 entry bits (amd_iommu_types.h).
constexpr std::uint64_t kPtePr = 1ull << 0;                // IOMMU_PTE_PR
constexpr unsigned kNextLevelShift = 9;                    // PM_LEVEL_ENC: bits 11:9
constexpr std::uint64_t kPteFc = 1ull << 60;               // IOMMU_PTE_FC, set on every leaf
constexpr std::uint64_t kPteIr = 1ull << 61;               // IOMMU_PTE_IR
constexpr std::uint64_t kPteIw = 1ull << 62;               // IOMMU_PTE_IW
constexpr std::uint64_t kAddrMask = 0x000ffffffffff000ull; // bits 51:12

constexpr std::uint64_t k4K = 1ull << 12;
constexpr std::uint64_t k2M = 1ull << 21;

constexpr unsigned level_shift(unsigned level) {
    return 12 + 9 * (level - 1);
}
constexpr std::uint64_t level_size(unsigned level) {
    return 1ull << level_shift(level);
}
constexpr unsigned level_index(std::uint64_t iova, unsigned level) {
    return static_cast<unsigned>((iova >> level_shift(level)) & 511);
}
// PM_PTE_LEVEL: 0 on a leaf, else the level of the table pointed to.
constexpr unsigned next_level(std::uint64_t e) {
    return (e >> kNextLevelShift) & 7;
}

std::uint64_t leaf_pte(std::uint64_t phys, std::uint8_t perm) {
    std::uint64_t e = phys | kPtePr | kPteFc; // iommu_v1_map_pages
    if (perm & kPermRead) e |= kPteIr;
    if (perm & kPermWrite) e |= kPteIw;
    return e;
}

} // namespace

struct IoPageTable::Table {
    explicit Table(std::uint64_t p) : phys(p) {}
    std::uint64_t phys;
    std::array<std::uint64_t, 512> pte{};
    std::array<std::unique_ptr<Table>, 512> child{}; // set exactly where pte is a directory
};

IoPageTable::IoPageTable(PageAlloc alloc, PageFree free)
    : alloc_(std::move(alloc)), free_(std::move(free)) {
    const std::uint64_t p = alloc_();
    assert((p & (k4K - 1)) == 0);
    root_ = std::make_unique<Table>(p);
    table_count_ = 1;
}

IoPageTable::~IoPageTable() {
    free_tree(root_.get());
}

void IoPageTable::free_tree(Table* t) {
    for (auto& c : t->child)
        if (c) free_tree(c.get());
    if (free_) free_(t->phys);
    --table_count_;
}

std::uint64_t IoPageTable::root_phys() const {
    return root_->phys;
}

IoPageTable::MapResult IoPageTable::map(std::uint64_t iova, std::uint64_t phys, std::uint64_t size,
                                        std::uint8_t perm, bool allow_2m) {
    assert(((iova | phys | size) & (k4K - 1)) == 0);
    MapResult r{false, 0, 0, 0};
    if (!(perm & (kPermRead | kPermWrite)) || size == 0 || iova >= kVaLimit ||
        size > kVaLimit - iova)
        return r;
    const std::uint64_t end = iova + size;

    // Pass 1: refuse before changing anything. A non-present directory entry proves its whole
    // span empty, so the check costs one walk per populated leaf, not per page.
    for (std::uint64_t a = iova; a < end;) {
        const Table* t = root_.get();
        for (unsigned level = kLevels;; --level) {
            const unsigned i = level_index(a, level);
            const std::uint64_t e = t->pte[i];
            if (!(e & kPtePr)) {
                a = (a & ~(level_size(level) - 1)) + level_size(level);
                break;
            }
            if (next_level(e) == 0) return r; // present leaf
            t = t->child[i].get();
        }
    }

    // Pass 2: iommu_pgsize picks the page size per step, alloc_pte fills in missing tables.
    for (std::uint64_t a = iova, p = phys; a < end;) {
        const bool big = allow_2m && ((a | p) & (k2M - 1)) == 0 && end - a >= k2M;
        const unsigned target = big ? 2 : 1;
        Table* t = root_.get();
        for (unsigned level = kLevels; level > target; --level) {
            const unsigned i = level_index(a, level);
            if (!(t->pte[i] & kPtePr)) {
                const std::uint64_t tp = alloc_();
                assert((tp & (k4K - 1)) == 0);
                t->child[i] = std::make_unique<Table>(tp);
                // PM_LEVEL_PDE: directories carry IR|IW; the leaf decides the permission.
                t->pte[i] =
                    tp | (std::uint64_t{level - 1} << kNextLevelShift) | kPtePr | kPteIr | kPteIw;
                ++r.tables_allocated;
                ++table_count_;
            }
            t = t->child[i].get();
        }
        const unsigned i = level_index(a, target);
        if (t->child[i]) { // a level-1 table emptied by earlier unmaps: free_clear_pte
            free_tree(t->child[i].get());
            t->child[i].reset();
            ++r.tables_freed;
        }
        const std::uint64_t pg = level_size(target);
        t->pte[i] = leaf_pte(p, perm);
        ++r.ptes_written;
        ++leaf_count_;
        mapped_bytes_ += pg;
        a += pg;
        p += pg;
    }
    r.ok = true;
    return r;
}

IoPageTable::UnmapResult IoPageTable::unmap(std::uint64_t iova, std::uint64_t size) {
    UnmapResult r{0, 0};
    std::uint64_t a = iova;
    while (r.bytes_unmapped < size && a < kVaLimit) {
        // fetch_pte: directories must be present; the level-1 entry is returned as it is.
        Table* t = root_.get();
        unsigned level = kLevels;
        unsigned i = 0;
        for (;; --level) {
            i = level_index(a, level);
            const std::uint64_t e = t->pte[i];
            if (level == 1) break;
            if (!(e & kPtePr)) return r;
            if (next_level(e) == 0) break; // large leaf
            t = t->child[i].get();
        }
        const std::uint64_t pg = level_size(level);
        if (t->pte[i] & kPtePr) {
            t->pte[i] = 0;
            ++r.ptes_cleared;
            --leaf_count_;
            mapped_bytes_ -= pg;
        }
        a = (a & ~(pg - 1)) + pg;
        r.bytes_unmapped += pg;
    }
    return r;
}

IoPageTable::Walk IoPageTable::walk(std::uint64_t iova) const {
    Walk w{};
    if (iova >= kVaLimit) return w; // fetch_pte: address > PM_LEVEL_SIZE(mode)
    const Table* t = root_.get();
    for (unsigned d = 0; d < kLevels; ++d) {
        const unsigned level = kLevels - d;
        const unsigned i = level_index(iova, level);
        const std::uint64_t e = t->pte[i];
        w.table_phys[d] = t->phys;
        w.entry_addr[d] = t->phys + 8ull * i;
        w.entry[d] = e;
        ++w.levels_read;
        if (!(e & kPtePr)) return w;
        if (next_level(e) == 0) {
            const std::uint64_t mask = level_size(level) - 1;
            w.present = true;
            w.page_shift = static_cast<std::uint8_t>(level_shift(level));
            w.phys = (e & kAddrMask & ~mask) | (iova & mask);
            w.perm = static_cast<std::uint8_t>(((e & kPteIr) ? kPermRead : 0) |
                                               ((e & kPteIw) ? kPermWrite : 0));
            return w;
        }
        t = t->child[i].get();
    }
    assert(false && "level-1 entries are always leaves");
    return w;
}

std::optional<std::uint64_t> IoPageTable::iova_to_phys(std::uint64_t iova) const {
    const Walk w = walk(iova);
    if (!w.present) return std::nullopt;
    return w.phys;
}

} // namespace iosim
