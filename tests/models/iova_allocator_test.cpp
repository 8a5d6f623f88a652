// IovaAllocator: rcache paths (loaded, prev, depot, overflow), the top-down tree search, the
// 32-bit-first policy, alignment, reservations, and a randomized no-overlap check.
#include "models/kernel/iova_allocator.h"

#include "models/common/rng.h"

#include <gtest/gtest.h>

#include <iterator>
#include <map>
#include <vector>

using namespace iosim;

namespace {

constexpr std::uint64_t kLimit32 = IovaAllocator::kDma32LimitPfn; // 0xfffff
constexpr std::uint64_t kLimit48 = (1ull << 36) - 1;              // 48-bit mask >> 12

std::uint64_t pow2ceil(std::uint64_t n) {
    std::uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

void expect_accounted(const IovaAllocator& a) {
    EXPECT_EQ(a.tree_ranges(), a.outstanding() + a.cached());
}

} // namespace

TEST(IovaAllocator, FirstAllocationsComeFromJustBelow4GiBAndGrowDown) {
    IovaAllocator a;
    a.reserve(0xfee00, 0xfeeff); // MSI window
    IovaOp op;
    EXPECT_EQ(a.alloc(0, 1, kLimit48, &op), 0xfffffu);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_TRUE(op.tree_locked);
    EXPECT_FALSE(op.retried_full_limit);
    EXPECT_EQ(a.alloc(0, 1, kLimit48), 0xffffeu);
    EXPECT_EQ(a.alloc(0, 4, kLimit48), 0xffff8u); // aligned to 4 below 0xffffe
    // The search starts below cached32_node: the hole at 0xffffc-0xffffd above it is skipped.
    EXPECT_EQ(a.alloc(0, 1, kLimit48), 0xffff7u);
    for (std::uint64_t want = 0xffff6; want >= 0xfef00; --want)
        ASSERT_EQ(a.alloc(0, 1, kLimit48), want);
    EXPECT_EQ(a.alloc(0, 1, kLimit48, &op), 0xfedffu); // jumps the MSI window
    EXPECT_EQ(op.tree_nodes_visited, 1u);              // rb_prev to the MSI node, then off the tree
    EXPECT_TRUE(a.pci_32bit_workaround());
    expect_accounted(a);
}

TEST(IovaAllocator, RcacheHitAfterFreeOnSameCpuMissOnOther) {
    IovaAllocator a(IovaParams{2});
    const std::uint64_t p = a.alloc(0, 1, kLimit32);
    IovaOp op;
    a.free(0, p, 1, &op);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    EXPECT_FALSE(op.tree_locked);
    EXPECT_EQ(a.cached(), 1u);
    EXPECT_EQ(a.tree_ranges(), 1u); // a cached range stays in the tree

    const std::uint64_t q = a.alloc(1, 1, kLimit32, &op);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_NE(q, p);
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), p);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    EXPECT_FALSE(op.tree_locked);
    EXPECT_EQ(a.rcache_hits, 1u);
    EXPECT_EQ(a.rcache_misses, 2u);
    EXPECT_EQ(a.cached(), 0u);
    expect_accounted(a);
}

TEST(IovaAllocator, SizeClassesAreSeparate) {
    IovaAllocator a;
    const std::uint64_t p = a.alloc(0, 2, kLimit32);
    a.free(0, p, 2);
    IovaOp op;
    a.alloc(0, 1, kLimit32, &op);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_EQ(a.alloc(0, 2, kLimit32, &op), p);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    // 3 pages share the 4-page class both ways.
    const std::uint64_t r = a.alloc(0, 3, kLimit32);
    EXPECT_EQ(r % 4, 0u);
    a.free(0, r, 3);
    EXPECT_EQ(a.alloc(0, 4, kLimit32, &op), r);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
}

TEST(IovaAllocator, RcacheRespectsTheLimit) {
    IovaAllocator a;
    const std::uint64_t hi = a.alloc(0, 1, kLimit48);
    a.free(0, hi, 1);
    IovaOp op;
    const std::uint64_t lo = a.alloc(0, 1, 0xfff, &op); // a 24-bit device cannot use it
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_LE(lo, 0xfffu);
    EXPECT_EQ(a.cached(), 1u);
}

