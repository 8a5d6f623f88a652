// Iotlb and SetAssocCache: set conflicts, replacement order, 2 MiB leaves, ranged invalidation.
#include "models/common/rng.h"
#include "models/iommu/iotlb.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

using namespace iosim;

namespace {

constexpr std::uint8_t kRW = kPermRead | kPermWrite;

Translation page4k(std::uint64_t phys) {
    return Translation{phys, 12, kRW};
}

// `n` distinct 4 KiB IOVAs of `dom` whose tags fall into one set.
std::vector<std::uint64_t> colliding(const Iotlb& tlb, std::uint16_t dom, unsigned n) {
    std::vector<std::uint64_t> out;
    const unsigned set = tlb.cache().set_index(dom, Iotlb::tag(0, 12));
    for (std::uint64_t pg = 0; out.size() < n; ++pg)
        if (tlb.cache().set_index(dom, Iotlb::tag(pg << 12, 12)) == set) out.push_back(pg << 12);
    return out;
}

bool cached(const Iotlb& tlb, std::uint16_t dom, std::uint64_t iova, unsigned shift = 12) {
    return tlb.cache().peek(dom, Iotlb::tag(iova, shift)) != nullptr;
}

} // namespace

TEST(Iotlb, Geometry) {
    Iotlb tlb(IotlbParams{64, 4, CachePolicy::Lru, 1});
    EXPECT_EQ(tlb.cache().entries(), 64u);
    EXPECT_EQ(tlb.cache().ways(), 4u);
    EXPECT_EQ(tlb.cache().sets(), 16u);
    Iotlb fa(IotlbParams{32, 32, CachePolicy::Lru, 1});
    EXPECT_EQ(fa.cache().sets(), 1u);
}

TEST(Iotlb, SetConflictEvictsLeastRecentlyUsed) {
    Iotlb tlb(IotlbParams{64, 4, CachePolicy::Lru, 1});
    const auto v = colliding(tlb, 1, 5);
    for (unsigned i = 0; i < 4; ++i)
        tlb.insert(1, v[i], page4k(0x100000 * (i + 1)));
    EXPECT_EQ(tlb.occupancy(), 4u);
    EXPECT_EQ(tlb.evictions, 0u);

    tlb.insert(1, v[4], page4k(0x900000));
    EXPECT_EQ(tlb.evictions, 1u);
    EXPECT_EQ(tlb.occupancy(), 4u); // the set was full; the other 15 sets are still empty
    EXPECT_FALSE(cached(tlb, 1, v[0]));
    for (unsigned i = 1; i < 5; ++i)
        EXPECT_TRUE(cached(tlb, 1, v[i])) << i;
}

TEST(Iotlb, HitsUpdateLruOrder) {
    Iotlb tlb(IotlbParams{64, 4, CachePolicy::Lru, 1});
    const auto v = colliding(tlb, 1, 6);
    for (unsigned i = 0; i < 4; ++i)
        tlb.insert(1, v[i], page4k(0x100000 * (i + 1)));
    ASSERT_NE(tlb.lookup(1, v[0]), nullptr); // v[1] is now the LRU line
    tlb.insert(1, v[4], page4k(0x900000));
    EXPECT_TRUE(cached(tlb, 1, v[0]));
    EXPECT_FALSE(cached(tlb, 1, v[1]));
    ASSERT_NE(tlb.lookup(1, v[2]), nullptr); // order now v3, v0, v4, v2
    tlb.insert(1, v[5], page4k(0xa00000));
    EXPECT_FALSE(cached(tlb, 1, v[3]));
    EXPECT_TRUE(cached(tlb, 1, v[2]));
}

TEST(Iotlb, FifoIgnoresHits) {
    Iotlb tlb(IotlbParams{64, 4, CachePolicy::Fifo, 1});
    const auto v = colliding(tlb, 1, 5);
    for (unsigned i = 0; i < 4; ++i)
        tlb.insert(1, v[i], page4k(0x100000 * (i + 1)));
    ASSERT_NE(tlb.lookup(1, v[0]), nullptr);
    ASSERT_NE(tlb.lookup(1, v[0]), nullptr);
    tlb.insert(1, v[4], page4k(0x900000));
    EXPECT_FALSE(cached(tlb, 1, v[0])); // oldest fill goes first despite the hits
    EXPECT_TRUE(cached(tlb, 1, v[1]));
}

