// Wi-Fi functional core: PHY rates against the published MCS tables, invalid combinations, A-MPDU
// limits, airtime arithmetic, saturated goodput; mt76 DMA rings, tokens and TX-free; the RX
// page_pool mapping pages only while it grows.
#include "models/wifi/air.h"
#include "models/wifi/ring.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <stdexcept>
#include <string>

using namespace iosim;

namespace {

using G = GuardInterval;

template <class F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no exception>";
}

double mbps(Standard s, unsigned w, unsigned nss, unsigned mcs, G gi) {
    return phy_rate_bps(s, w, nss, mcs, gi) / 1e6;
}

} // namespace

// ---- PHY rate ----

TEST(PhyRate, MatchesPublishedHeTable) {
    EXPECT_NEAR(mbps(Standard::He, 80, 2, 11, G::Gi0_8), 1201.0, 0.5);
    EXPECT_NEAR(mbps(Standard::He, 20, 1, 0, G::Gi0_8), 8.6, 0.05);
    EXPECT_NEAR(mbps(Standard::He, 20, 1, 11, G::Gi0_8), 143.4, 0.05);
    EXPECT_NEAR(mbps(Standard::He, 40, 1, 11, G::Gi0_8), 286.8, 0.05);
    EXPECT_NEAR(mbps(Standard::He, 80, 1, 11, G::Gi0_8), 600.4, 0.1);
    EXPECT_NEAR(mbps(Standard::He, 160, 2, 11, G::Gi0_8), 2402.0, 0.5);
    EXPECT_NEAR(mbps(Standard::He, 80, 2, 11, G::Gi3_2), 1020.8, 0.05);
    EXPECT_NEAR(mbps(Standard::He, 80, 2, 7, G::Gi1_6), 680.6, 0.05);
    EXPECT_EQ(data_bits_per_symbol(Standard::He, 80, 1, 11), 8166u); // floored, as tabulated
}

TEST(PhyRate, MatchesPublishedVhtTable) {
    EXPECT_NEAR(mbps(Standard::Vht, 80, 1, 9, G::Gi0_8), 390.0, 0.05);
    EXPECT_NEAR(mbps(Standard::Vht, 80, 1, 9, G::Gi0_4), 433.3, 0.05);
    EXPECT_NEAR(mbps(Standard::Vht, 80, 2, 9, G::Gi0_4), 866.7, 0.05);
    EXPECT_NEAR(mbps(Standard::Vht, 160, 1, 9, G::Gi0_4), 866.7, 0.05);
    EXPECT_NEAR(mbps(Standard::Vht, 20, 1, 8, G::Gi0_8), 78.0, 0.05);
    EXPECT_NEAR(mbps(Standard::Vht, 20, 3, 9, G::Gi0_8), 260.0, 0.05);
    EXPECT_NEAR(mbps(Standard::Vht, 40, 1, 0, G::Gi0_8), 13.5, 0.05);
}

TEST(PhyRate, SymbolDurationsAndPreambles) {
    EXPECT_EQ(symbol_duration(Standard::He, G::Gi0_8), 13600 * kNs);
    EXPECT_EQ(symbol_duration(Standard::He, G::Gi3_2), 16000 * kNs);
    EXPECT_EQ(symbol_duration(Standard::Vht, G::Gi0_4), 3600 * kNs);
    EXPECT_EQ(su_preamble(Standard::He, 2), 50400 * kNs);
    EXPECT_EQ(su_preamble(Standard::He, 3), 64800 * kNs); // 4 HE-LTFs
    EXPECT_EQ(su_preamble(Standard::Vht, 1), 40 * kUs);
}