TEST(IovaAllocator, PrevMagazineSwap) {
    IovaAllocator a(IovaParams{1, 4});
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 6; ++i)
        v.push_back(a.alloc(0, 1, kLimit32));
    IovaOp op;
    for (int i = 0; i < 4; ++i) {
        a.free(0, v[i], 1, &op);
        EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    }
    a.free(0, v[4], 1, &op); // loaded full, prev empty: swap
    EXPECT_EQ(op.path, IovaOp::RcachePrev);
    a.free(0, v[5], 1, &op);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);

    // Pop the two from the loaded magazine, then swap to the full one.
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), v[5]);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), v[4]);
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), v[3]);
    EXPECT_EQ(op.path, IovaOp::RcachePrev);
    EXPECT_EQ(a.depot_pushes, 0u);
    expect_accounted(a);
}

TEST(IovaAllocator, DepotPushWhenBothFullAndPopOnAnotherCpu) {
    IovaAllocator a(IovaParams{2, 2});
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 5; ++i)
        v.push_back(a.alloc(0, 1, kLimit32));
    IovaOp op;
    for (int i = 0; i < 4; ++i)
        a.free(0, v[i], 1, &op);
    EXPECT_EQ(a.depot_pushes, 0u);
    a.free(0, v[4], 1, &op);
    EXPECT_EQ(op.path, IovaOp::Depot);
    EXPECT_FALSE(op.tree_locked);
    EXPECT_EQ(a.depot_pushes, 1u);
    EXPECT_EQ(a.cached(), 5u);

    // CPU 1 has empty magazines: the depot hands it the full one (v[2], v[3]).
    const std::uint64_t p = a.alloc(1, 1, kLimit32, &op);
    EXPECT_EQ(op.path, IovaOp::Depot);
    EXPECT_EQ(a.depot_pops, 1u);
    EXPECT_TRUE(p == v[2] || p == v[3]);
    EXPECT_EQ(a.alloc(1, 1, kLimit32, &op), p == v[2] ? v[3] : v[2]);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    a.alloc(1, 1, kLimit32, &op);
    EXPECT_EQ(op.path, IovaOp::Tree); // depot empty again
    expect_accounted(a);
}

TEST(IovaAllocator, DepotOverflowReturnsMagazineToTree) {
    IovaAllocator a(IovaParams{1, 2, 1});
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 7; ++i)
        v.push_back(a.alloc(0, 1, kLimit32));
    for (int i = 0; i < 5; ++i)
        a.free(0, v[i], 1); // the 5th pushes to the depot (now full)
    ASSERT_EQ(a.depot_pushes, 1u);
    IovaOp op;
    a.free(0, v[5], 1, &op);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded);
    const std::uint64_t before = a.tree_ranges();
    a.free(0, v[6], 1, &op);
    EXPECT_EQ(op.path, IovaOp::Depot);
    EXPECT_TRUE(op.tree_locked);
    EXPECT_EQ(op.depot_pfns_freed, 2u);
    EXPECT_EQ(a.depot_overflows, 1u);
    EXPECT_EQ(a.tree_ranges(), before - 2);
    EXPECT_EQ(a.cached(), 5u);
    EXPECT_EQ(a.outstanding(), 0u);
    expect_accounted(a);
}

TEST(IovaAllocator, LargeSizesBypassTheRcache) {
    IovaAllocator a;
    IovaOp op;
    const std::uint64_t p32 = a.alloc(0, 32, kLimit32, &op);
    EXPECT_EQ(p32 % 32, 0u);
    a.free(0, p32, 32, &op);
    EXPECT_EQ(op.path, IovaOp::RcacheLoaded); // class 5 is the largest cached
    const std::uint64_t p33 = a.alloc(0, 33, kLimit32, &op);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_EQ(p33 % 64, 0u); // not rounded, but aligned to 64
    const std::uint64_t before = a.tree_ranges();
    a.free(0, p33, 33, &op);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_TRUE(op.tree_locked);
    EXPECT_EQ(a.tree_ranges(), before - 1);
    // A freed range is reused by the next tree search (the cached node moved above it).
    EXPECT_EQ(a.alloc(0, 33, kLimit32), p33);
}

TEST(IovaAllocator, AlignmentToSizePowerOfTwo) {
    IovaAllocator a(IovaParams{1});
    Rng rng(3);
    for (int i = 0; i < 2000; ++i) {
        const std::uint64_t pages = 1 + rng.below(300);
        const std::uint64_t p = a.alloc(0, pages, kLimit48);
        ASSERT_NE(p, 0u);
        EXPECT_EQ(p % pow2ceil(pages), 0u) << pages;
        if (rng.below(2)) a.free(0, p, pages);
    }
}

