// IoPageTable: 4 KiB and 2 MiB leaves, walk geometry, whole-leaf unmap, refusal to remap.
#include "models/iommu/io_page_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

using namespace iosim;

namespace {

constexpr std::uint8_t kRW = kPermRead | kPermWrite;
constexpr std::uint64_t k4K = 1ull << 12, k2M = 1ull << 21;

// Table pages from a bump allocator that never reuses an address, so a wrong free shows.
struct Pages {
    std::uint64_t next = 0x1000000000;
    std::set<std::uint64_t> live, freed;
    IoPageTable::PageAlloc alloc() {
        return [this] {
            next += k4K;
            live.insert(next);
            return next;
        };
    }
    IoPageTable::PageFree free() {
        return [this](std::uint64_t p) {
            EXPECT_EQ(live.erase(p), 1u) << std::hex << p;
            freed.insert(p);
        };
    }
};

struct IoPageTableTest : ::testing::Test {
    Pages pages;
    std::unique_ptr<IoPageTable> pt = std::make_unique<IoPageTable>(pages.alloc(), pages.free());
};

unsigned index_bits(std::uint64_t iova, unsigned depth) { // depth 0 = level 4
    return static_cast<unsigned>((iova >> (39 - 9 * depth)) & 511);
}

} // namespace

TEST_F(IoPageTableTest, Map4kWalksFourLevelsThroughDistinctTables) {
    const std::uint64_t iova = 0x7f12345000ull, phys = 0x800007000ull;
    const auto r = pt->map(iova, phys, k4K, kRW);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.ptes_written, 1u);
    EXPECT_EQ(r.tables_allocated, 3u);
    EXPECT_EQ(pt->table_count(), 4u);
    EXPECT_EQ(pages.live.size(), 4u);

    const auto w = pt->walk(iova + 0x123);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.levels_read, 4u);
    EXPECT_EQ(w.page_shift, 12);
    EXPECT_EQ(w.phys, phys + 0x123);
    EXPECT_EQ(w.perm, kRW);
    EXPECT_EQ(w.table_phys[0], pt->root_phys());
    std::set<std::uint64_t> tables;
    for (unsigned d = 0; d < 4; ++d) {
        EXPECT_TRUE(pages.live.count(w.table_phys[d])) << d;
        tables.insert(w.table_phys[d]);
        ASSERT_GE(w.entry_addr[d], w.table_phys[d]);
        ASSERT_LT(w.entry_addr[d], w.table_phys[d] + k4K);
        EXPECT_EQ((w.entry_addr[d] - w.table_phys[d]) / 8, index_bits(iova, d)) << d;
        EXPECT_EQ(w.entry_addr[d] % 8, 0u);
    }
    EXPECT_EQ(tables.size(), 4u);
    // Directory entries point at the next table (AMD v1 address field, bits 51:12).
    for (unsigned d = 0; d < 3; ++d)
        EXPECT_EQ(w.entry[d] & 0x000ffffffffff000ull, w.table_phys[d + 1]) << d;
    EXPECT_EQ(w.entry[3] & 0x000ffffffffff000ull, phys);
    EXPECT_EQ(pt->mapped_bytes(), k4K);
    EXPECT_EQ(pt->leaf_count(), 1u);
}

TEST_F(IoPageTableTest, Map2mUsesLargeLeafAndThreeLevelWalk) {
    const std::uint64_t iova = 0x40000000, phys = 0x200000000;
    const auto r = pt->map(iova, phys, 2 * k2M, kRW);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.ptes_written, 2u);
    EXPECT_EQ(r.tables_allocated, 2u);
    const auto w = pt->walk(iova + k2M + 0x54321);
    ASSERT_TRUE(w.present);
    EXPECT_EQ(w.levels_read, 3u);
    EXPECT_EQ(w.page_shift, 21);
    EXPECT_EQ(w.phys, phys + k2M + 0x54321);
    EXPECT_EQ((w.entry_addr[2] - w.table_phys[2]) / 8, index_bits(iova + k2M, 2));
    EXPECT_EQ(pt->iova_to_phys(iova + 0x1fffff), phys + 0x1fffff);
    EXPECT_EQ(pt->mapped_bytes(), 2 * k2M);
}