TEST(PhyRate, InvalidCombinationsNameTheProblem) {
    EXPECT_EQ(error_of([] { mbps(Standard::Vht, 80, 1, 10, G::Gi0_8); }),
              "wifi: VHT (802.11ac) MCS must be 0..9 (1024-QAM is 802.11ax only), got 10");
    EXPECT_EQ(error_of([] { mbps(Standard::He, 80, 2, 12, G::Gi0_8); }),
              "wifi: HE (802.11ax) MCS must be 0..11, got 12");
    EXPECT_EQ(error_of([] { mbps(Standard::He, 30, 2, 7, G::Gi0_8); }),
              "wifi: channel width must be 20, 40, 80 or 160 MHz, got 30");
    EXPECT_EQ(error_of([] { mbps(Standard::He, 80, 0, 7, G::Gi0_8); }),
              "wifi: spatial streams must be 1..8, got 0");
    EXPECT_EQ(error_of([] { mbps(Standard::Vht, 80, 9, 7, G::Gi0_8); }),
              "wifi: spatial streams must be 1..8, got 9");
    EXPECT_EQ(error_of([] { mbps(Standard::Vht, 20, 1, 9, G::Gi0_8); }),
              "wifi: VHT (802.11ac) MCS 9 with 1 spatial stream at 20 MHz is not a valid "
              "combination (IEEE 802.11 §21.5)");
    EXPECT_EQ(error_of([] { mbps(Standard::Vht, 80, 3, 6, G::Gi0_8); }),
              "wifi: VHT (802.11ac) MCS 6 with 3 spatial streams at 80 MHz is not a valid "
              "combination (IEEE 802.11 §21.5)");
    EXPECT_EQ(error_of([] { mbps(Standard::Vht, 160, 3, 9, G::Gi0_8); }),
              "wifi: VHT (802.11ac) MCS 9 with 3 spatial streams at 160 MHz is not a valid "
              "combination (IEEE 802.11 §21.5)");
    EXPECT_EQ(error_of([] { mbps(Standard::He, 80, 2, 11, G::Gi0_4); }),
              "wifi: HE (802.11ax) guard interval must be 0.8, 1.6 or 3.2 us, got 0.4 us");
    EXPECT_EQ(error_of([] { mbps(Standard::Vht, 80, 2, 9, G::Gi1_6); }),
              "wifi: VHT (802.11ac) guard interval must be 0.8 or 0.4 us, got 1.6 us");
    EXPECT_EQ(error_of([] {
                  AirChannel(PhyConfig{Standard::Vht, 80, 2, 11, G::Gi0_8});
              }),
              "wifi: VHT (802.11ac) MCS must be 0..9 (1024-QAM is 802.11ax only), got 11");
}

// ---- Air channel ----

TEST(Air, DefaultsResolveFromTheStandard) {
    AirChannel he(PhyConfig{});
    EXPECT_EQ(he.params().max_subframes, 256u);
    EXPECT_EQ(he.params().block_ack, 40 * kUs);
    EXPECT_EQ(he.params().preamble, 50400 * kNs);
    EXPECT_EQ(he.params().aifs(), 43 * kUs);
    EXPECT_EQ(he.params().mean_backoff(), 67500 * kNs);
    EXPECT_EQ(he.access_overhead(), 216900 * kNs); // 43 + 67.5 + 50.4 + 16 + 40
    AirChannel vht(PhyConfig{Standard::Vht, 80, 1, 9, G::Gi0_8});
    EXPECT_EQ(vht.params().max_subframes, 64u);
    EXPECT_EQ(vht.params().block_ack, 32 * kUs);
    EXPECT_EQ(vht.access_overhead(), (43000 + 67500 + 40000 + 16000 + 32000) * kNs);
}

TEST(Air, AirtimeArithmetic) {
    AirChannel ch(PhyConfig{}); // HE 80 MHz 2x2 MCS 11: 16333 bits per 13.6 us symbol
    // 1500-byte IP packet: 26 + 16 + 8 + 1500 + 4 = 1554-byte MPDU, + 4 delimiter, pad to 1560
    EXPECT_EQ(ch.subframe_bytes(1500), 1560u);
    EXPECT_EQ(ch.subframe_bytes(64), 124u);
    // One subframe: 16 + 12480 + 6 bits fit one symbol
    EXPECT_EQ(ch.ppdu_duration(1, 1500), 50400 * kNs + 13600 * kNs);
    EXPECT_EQ(ch.airtime(1, 1500), 216900 * kNs + 13600 * kNs);
    // Two: 24982 bits -> 2 symbols
    EXPECT_EQ(ch.airtime(2, 1500), 216900 * kNs + 2 * 13600 * kNs);
    // 256: 3194902 bits -> 196 symbols
    EXPECT_EQ(ch.airtime(256, 1500), 216900 * kNs + 196 * 13600 * kNs);
}