TEST(IovaAllocator, WorkaroundClearedWhen32BitSpaceIsExhausted) {
    IovaAllocator a;
    a.reserve(1, 0xfffef); // leave 16 pages below 4 GiB
    IovaOp op;
    std::vector<std::uint64_t> low;
    for (int i = 0; i < 16; ++i) {
        low.push_back(a.alloc(0, 1, kLimit48, &op));
        EXPECT_EQ(low.back(), 0xfffffu - i);
        EXPECT_FALSE(op.retried_full_limit);
    }
    const std::uint64_t high = a.alloc(0, 1, kLimit48, &op);
    EXPECT_TRUE(op.retried_full_limit);
    EXPECT_FALSE(op.flushed_rcaches);
    EXPECT_EQ(high, kLimit48); // the top of the 48-bit space
    EXPECT_FALSE(a.pci_32bit_workaround());

    // Free 32-bit space back to the tree: the device still goes high, for good.
    a.free(0, low[0], 1);
    a.flush_rcaches();
    EXPECT_EQ(a.alloc(0, 1, kLimit48, &op), kLimit48 - 1);
    EXPECT_FALSE(op.retried_full_limit);
    // A 32-bit limit still finds the freed page.
    EXPECT_EQ(a.alloc(0, 1, kLimit32), low[0]);
    expect_accounted(a);
}

TEST(IovaAllocator, Failed32BitSearchIsRememberedUntilAFree) {
    IovaAllocator a;
    a.reserve(1, 0xffff7); // 8 pages left
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 8; ++i)
        v.push_back(a.alloc(0, 1, kLimit32));
    IovaOp op;
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), 0u);
    EXPECT_EQ(op.path, IovaOp::Failed);
    EXPECT_TRUE(op.flushed_rcaches); // full limit: flush_rcache = true
    EXPECT_GT(op.tree_nodes_visited, 0u);
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), 0u); // max32_alloc_size: no walk at all
    EXPECT_EQ(op.tree_nodes_visited, 0u);
    // Back to the tree (via the rcache flush): a free below 4 GiB resets max32_alloc_size.
    a.free(0, v[3], 1);
    a.flush_rcaches();
    EXPECT_EQ(a.alloc(0, 1, kLimit32, &op), v[3]);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_EQ(a.outstanding(), 8u);
}

TEST(IovaAllocator, SearchRetriesAboveTheCachedNode) {
    IovaAllocator a;
    a.reserve(1, 0xfffef); // 16 pages: 0xffff0-0xfffff
    EXPECT_EQ(a.alloc(0, 1, kLimit32), 0xfffffu);
    EXPECT_EQ(a.alloc(0, 1, kLimit32), 0xffffeu);
    EXPECT_EQ(a.alloc(0, 4, kLimit32), 0xffff8u); // leaves 0xffffc-0xffffd free above
    for (std::uint64_t want = 0xffff7; want >= 0xffff0; --want)
        ASSERT_EQ(a.alloc(0, 1, kLimit32), want);
    // Nothing below the cached node: the second pass from the limit finds the hole.
    EXPECT_EQ(a.alloc(0, 1, kLimit32), 0xffffdu);
    EXPECT_EQ(a.alloc(0, 1, kLimit32), 0xffffcu);
    EXPECT_EQ(a.alloc(0, 1, kLimit32), 0u);
}

TEST(IovaAllocator, FlushOnFailureRecoversCachedRanges) {
    IovaParams p;
    p.cpus = 2;
    IovaAllocator a(p);
    a.reserve(1, 0xfffef); // 16 pages
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 16; ++i)
        v.push_back(a.alloc(0, 1, kLimit32));
    for (auto pfn : v)
        a.free(0, pfn, 1); // all parked in CPU 0's magazines
    EXPECT_EQ(a.cached(), 16u);
    IovaOp op;
    const std::uint64_t q = a.alloc(1, 2, kLimit32, &op); // other CPU, other class
    EXPECT_NE(q, 0u);
    EXPECT_TRUE(op.flushed_rcaches);
    EXPECT_EQ(op.depot_pfns_freed, 16u);
    EXPECT_EQ(op.path, IovaOp::Tree);
    EXPECT_EQ(a.cached(), 0u);
    EXPECT_EQ(a.tree_ranges(), 1u);
}