TEST(Iotlb, ReinsertSameKeyReplacesInPlace) {
    Iotlb tlb(IotlbParams{64, 4, CachePolicy::Lru, 1});
    tlb.insert(3, 0x5000, page4k(0x100000));
    tlb.insert(3, 0x5000, page4k(0x200000));
    EXPECT_EQ(tlb.occupancy(), 1u);
    EXPECT_EQ(tlb.evictions, 0u);
    const Translation* t = tlb.lookup(3, 0x5000);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->phys_base, 0x200000u);
}

TEST(Iotlb, RandomPolicyIsSeededAndStaysInTheSet) {
    auto run = [](std::uint64_t seed) {
        Iotlb tlb(IotlbParams{64, 4, CachePolicy::Random, seed});
        const auto v = colliding(tlb, 1, 12);
        for (unsigned i = 0; i < 12; ++i)
            tlb.insert(1, v[i], page4k(0x100000 * (i + 1)));
        EXPECT_EQ(tlb.occupancy(), 4u);
        EXPECT_EQ(tlb.evictions, 8u);
        std::vector<bool> present;
        for (auto iova : v)
            present.push_back(cached(tlb, 1, iova));
        return present;
    };
    EXPECT_EQ(run(7), run(7));
    // The newest line is always present: a victim is chosen before the fill.
    EXPECT_TRUE(run(7).back());
}

TEST(Iotlb, DomainsDoNotAlias) {
    Iotlb tlb;
    tlb.insert(1, 0x7000, page4k(0x100000));
    EXPECT_EQ(tlb.lookup(2, 0x7000), nullptr);
    ASSERT_NE(tlb.lookup(1, 0x7000), nullptr);
}

TEST(Iotlb, LargePageHitsEverySmallPageInside) {
    Iotlb tlb;
    const std::uint64_t base = 0x40000000;
    tlb.insert(1, base + 0x12345, Translation{0x200000000, 21, kPermRead});
    for (std::uint64_t off = 0; off < (1u << 21); off += 0x1000) {
        const Translation* t = tlb.lookup(1, base + off + 0x10);
        ASSERT_NE(t, nullptr) << std::hex << off;
        EXPECT_EQ(t->page_shift, 21);
        EXPECT_EQ(t->phys_base, 0x200000000u);
        EXPECT_EQ(t->perm, kPermRead);
    }
    EXPECT_EQ(tlb.lookup(1, base + (1u << 21)), nullptr);
    EXPECT_EQ(tlb.lookup(1, base - 0x1000), nullptr);
    EXPECT_EQ(tlb.hits, 512u);
    EXPECT_EQ(tlb.misses, 2u);
}

TEST(Iotlb, SmallPageTagWinsOverLargeOne) {
    Iotlb tlb;
    tlb.insert(1, 0x200000, Translation{0x40000000, 21, kRW});
    tlb.insert(1, 0x203000, page4k(0x7000000));
    EXPECT_EQ(tlb.lookup(1, 0x203000)->phys_base, 0x7000000u);
    EXPECT_EQ(tlb.lookup(1, 0x204000)->phys_base, 0x40000000u);
}