TEST(Air, AggregateLimitedBySubframes) {
    AirChannel ch(PhyConfig{});
    AggLimit why = AggLimit::None;
    EXPECT_EQ(ch.max_aggregate(1500, &why), 256u);
    EXPECT_EQ(why, AggLimit::Subframes);
    TxopResult r = ch.transmit(1000, 1500, 0);
    EXPECT_EQ(r.packets, 256u);
    EXPECT_EQ(r.limit, AggLimit::Subframes);
    EXPECT_EQ(r.psdu_bytes, 256u * 1560u);
}

TEST(Air, AggregateLimitedByPpduDuration) {
    // 8.6 Mb/s: 5.484 ms - 43.2 us preamble = 400 symbols of 117 bits -> PSDU <= 5847 bytes
    AirChannel ch(PhyConfig{Standard::He, 20, 1, 0, G::Gi0_8});
    AggLimit why = AggLimit::None;
    EXPECT_EQ(ch.max_aggregate(1500, &why), 3u);
    EXPECT_EQ(why, AggLimit::PpduDuration);
    EXPECT_LE(ch.ppdu_duration(3, 1500), 5484 * kUs);
    EXPECT_GT(ch.ppdu_duration(4, 1500), 5484 * kUs);
    EXPECT_EQ(ch.transmit(10, 1500, 0).limit, AggLimit::PpduDuration);
}

TEST(Air, AggregateLimitedByAmpduLength) {
    AirParams p;
    p.max_ampdu_bytes = 8191; // exponent 0: 2^13 - 1
    AirChannel ch(PhyConfig{}, p);
    AggLimit why = AggLimit::None;
    EXPECT_EQ(ch.max_aggregate(1500, &why), 5u);
    EXPECT_EQ(why, AggLimit::AmpduBytes);
    p.max_ampdu_bytes = 1000;
    AirChannel tiny(PhyConfig{}, p);
    EXPECT_EQ(error_of([&] { tiny.max_aggregate(1500); }),
              "wifi: a 1500-byte packet does not fit one A-MPDU (max_ampdu_bytes 1000, "
              "max_ppdu 5484000 ns)");
    EXPECT_EQ(error_of([&] { ch.subframe_bytes(11401); }),
              "wifi: a 11401-byte packet makes a 11455-byte MPDU, above the maximum of 11454");
}

TEST(Air, TransmitTakesTheQueueAndSerialisesTheMedium) {
    AirChannel ch(PhyConfig{});
    TxopResult a = ch.transmit(10, 1500, 5 * kUs);
    EXPECT_EQ(a.packets, 10u);
    EXPECT_EQ(a.limit, AggLimit::Queue);
    EXPECT_EQ(a.start, 5 * kUs);
    EXPECT_EQ(a.airtime, ch.airtime(10, 1500));
    EXPECT_EQ(a.medium_free, 5 * kUs + a.airtime);
    EXPECT_EQ(ch.medium_free_at(), a.medium_free);
    // Asked while the medium is busy: starts when it is free
    TxopResult b = ch.transmit(1, 64, 6 * kUs);
    EXPECT_EQ(b.start, a.medium_free);
    EXPECT_EQ(b.medium_free, a.medium_free + ch.airtime(1, 64));
    // Asked later: starts then
    TxopResult c = ch.transmit(3, 1500, 10 * kMs);
    EXPECT_EQ(c.start, 10 * kMs);
    // Nothing queued: nothing sent, the medium is unchanged
    TxopResult d = ch.transmit(0, 1500, 20 * kMs);
    EXPECT_EQ(d.packets, 0u);
    EXPECT_EQ(d.airtime, 0u);
    EXPECT_EQ(d.medium_free, c.medium_free);
}