TEST_F(IoPageTableTest, LargeLeafNeedsBothAddressesAligned) {
    auto r = pt->map(0x40000000, 0x200001000, k2M, kRW); // phys only 4 KiB aligned
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.ptes_written, 512u);
    EXPECT_EQ(pt->walk(0x40000000).page_shift, 12);

    r = pt->map(0x80000000, 0x400000000, k2M, kRW, /*allow_2m=*/false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.ptes_written, 512u);
    EXPECT_EQ(pt->walk(0x80000000).levels_read, 4u);
}

TEST_F(IoPageTableTest, MixedSizesFollowAlignment) {
    // Congruent mod 2 MiB: two 4 KiB pages, one 2 MiB leaf, two 4 KiB pages.
    const std::uint64_t iova = 0x1fe000, phys = 0x3fe000, size = 2 * k4K + k2M + 2 * k4K;
    const auto r = pt->map(iova, phys, size, kRW);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.ptes_written, 5u);
    EXPECT_EQ(pt->leaf_count(), 5u);
    EXPECT_EQ(pt->mapped_bytes(), size);
    EXPECT_EQ(pt->walk(0x1ff000).page_shift, 12);
    EXPECT_EQ(pt->walk(0x300000).page_shift, 21);
    EXPECT_EQ(pt->walk(0x401000).page_shift, 12);
    for (std::uint64_t a = iova; a < iova + size; a += k4K)
        EXPECT_EQ(pt->iova_to_phys(a), a + 0x200000);
    EXPECT_FALSE(pt->iova_to_phys(iova + size).has_value());
    EXPECT_FALSE(pt->iova_to_phys(iova - k4K).has_value());
}

TEST_F(IoPageTableTest, Unmap4kLeavesNeighbours) {
    ASSERT_TRUE(pt->map(0x100000, 0x900000, 4 * k4K, kRW).ok);
    const auto u = pt->unmap(0x101000, k4K);
    EXPECT_EQ(u.bytes_unmapped, k4K);
    EXPECT_EQ(u.ptes_cleared, 1u);
    EXPECT_TRUE(pt->iova_to_phys(0x100000).has_value());
    EXPECT_FALSE(pt->iova_to_phys(0x101000).has_value());
    EXPECT_TRUE(pt->iova_to_phys(0x102000).has_value());
    EXPECT_EQ(pt->leaf_count(), 3u);
    EXPECT_EQ(pt->mapped_bytes(), 3 * k4K);
}

TEST_F(IoPageTableTest, Unmap4kInsideLargeLeafRemovesWholeLeaf) {
    ASSERT_TRUE(pt->map(0x40000000, 0x200000000, k2M, kRW).ok);
    const unsigned tables = pt->table_count();
    const auto u = pt->unmap(0x40005000, k4K);
    EXPECT_EQ(u.bytes_unmapped, k2M);
    EXPECT_EQ(u.ptes_cleared, 1u);
    EXPECT_FALSE(pt->walk(0x40000000).present);
    EXPECT_FALSE(pt->walk(0x401ff000).present);
    EXPECT_EQ(pt->mapped_bytes(), 0u);
    EXPECT_EQ(pt->leaf_count(), 0u);
    EXPECT_EQ(pt->table_count(), tables); // tables stay until the domain is freed
    EXPECT_TRUE(pages.freed.empty());
}

TEST_F(IoPageTableTest, UnmapStopsAtMissingDirectory) {
    ASSERT_TRUE(pt->map(0x0, 0x900000, k4K, kRW).ok);
    // Page 0 is mapped, the rest of its 2 MiB shares the level-1 table, the next 2 MiB has no
    // table: the kernel counts the empty slots of a present table and stops at the hole.
    const auto u = pt->unmap(0x0, 4 * k2M);
    EXPECT_EQ(u.bytes_unmapped, k2M);
    EXPECT_EQ(u.ptes_cleared, 1u);
    EXPECT_EQ(pt->unmap(0x80000000, k4K).bytes_unmapped, 0u);
}

