// Shared utilities: contended resources (including out-of-order arrivals under temporal
// decoupling), the histogram's percentiles, the deterministic generator, the stats registry.
#include "models/common/histogram.h"
#include "models/common/resource.h"
#include "models/common/rng.h"
#include "models/common/stats.h"

#include <sstream>

#include <gtest/gtest.h>

using namespace iosim;

TEST(Resource, ServesInArrivalOrderWhenArrivalsAreOrdered) {
    Resource r;
    auto a = r.acquire(100, 50);
    auto b = r.acquire(120, 50); // arrives while a is served
    auto c = r.acquire(500, 10); // arrives when idle
    EXPECT_EQ(a.start, 100u);
    EXPECT_EQ(a.end, 150u);
    EXPECT_EQ(b.start, 150u);
    EXPECT_EQ(b.end, 200u);
    EXPECT_EQ(c.start, 500u);
    EXPECT_EQ(r.wait_total(), 30u);
    EXPECT_EQ(r.busy_total(), 110u);
}

TEST(Resource, EarlierRequestBookedLaterUsesTheGapBeforeIt) {
    Resource r;
    r.acquire(1000, 100);       // a core far ahead in local time books [1000, 1100)
    auto g = r.acquire(10, 50); // an earlier request must not queue behind it
    EXPECT_EQ(g.start, 10u);
    auto h = r.acquire(980, 50); // does not fit before 1000: goes after 1100
    EXPECT_EQ(h.start, 1100u);
    auto i = r.acquire(60, 900); // fits exactly in [60, 960)
    EXPECT_EQ(i.start, 60u);
}

// A device that books far ahead (hundreds of intervals, 300 us into the future) must not make
// the resource forget what a request arriving now would overlap: it used to keep only the last
// 128 intervals by count, so an MMIO write landed on top of a booked completion.
TEST(Resource, ManyBookingsAheadAreNotForgottenWithinTheHorizon) {
    Resource r;
    const Time svc = 500 * kNs, step = 1 * kUs;
    for (int i = 0; i < 300; ++i) // [i us, i us + 0.5 us), booked in order, up to 300 us ahead
        r.acquire(i * step, svc);
    // Arriving inside the first booking: served right after it, not on top of it.
    const auto g = r.acquire(100 * kNs, svc);
    EXPECT_EQ(g.start, svc);
    EXPECT_EQ(g.end, 2 * svc);
    // And a request within the first busy interval of a later one, too.
    const auto h = r.acquire(150 * step + 100 * kNs, 100 * kNs);
    EXPECT_EQ(h.start, 150 * step + svc);
}

TEST(Resource, LockFirstFreeAndOccupy) {
    Resource l;
    l.occupy(100, 200);
    EXPECT_EQ(l.first_free(50), 50u);
    EXPECT_EQ(l.first_free(150), 200u);
    EXPECT_EQ(l.first_free(200), 200u);
    l.occupy(200, 260); // touching intervals merge
    EXPECT_EQ(l.first_free(150), 260u);
    EXPECT_EQ(l.busy_until(), 260u);
}

TEST(MultiResource, KServersInParallel) {
    MultiResource m(2);
    EXPECT_EQ(m.acquire(0, 100).start, 0u);
    EXPECT_EQ(m.acquire(0, 100).start, 0u);
    EXPECT_EQ(m.acquire(0, 100).start, 100u);
}

TEST(Histogram, PercentilesWithinResolution) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100000; ++v)
        h.record(v);
    EXPECT_EQ(h.count(), 100000u);
    EXPECT_NEAR(static_cast<double>(h.percentile(0.5)), 50000.0, 50000.0 / 64);
    EXPECT_NEAR(static_cast<double>(h.percentile(0.99)), 99000.0, 99000.0 / 64);
    EXPECT_EQ(h.max(), 100000u);
    EXPECT_NEAR(h.mean(), 50000.5, 1e-6);
    h.reset();
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile(0.5), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
    Histogram h;
    for (int i = 0; i < 10; ++i)
        h.record(7);
    h.record(3);
    EXPECT_EQ(h.percentile(0.05), 3u);
    EXPECT_EQ(h.percentile(0.5), 7u);
}

TEST(Rng, SameSeedAndNameSameSequenceDifferentNameDifferent) {
    Rng a(42, "nvme0"), b(42, "nvme0"), c(42, "wifi0");
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        auto x = a.next();
        EXPECT_EQ(x, b.next());
        differs |= x != c.next();
    }
    EXPECT_TRUE(differs);
}

TEST(Rng, BelowIsInRangeAndCoversIt) {
    Rng r(7);
    std::vector<int> seen(10, 0);
    for (int i = 0; i < 10000; ++i) {
        auto v = r.below(10);
        ASSERT_LT(v, 10u);
        ++seen[v];
    }
    for (int n : seen)
        EXPECT_GT(n, 800);
}

TEST(Stats, TreeCsvAndReset) {
    Stats s;
    std::uint64_t hits = 5, gauge = 9;
    Histogram h;
    h.record(100);
    s.counter("iommu.iotlb.hits", &hits);
    s.value("iommu.iotlb.hit_rate", [&] { return hits / 10.0; });
    s.value("end.gauge", [&] { return static_cast<double>(gauge); });
    s.histogram("workloads.a.latency_ns", &h);
    auto j = s.to_json();
    EXPECT_EQ(j["iommu"]["iotlb"]["hits"], 5);
    EXPECT_DOUBLE_EQ(j["iommu"]["iotlb"]["hit_rate"].get<double>(), 0.5);
    EXPECT_EQ(j["workloads"]["a"]["latency_ns"]["count"], 1);
    std::ostringstream csv;
    Stats::write_csv(j, csv);
    EXPECT_NE(csv.str().find("iommu.iotlb.hits,5\n"), std::string::npos);
    std::uint64_t wait_ps = 1499;
    s.time_ns("iommu.invalidation.wait_ns", &wait_ps);
    EXPECT_EQ(s.to_json()["iommu"]["invalidation"]["wait_ns"], 1); // rounded to nearest ns
    wait_ps = 1500;
    EXPECT_EQ(s.to_json()["iommu"]["invalidation"]["wait_ns"], 2);
    s.reset();
    EXPECT_EQ(wait_ps, 0u); // a time is reset at the end of warm-up like a counter
    EXPECT_EQ(hits, 0u);
    EXPECT_EQ(gauge, 9u);
    EXPECT_EQ(h.count(), 0u);
}