TEST(Iotlb, InvalidateRangeDropsExactlyTheOverlappingPages) {
    Iotlb tlb(IotlbParams{256, 8, CachePolicy::Lru, 1});
    for (std::uint64_t pg = 1; pg <= 8; ++pg) {
        tlb.insert(1, pg << 12, page4k(0x100000 + (pg << 12)));
        tlb.insert(2, pg << 12, page4k(0x100000 + (pg << 12)));
    }
    tlb.insert(1, 0x400000, Translation{0x80000000, 21, kRW}); // [4 MiB, 6 MiB)
    ASSERT_EQ(tlb.occupancy(), 17u);

    EXPECT_EQ(tlb.invalidate_range(1, 0x3000, 0x2000), 2u); // pages 3 and 4
    EXPECT_FALSE(cached(tlb, 1, 0x3000));
    EXPECT_FALSE(cached(tlb, 1, 0x4000));
    EXPECT_TRUE(cached(tlb, 1, 0x2000));
    EXPECT_TRUE(cached(tlb, 1, 0x5000));
    EXPECT_TRUE(cached(tlb, 2, 0x3000)); // other domain untouched

    EXPECT_EQ(tlb.invalidate_range(1, 0x5fff, 2), 2u); // straddles pages 5 and 6
    EXPECT_TRUE(cached(tlb, 1, 0x7000));

    // A range touching only the last 4 KiB of the 2 MiB leaf drops the whole leaf.
    EXPECT_TRUE(cached(tlb, 1, 0x400000, 21));
    EXPECT_EQ(tlb.invalidate_range(1, 0x5ff000, 0x1000), 1u);
    EXPECT_FALSE(cached(tlb, 1, 0x400000, 21));

    // Just past the end of a page: nothing.
    EXPECT_EQ(tlb.invalidate_range(1, 0x9000, 0x10000), 0u);
    EXPECT_EQ(tlb.invalidate_range(1, 0x1000, 0), 0u);
    EXPECT_EQ(tlb.invalidated, 5u);
    EXPECT_EQ(tlb.occupancy(), 12u);

    // The all-pages size saturates instead of wrapping.
    EXPECT_EQ(tlb.invalidate_range(2, 0x1000, ~0ull), 8u);
}

// Short ranges are invalidated by probing the sets of the tags they cover, long ones by a scan
// of every line: both must drop exactly the entries that overlap the range.
TEST(Iotlb, ShortAndLongRangesDropExactlyTheOverlappingEntries) {
    Rng rng(11);
    for (int round = 0; round < 200; ++round) {
        Iotlb tlb(IotlbParams{512, 512, CachePolicy::Lru, 1}); // fully associative: no evictions
        struct E {
            std::uint64_t base;
            unsigned shift;
        };
        std::vector<E> in;
        std::set<std::uint64_t> used2m;
        for (int i = 0; i < 40; ++i) {
            const bool large = rng.below(4) == 0;
            const unsigned shift = large ? 21 : 12;
            const std::uint64_t base = (rng.below(64) << 21) + (large ? 0 : rng.below(512) << 12);
            if (used2m.count(base >> 21)) continue; // a 4 KiB and a 2 MiB entry never overlap
            used2m.insert(base >> 21);
            in.push_back({base, shift});
            tlb.insert(1, base, Translation{base, static_cast<std::uint8_t>(shift), kRW});
        }
        const std::uint64_t lo = rng.below(64 << 9) << 12;
        const std::uint64_t size = (1 + rng.below(40)) << 12; // 1..40 pages: both paths
        unsigned expected = 0;
        for (const E& e : in)
            expected += e.base < lo + size && e.base + (1ull << e.shift) > lo;
        ASSERT_EQ(tlb.invalidate_range(1, lo, size), expected) << "round " << round;
        for (const E& e : in) {
            const bool overlaps = e.base < lo + size && e.base + (1ull << e.shift) > lo;
            EXPECT_EQ(cached(tlb, 1, e.base, e.shift), !overlaps) << "round " << round;
        }
    }
}

TEST(Iotlb, InvalidateDomainAndAll) {
    Iotlb tlb;
    for (std::uint64_t pg = 0; pg < 10; ++pg) {
        tlb.insert(1, pg << 12, page4k(pg << 12));
        tlb.insert(2, pg << 12, page4k(pg << 12));
        tlb.insert(3, pg << 21, Translation{pg << 21, 21, kRW});
    }
    ASSERT_EQ(tlb.occupancy(), 30u);
    EXPECT_EQ(tlb.invalidate_domain(2), 10u);
    EXPECT_EQ(tlb.lookup(2, 0x1000), nullptr);
    EXPECT_NE(tlb.lookup(1, 0x1000), nullptr);
    EXPECT_EQ(tlb.invalidate_domain(2), 0u);
    EXPECT_EQ(tlb.invalidate_all(), 20u);
    EXPECT_EQ(tlb.occupancy(), 0u);
    EXPECT_EQ(tlb.invalidated, 30u);
}