TEST(Air, SaturatedGoodputBelowPhyRateAndWorseForSmallPackets) {
    AirChannel ch(PhyConfig{});
    const double big = ch.saturated_goodput_bps(1500);
    const double small = ch.saturated_goodput_bps(64);
    // 256 x 1500 x 8 bits / 2882.5 us; 256 x 64 x 8 bits / 434.5 us
    EXPECT_NEAR(big / 1e6, 256 * 1500 * 8 / 2882.5, 0.01);
    EXPECT_NEAR(small / 1e6, 256 * 64 * 8 / 434.5, 0.01);
    EXPECT_LT(big, ch.phy_rate_bps());
    EXPECT_GT(big, 0.85 * ch.phy_rate_bps()); // aggregation amortises the access overhead
    EXPECT_LT(small, 0.3 * big);
    // Without aggregation the overhead dominates even for large packets
    AirParams one;
    one.max_subframes = 1;
    AirChannel single(PhyConfig{}, one);
    EXPECT_LT(single.saturated_goodput_bps(1500), 0.1 * ch.phy_rate_bps());
}

// ---- DMA ring ----

TEST(DmaRing, FullEmptyAndWrap) {
    DmaRing q(4, 0x10000);
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.has_work());
    EXPECT_EQ(q.desc_addr(3), 0x10000u + 48);
    for (std::uint32_t i = 0; i < 3; ++i)
        EXPECT_EQ(q.push(DmaDesc{0x1000u * i, 64, 0, 0, i}), i);
    EXPECT_TRUE(q.full()); // one slot stays empty
    EXPECT_EQ(q.pending(), 3u);
    EXPECT_FALSE(q.has_work()); // no doorbell yet
    q.doorbell(q.kick());
    EXPECT_EQ(q.kick(), 3u);
    EXPECT_EQ(q.fetch_next(), 0u);
    EXPECT_EQ(q.fetch_next(), 1u);
    EXPECT_EQ(q.fetch_next(), 2u);
    EXPECT_EQ(q.fetch_next(), std::nullopt);
    EXPECT_EQ(q.reap(), std::nullopt); // fetched is not done
    EXPECT_EQ(q.complete(), 0u);
    EXPECT_EQ(q.dma_idx(), 1u);
    DmaDesc d;
    EXPECT_EQ(q.reap(&d), 0u);
    EXPECT_EQ(d.token, 0u);
    EXPECT_EQ(q.reap(), std::nullopt);
    EXPECT_FALSE(q.full());

    // Many rounds around the ring: slots and indices wrap modulo 4
    std::uint32_t expect_slot = 3, reaped = 1;
    for (std::uint32_t i = 0; i < 20; ++i) {
        ASSERT_EQ(q.push(DmaDesc{}), expect_slot) << i;
        expect_slot = (expect_slot + 1) % 4;
        q.doorbell(q.kick());
        while (q.fetch_next()) {
        }
        q.complete(i + 100); // RX: the length the device wrote
        ASSERT_EQ(q.reap(&d), reaped % 4) << i;
        ++reaped;
    }
    EXPECT_EQ(d.token, 119u); // the last round completed and reaped its own descriptor
    EXPECT_EQ(q.pending(), 2u);
    EXPECT_EQ(error_of([] { DmaRing(1); }), "wifi: a DMA ring needs at least 2 descriptors, got 1");
}

// ---- Tokens and TX-free ----