TEST(IovaAllocator, ReservedRangesMergeAndAreNeverReturned) {
    IovaAllocator a;
    a.reserve(0xfff00, 0xfff7f);
    a.reserve(0xfff40, 0xfffff); // overlaps: only the new part is added
    a.reserve(0xfff10, 0xfff20); // inside: nothing added
    EXPECT_EQ(a.tree_ranges(), 0u);
    const std::uint64_t p = a.alloc(0, 1, kLimit32);
    EXPECT_EQ(p, 0xffeffu);
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t q = a.alloc(0, 4, kLimit32);
        EXPECT_TRUE(q + 3 < 0xfff00u) << std::hex << q;
    }
}

TEST(IovaAllocator, RandomOpsNeverOverlap) {
    struct Range {
        std::uint64_t hi, pages;
        unsigned cpu;
    };
    for (int scenario = 0; scenario < 2; ++scenario) {
        IovaParams p;
        p.cpus = 4;
        p.magazine_size = 16;
        p.depot_max = 4;
        IovaAllocator a(p);
        std::map<std::uint64_t, std::uint64_t> reserved{{0xfee00, 0xfeeff}};
        if (scenario == 1) reserved.emplace(1, 0xfbfff); // cramped: 16 MiB of 32-bit space
        for (auto [lo, hi] : reserved)
            a.reserve(lo, hi);

        std::map<std::uint64_t, Range> live; // reference interval set
        std::vector<std::uint64_t> keys;
        Rng rng(11 + scenario);
        std::uint64_t fails = 0;
        for (int i = 0; i < 100000; ++i) {
            const unsigned cpu = static_cast<unsigned>(rng.below(4));
            if (live.empty() || rng.below(100) < 52) {
                const std::uint64_t pages = rng.below(10) ? 1 + rng.below(16) : 1 + rng.below(200);
                const std::uint64_t limit = rng.below(4) ? kLimit48 : kLimit32;
                const std::uint64_t pfn = a.alloc(cpu, pages, limit);
                if (!pfn) {
                    ++fails;
                    continue;
                }
                const std::uint64_t len = pages < 32 ? pow2ceil(pages) : pages;
                const std::uint64_t hi = pfn + len - 1;
                ASSERT_GE(pfn, 1u);
                ASSERT_LE(hi, limit);
                ASSERT_EQ(pfn % pow2ceil(pages), 0u);
                auto next = live.lower_bound(pfn);
                ASSERT_TRUE(next == live.end() || next->first > hi) << "overlaps next";
                if (next != live.begin()) {
                    ASSERT_LT(std::prev(next)->second.hi, pfn) << "overlaps previous";
                }
                auto rn = reserved.upper_bound(hi);
                if (rn != reserved.begin()) {
                    ASSERT_LT(std::prev(rn)->second, pfn) << "inside a reservation";
                }
                live.emplace(pfn, Range{hi, pages, cpu});
                keys.push_back(pfn);
            } else {
                const std::size_t k = rng.below(keys.size());
                const std::uint64_t pfn = keys[k];
                keys[k] = keys.back();
                keys.pop_back();
                const Range r = live.at(pfn);
                live.erase(pfn);
                // Mostly the allocating CPU, as NVMe completions are; sometimes another.
                a.free(rng.below(4) ? r.cpu : cpu, pfn, r.pages);
            }
            if (i % 997 == 0) expect_accounted(a);
            if (i % 20011 == 0) a.flush_rcaches();
        }
        EXPECT_EQ(a.outstanding(), live.size());
        EXPECT_GT(a.rcache_hits, 10000u);
        EXPECT_GT(a.depot_pushes, 0u);
        EXPECT_GT(a.depot_pops, 0u);
        if (scenario == 0) {
            EXPECT_EQ(fails, 0u);
            EXPECT_TRUE(a.pci_32bit_workaround());
        } else {
            EXPECT_FALSE(a.pci_32bit_workaround());
        }

        // Free everything: nothing outstanding, every remaining tree range is a cached one.
        for (auto& [pfn, r] : live)
            a.free(r.cpu, pfn, r.pages);
        EXPECT_EQ(a.outstanding(), 0u);
        EXPECT_EQ(a.tree_ranges(), a.cached());
        a.flush_rcaches();
        EXPECT_EQ(a.cached(), 0u);
        EXPECT_EQ(a.tree_ranges(), 0u);
        EXPECT_EQ(a.tree_allocs, a.tree_frees);
        EXPECT_EQ(a.rcache_misses, a.tree_allocs + fails); // a miss is a tree insert or a failure
    }
}