TEST_F(IoPageTableTest, DoubleMapFailsAndChangesNothing) {
    ASSERT_TRUE(pt->map(0x40100000, 0x500000, k4K, kRW).ok);
    const unsigned tables = pt->table_count();
    EXPECT_FALSE(pt->map(0x40100000, 0x600000, k4K, kRW).ok);
    // A 2 MiB request covering the mapped page fails before writing its first pages.
    const auto r = pt->map(0x40000000, 0x800000, k2M, kRW, false);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.ptes_written, 0u);
    EXPECT_FALSE(pt->iova_to_phys(0x40000000).has_value());
    EXPECT_FALSE(pt->map(0x40000000, 0x800000, k2M, kRW).ok);
    EXPECT_EQ(pt->leaf_count(), 1u);
    EXPECT_EQ(pt->table_count(), tables);
    EXPECT_EQ(pt->iova_to_phys(0x40100000), 0x500000u);

    // And a 4 KiB request inside a 2 MiB leaf.
    ASSERT_TRUE(pt->map(0x80000000, 0x1000000, k2M, kRW).ok);
    EXPECT_FALSE(pt->map(0x80003000, 0x2000000, k4K, kRW).ok);
    EXPECT_EQ(pt->iova_to_phys(0x80003000), 0x1003000u);
}

TEST_F(IoPageTableTest, RejectsNoPermissionAndOutOfRange) {
    EXPECT_FALSE(pt->map(0x1000, 0x1000, k4K, 0).ok);
    EXPECT_FALSE(pt->map(IoPageTable::kVaLimit - k4K, 0x1000, 2 * k4K, kRW).ok);
    EXPECT_EQ(pt->leaf_count(), 0u);
    ASSERT_TRUE(pt->map(IoPageTable::kVaLimit - k4K, 0x1000, k4K, kPermRead).ok);
    const auto w = pt->walk(IoPageTable::kVaLimit - k4K);
    EXPECT_TRUE(w.present);
    EXPECT_EQ(w.perm, kPermRead);
    EXPECT_EQ(pt->walk(IoPageTable::kVaLimit).levels_read, 0u);
    EXPECT_FALSE(pt->iova_to_phys(IoPageTable::kVaLimit + 0x1000).has_value());
}

TEST_F(IoPageTableTest, WalkStopsAtFirstMissingEntry) {
    EXPECT_EQ(pt->walk(0x1000).levels_read, 1u);
    ASSERT_TRUE(pt->map(0x40000000, 0x1000, k4K, kRW).ok);
    EXPECT_EQ(pt->walk(0x40001000).levels_read, 4u); // same level-1 table, empty slot
    EXPECT_FALSE(pt->walk(0x40001000).present);
    EXPECT_EQ(pt->walk(0x40200000).levels_read, 3u); // same level-2 table, no level-1 table
    EXPECT_EQ(pt->walk(0x80000000).levels_read, 2u); // same level-3 table
    EXPECT_EQ(pt->walk(0x8000000000).levels_read, 1u);
}

TEST_F(IoPageTableTest, LargeLeafReplacesEmptiedTable) {
    ASSERT_TRUE(pt->map(0x40000000, 0x1000, k4K, kRW).ok);
    const std::uint64_t l1 = pt->walk(0x40000000).table_phys[3];
    ASSERT_EQ(pt->unmap(0x40000000, k4K).bytes_unmapped, k4K);
    const auto r = pt->map(0x40000000, 0x200000000, k2M, kRW);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.tables_freed, 1u);
    EXPECT_EQ(r.tables_allocated, 0u);
    EXPECT_TRUE(pages.freed.count(l1));
    EXPECT_EQ(pt->table_count(), 3u);
    EXPECT_EQ(pt->walk(0x40000000).levels_read, 3u);
}

TEST_F(IoPageTableTest, DestructorFreesEveryTable) {
    ASSERT_TRUE(pt->map(0x0, 0x0, 8 * k2M + 16 * k4K, kRW).ok);
    ASSERT_TRUE(pt->map(0x7000000000, 0x0, k4K, kRW).ok);
    const std::size_t n = pages.live.size();
    EXPECT_EQ(n, pt->table_count());
    pt.reset();
    EXPECT_TRUE(pages.live.empty());
    EXPECT_EQ(pages.freed.size(), n);
}