TEST(TokenTable, LowestFreeIdAndTxBlocking) {
    TokenTable t(128);
    EXPECT_EQ(t.token_get({{0xa000, 1500}}), 0);
    EXPECT_EQ(t.token_get({{0xb000, 1500}}), 1);
    EXPECT_EQ(t.token_get({{0xc000, 1500}}), 2);
    auto b = t.token_release(1);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->at(0).dma, 0xb000u);
    EXPECT_EQ(t.token_release(1), std::nullopt); // released once only
    EXPECT_EQ(t.token_get({{0xd000, 64}}), 1);   // idr_alloc reuses the lowest id
    EXPECT_EQ(t.in_use(), 3u);

    // Blocked at size - MT76_TOKEN_FREE_THR = 64 tokens, woken below
    while (t.in_use() < 63)
        t.token_get({});
    EXPECT_FALSE(t.tx_blocked());
    t.token_get({});
    EXPECT_TRUE(t.tx_blocked());
    bool wake = false;
    t.token_release(5, &wake);
    EXPECT_TRUE(wake);
    EXPECT_FALSE(t.tx_blocked());
    t.token_release(6, &wake);
    EXPECT_FALSE(wake);

    while (t.token_get({}))
        ;
    EXPECT_EQ(t.in_use(), 128u);
    EXPECT_EQ(t.token_get({}), std::nullopt);
    EXPECT_EQ(TokenTable().size(), 8192u);
}

TEST(TokenTable, TxFreeUnmapsEachBufferExactlyOnce) {
    TokenTable t;
    std::map<std::uint64_t, int> unmapped;
    TxFreeEvent ev;
    for (std::uint32_t i = 0; i < 100; ++i) {
        std::vector<TxBuffer> bufs{{0x100000ull + 0x1000 * i, 1500}};
        if (i == 7) bufs.push_back({0x900000, 200}); // a frag-list skb: a second mapping
        ev.tokens.push_back(*t.token_get(bufs));
    }
    ev.tokens.push_back(4000); // never issued
    auto unmap = [&](const TxBuffer& b) { ++unmapped[b.dma]; };
    TxFreeResult r = process_tx_free(t, ev, unmap);
    EXPECT_EQ(r.freed, 100u);
    EXPECT_EQ(r.unmapped, 101u);
    EXPECT_EQ(r.unknown, 1u);
    EXPECT_EQ(unmapped.size(), 101u);
    for (const auto& [dma, n] : unmapped)
        EXPECT_EQ(n, 1) << std::hex << dma;
    EXPECT_EQ(t.in_use(), 0u);
    // A repeated event (firmware replay) unmaps nothing
    TxFreeResult again = process_tx_free(t, ev, unmap);
    EXPECT_EQ(again.unmapped, 0u);
    EXPECT_EQ(again.unknown, 101u);
}

// ---- RX page_pool ----

namespace {
struct PoolFixture {
    std::uint64_t map_calls = 0, unmap_calls = 0;
    RxPagePool make(RxPagePool::Params p = {}) {
        return RxPagePool(
            p,
            [this](std::uint32_t page) {
                ++map_calls;
                return 0x40000000ull + 0x1000ull * page;
            },
            [this](std::uint32_t, std::uint64_t) { ++unmap_calls; });
    }
};
} // namespace

TEST(RxPagePool, FragmentsShareAPage) {
    PoolFixture f;
    RxPagePool pool = f.make({256, 4096, 1536});
    EXPECT_EQ(pool.frags_per_page(), 2u);
    RxBuf a = pool.alloc_frag(), b = pool.alloc_frag(), c = pool.alloc_frag();
    EXPECT_EQ(a.page, b.page);
    EXPECT_EQ(b.offset, 1536u);
    EXPECT_EQ(b.dma, a.dma + 1536);
    EXPECT_NE(c.page, a.page); // 1024 bytes left over: too small
    EXPECT_EQ(c.offset, 0u);
    EXPECT_EQ(f.map_calls, 2u);
    EXPECT_EQ(error_of([&] {
                  f.make({256, 4096, 8192});
              }),
              "wifi: page_pool frag_size must be in [1, page_size 4096], got 8192");
}