TEST(Iotlb, CountersAddUp) {
    Iotlb tlb(IotlbParams{32, 4, CachePolicy::Lru, 1});
    Rng rng(42);
    std::uint64_t inserts = 0;
    for (int i = 0; i < 5000; ++i) {
        const std::uint64_t iova = rng.below(64) << 12;
        if (!tlb.lookup(1, iova)) {
            tlb.insert(1, iova, page4k(iova));
            ++inserts;
        }
    }
    EXPECT_EQ(tlb.lookups, 5000u);
    EXPECT_EQ(tlb.lookups, tlb.hits + tlb.misses);
    EXPECT_EQ(tlb.misses, inserts);
    EXPECT_GT(tlb.hits, 0u);
    EXPECT_EQ(tlb.evictions, inserts - tlb.occupancy()); // no invalidations: every refill evicts
}

TEST(Iotlb, PowerOfTwoStridesAndRunsSpreadEvenly) {
    // 64 pages 2 MiB apart would all share one set under plain modulo indexing.
    for (std::uint64_t stride : {1ull, 16ull, 512ull, 262144ull}) {
        Iotlb tlb(IotlbParams{64, 4, CachePolicy::Lru, 1});
        std::set<unsigned> sets;
        for (std::uint64_t i = 0; i < 64; ++i) {
            const std::uint64_t iova = (0x100 + i) * stride << 12;
            tlb.insert(1, iova, page4k(iova));
            sets.insert(tlb.cache().set_index(1, Iotlb::tag(iova, 12)));
        }
        EXPECT_EQ(sets.size(), 16u) << stride;
        EXPECT_EQ(tlb.occupancy(), 64u) << stride; // every page fits: 4 per set
        EXPECT_EQ(tlb.evictions, 0u) << stride;
    }
}

// Safety bookkeeping: mark_stale flags exactly the entries of the domain over the range (4 KiB
// and 2 MiB ones, by probing or, for a long range, by a scan), without counting a lookup or
// changing which entry is evicted next; a refill clears the flag.
TEST(Iotlb, MarkStaleFlagsOnlyTheEntriesOverTheRange) {
    Iotlb tlb(IotlbParams{64, 4, CachePolicy::Lru, 1});
    tlb.insert(1, 0x10000, page4k(0xa000));
    tlb.insert(1, 0x11000, page4k(0xb000));
    tlb.insert(2, 0x10000, page4k(0xc000)); // another domain, same IOVA
    EXPECT_EQ(tlb.mark_stale(1, 0x10000, 4096), 1u);
    EXPECT_EQ(tlb.lookups, 0u);
    EXPECT_TRUE(tlb.cache().peek(1, Iotlb::tag(0x10000, 12))->stale);
    EXPECT_FALSE(tlb.cache().peek(1, Iotlb::tag(0x11000, 12))->stale);
    EXPECT_FALSE(tlb.cache().peek(2, Iotlb::tag(0x10000, 12))->stale);
    // A 2 MiB leaf: a 4 KiB range inside it marks it (probe), so does a long range (scan).
    tlb.insert(1, 0x40000000, Translation{0x80000000, 21, kRW});
    EXPECT_EQ(tlb.mark_stale(1, 0x40003000, 4096), 1u);
    EXPECT_TRUE(tlb.cache().peek(1, Iotlb::tag(0x40000000, 21))->stale);
    tlb.insert(1, 0x40000000, Translation{0x80000000, 21, kRW}); // refilled: fresh
    EXPECT_FALSE(tlb.cache().peek(1, Iotlb::tag(0x40000000, 21))->stale);
    EXPECT_EQ(tlb.mark_stale(1, 0x3ff00000, 64ull << 20), 1u); // 64 MiB: the scan path
    EXPECT_TRUE(tlb.cache().peek(1, Iotlb::tag(0x40000000, 21))->stale);
    EXPECT_FALSE(tlb.cache().peek(1, Iotlb::tag(0x11000, 12))->stale);
    EXPECT_TRUE(cached(tlb, 1, 0x10000)); // marked entries stay cached until invalidated
    EXPECT_EQ(tlb.invalidate_range(1, 0x10000, 4096), 1u);
    EXPECT_FALSE(cached(tlb, 1, 0x10000));
}
