// I/O page table of one IOMMU domain: a real 4-level radix tree of 4 KiB tables, 512 x 8-byte
// entries each, in the AMD-Vi v1 entry format (drivers/iommu/amd/io_pgtable.c,
// amd_iommu_types.h). Levels: 4 = root (IOVA bits 47:39), 3 (38:30), 2 (29:21, may hold a 2 MiB
// leaf), 1 (20:12, 4 KiB leaves).
//
// The entries live in C++ arrays, not in simulated memory; each table records the physical address
// it was given so a timed walker can issue its reads at the right addresses.
//
// Differences from the kernel: AMD v1 starts in PAGE_MODE_3_LEVEL and adds a level on demand
// (increase_address_space); this table always has 4 levels. Only 4 KiB and 2 MiB leaves (no
// replicated "level 7" sizes). Mapping over a present leaf is refused instead of overwritten.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace iosim {

// Permission bits of a leaf (IOMMU_PROT_IR / IOMMU_PROT_IW), shared with the IOTLB.
inline constexpr std::uint8_t kPermRead = 1;
inline constexpr std::uint8_t kPermWrite = 2;

class IoPageTable {
public:
    using PageAlloc = std::function<std::uint64_t()>; // a 4 KiB-aligned physical address
    using PageFree = std::function<void(std::uint64_t)>;

    static constexpr unsigned kLevels = 4;
    static constexpr std::uint64_t kVaLimit = std::uint64_t{1} << 48; // PM_LEVEL_SIZE(4) + 1

    // Allocates the root table at once (v1_alloc_pgtable).
    IoPageTable(PageAlloc alloc, PageFree free);
    // Hands every table, root last, to `free` (free_pagetable at domain free).
    ~IoPageTable();
    IoPageTable(const IoPageTable&) = delete;
    IoPageTable& operator=(const IoPageTable&) = delete;

    std::uint64_t root_phys() const;

    struct MapResult {
        bool ok;
        unsigned ptes_written;
        unsigned tables_allocated;
        // Empty level-1 tables replaced by a 2 MiB leaf (free_clear_pte). Non-zero means
        // iommu_v1_map_pages set `updated` and flushes the domain before freeing them.
        unsigned tables_freed;
    };
    // iommu_map -> iommu_pgsize + iommu_v1_map_pages. iova/phys/size 4 KiB aligned. A 2 MiB leaf
    // is used wherever iova and phys are both 2 MiB aligned and >= 2 MiB remain. Fails with
    // nothing changed (ok = false) if any page of the range is already mapped, if perm grants
    // nothing (-EINVAL), or if the range leaves the 48-bit space.
    MapResult map(std::uint64_t iova, std::uint64_t phys, std::uint64_t size, std::uint8_t perm,
                  bool allow_2m = true);

    struct UnmapResult {
        std::uint64_t bytes_unmapped; // may exceed size: a 2 MiB leaf goes whole
        unsigned ptes_cleared;        // present leaves cleared
    };
    // iommu_v1_unmap_pages: clears the whole leaf fetch_pte finds for each step. Like the kernel it
    // stops early at a non-present directory entry and counts an empty 4 KiB slot of a present
    // table as unmapped. Tables are kept (AMD v1 frees them only when the domain is freed).
    UnmapResult unmap(std::uint64_t iova, std::uint64_t size);

    struct Walk {
        bool present;
        std::uint64_t phys; // translation of `iova` itself (leaf base | offset)
        std::uint8_t page_shift;
        std::uint8_t perm;
        unsigned levels_read;              // entries read until a leaf or a non-present entry
        std::uint64_t entry_addr[kLevels]; // [0] = entry of the root (level 4)
        std::uint64_t table_phys[kLevels]; // table read at each depth
        std::uint64_t entry[kLevels];      // raw AMD v1 value read at each depth
    };
    // What the hardware walker reads for `iova`, depth by depth.
    Walk walk(std::uint64_t iova) const;
    // iommu_iova_to_phys -> fetch_pte.
    std::optional<std::uint64_t> iova_to_phys(std::uint64_t iova) const;

    std::uint64_t mapped_bytes() const { return mapped_bytes_; }
    unsigned leaf_count() const { return leaf_count_; }
    unsigned table_count() const { return table_count_; } // including the root

private:
    struct Table;
    void free_tree(Table* t);

    PageAlloc alloc_;
    PageFree free_;
    std::unique_ptr<Table> root_;
    std::uint64_t mapped_bytes_ = 0;
    unsigned leaf_count_ = 0;
    unsigned table_count_ = 0;
};

} // namespace iosim