TEST(RxPagePool, MapsOnlyWhileGrowingAndNothingPerPacketAfterWarmUp) {
    PoolFixture f;
    RxPagePool pool = f.make(); // 2048-byte buffers, 2 per page
    // mt76_dma_rx_fill of a 512-entry ring: one map per two buffers
    std::deque<RxBuf> ring;
    for (int i = 0; i < 512; ++i) {
        ring.push_back(pool.alloc_frag());
        EXPECT_EQ(pool.maps(), static_cast<std::uint64_t>(i / 2 + 1));
    }
    EXPECT_EQ(f.map_calls, 256u);

    // Steady state: each received frame is consumed (its fragment freed) and the slot refilled
    auto run = [&](int packets) {
        for (int i = 0; i < packets; ++i) {
            RxBuf done = ring.front();
            ring.pop_front();
            pool.free_frag(done);
            ring.push_back(pool.alloc_frag());
        }
    };
    run(1000); // warm-up: at most a page or two more while the recycling ring fills
    const std::uint64_t maps_after_warmup = pool.maps();
    EXPECT_LE(maps_after_warmup, 258u);
    const std::uint64_t recycled_before = pool.recycled();
    run(100000);
    EXPECT_EQ(pool.maps(), maps_after_warmup); // zero maps per packet
    EXPECT_EQ(pool.unmaps(), 0u);              // and zero unmaps
    EXPECT_EQ(f.map_calls, pool.maps());
    EXPECT_EQ(f.unmap_calls, 0u);
    EXPECT_EQ(pool.recycled() - recycled_before, 50000u); // one page reuse per two packets
    EXPECT_EQ(pool.frags_allocated(), 512u + 101000u);
}

TEST(RxPagePool, PagesLeaveOnlyWhenTheRingIsFullAndOnDestroy) {
    PoolFixture f;
    RxPagePool pool = f.make({2, 4096, 4096}); // ring of 2 recycled pages, one buffer per page
    std::vector<RxBuf> out;
    for (int i = 0; i < 6; ++i)
        out.push_back(pool.alloc_frag());
    EXPECT_EQ(pool.maps(), 6u);
    for (const RxBuf& b : out)
        pool.free_frag(b);
    // The last page stays the fragment page; of the other 5, 2 fit the ring, 3 are unmapped
    EXPECT_EQ(pool.cached_pages(), 2u);
    EXPECT_EQ(pool.unmaps(), 3u);
    EXPECT_EQ(f.unmap_calls, 3u);
    // The fragment page is full: it goes back (the ring is full, so it is unmapped) and the next
    // page comes from the ring, without a mapping
    RxBuf held = pool.alloc_frag();
    EXPECT_EQ(pool.maps(), 6u);
    EXPECT_EQ(pool.recycled(), 1u);
    EXPECT_EQ(pool.unmaps(), 4u);
    pool.destroy();
    EXPECT_EQ(pool.unmaps(), 5u); // everything but the page still held
    EXPECT_EQ(pool.pages_in_flight(), 1u);
    pool.free_frag(held);
    EXPECT_EQ(pool.unmaps(), pool.maps());
    EXPECT_EQ(pool.pages_in_flight(), 0u);
}

// The per-packet path: one buffer per token, released without a copy; the storage of a slot is
// reused, and ids come back lowest first.
TEST(TokenTable, SingleBufferPathReusesSlotsAndReleasesOnce) {
    TokenTable t(128);
    EXPECT_EQ(t.token_get_one({0xa000, 1514}), 0);
    EXPECT_EQ(t.token_get_one({0xb000, 64}), 1);
    const std::vector<TxBuffer>* b = t.release(0);
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(b->size(), 1u);
    EXPECT_EQ((*b)[0].dma, 0xa000u);
    EXPECT_EQ((*b)[0].len, 1514u);
    EXPECT_EQ(t.release(0), nullptr); // released once only
    EXPECT_EQ(t.release(200), nullptr);
    EXPECT_EQ(t.token_get_one({0xc000, 100}), 0); // the lowest free id again
    EXPECT_EQ(t.in_use(), 2u);
    EXPECT_EQ(t.token_release(0)->at(0).dma, 0xc000u);
}
