// Mt7921 through in_regs / out_dma / irq_out, with hand-built rings: the TX CPU_IDX doorbell
// fetches descriptor, TXWI and data; one A-MPDU per access; the TX-free event with every token of
// the aggregate, written into the next RX buffer after the BlockAck and the firmware delay; the
// MSI on the rising edge of STA & ENA; RX frames of a saturating and of a paced flow; the on-chip
// FIFO while no RX buffer is posted; register decoding.
#include "models/common/stubs.h"
#include "models/wifi/mt7921.h"
#include "tests/harness/sc_test.h"

#include <algorithm>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::test::ScTest;

namespace {

constexpr Time kDma = 1 * kUs; // the host side's answer time per DMA
constexpr std::uint64_t kTxDesc = 0x10000, kRxDesc = 0x20000, kRxBufs = 0x100000;
constexpr std::uint64_t kTxwi = 0x200000, kData = 0x300000;
constexpr std::uint32_t kVector = 7, kRing = 16;

class WifiDevTest : public ScTest {
protected:
    Mt7921Params params() const {
        Mt7921Params p;
        p.fw_latency = 2 * kUs;
        p.tx_free_latency = 20 * kUs;
        p.msi_latency = 300 * kNs;
        p.rx_fifo = 8;
        return p;
    }
    void build(const Mt7921Params& p, std::uint32_t rx_posted = kRing - 1) {
        p_ = p;
        nic = std::make_unique<Mt7921>("wifi", p);
        host = std::make_unique<StubInitiator>("host");
        dma = std::make_unique<StubTarget>("dma", kDma);
        msi = std::make_unique<StubTarget>("msi");
        host->out.bind(nic->in_regs);
        nic->out_dma.bind(dma->in);
        nic->irq_out.bind(msi->in);
        tx = std::make_unique<DmaRing>(kRing, kTxDesc);
        rx = std::make_unique<DmaRing>(kRing, kRxDesc);
        info.assign(kRing, {});
        nic->attach({tx.get(), rx.get(), &info, kVector});
        for (std::uint32_t i = 0; i < rx_posted; ++i)
            post_rx();
        rx_posted_ = rx_posted;
    }
    void post_rx() {
        DmaDesc d;
        d.buf0 = kRxBufs + 2048ull * rx->cpu_idx();
        d.len0 = 2048;
        rx->push(d);
    }
    // Host: registers the device needs before traffic (ENA and the RX CPU_IDX).
    void setup_regs() {
        write(kMt7921IntEna, kMt7921IntRxDoneData);
        if (rx_posted_) write(mt7921_rx_cpu_idx(0), rx->kick());
    }
    StubInitiator::Result write(std::uint64_t addr, std::uint32_t v) {
        return host->write(addr, &v, 4);
    }
    void queue_tx(std::uint16_t token, std::uint32_t ip_bytes) {
        DmaDesc d;
        d.buf0 = kTxwi + 64ull * token;
        d.len0 = kMt7921TxwiBytes;
        d.buf1 = kData + 4096ull * token;
        d.len1 = ip_bytes + kEthHeaderBytes;
        d.token = token;
        tx->push(d);
    }
    std::vector<StubTarget::Access> at_addr(std::uint64_t lo, std::uint64_t hi) const {
        std::vector<StubTarget::Access> v;
        for (const auto& a : dma->accesses)
            if (a.addr >= lo && a.addr < hi) v.push_back(a);
        return v;
    }

    Mt7921Params p_;
    std::uint32_t rx_posted_ = 0;
    std::unique_ptr<Mt7921> nic;
    std::unique_ptr<StubInitiator> host;
    std::unique_ptr<StubTarget> dma, msi;
    std::unique_ptr<DmaRing> tx, rx;
    std::vector<Mt76RxInfo> info;
};

} // namespace

TEST_F(WifiDevTest, OnePacketFetchesDescriptorTxwiAndDataThenReportsItsTokenAfterTheAir) {
    build(params());
    constexpr Time t0 = 5 * kUs;
    run([&] {
        setup_regs();
        wait_until(t0);
        queue_tx(42, 1500);
        write(mt7921_tx_cpu_idx(0), tx->kick());
    });
    const auto desc = at_addr(kTxDesc, kTxDesc + kRing * kMt76DescBytes);
    ASSERT_EQ(desc.size(), 2u); // the fetch and the DMA_DONE write-back
    EXPECT_FALSE(desc[0].write);
    EXPECT_EQ(desc[0].len, kMt76DescBytes);
    EXPECT_EQ(desc[0].at, t0);
    const auto txwi = at_addr(kTxwi, kTxwi + 0x10000);
    const auto data = at_addr(kData, kData + 0x100000);
    ASSERT_EQ(txwi.size(), 1u);
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(txwi[0].addr, kTxwi + 64 * 42);
    EXPECT_EQ(txwi[0].len, kMt7921TxwiBytes);
    EXPECT_EQ(txwi[0].at, t0 + kDma + p_.fw_latency);
    EXPECT_EQ(data[0].addr, kData + 4096 * 42);
    EXPECT_EQ(data[0].len, 1514u);
    EXPECT_EQ(data[0].at, t0 + kDma + p_.fw_latency);
    EXPECT_TRUE(desc[1].write);
    const Time ready = t0 + 2 * kDma + p_.fw_latency;
    EXPECT_EQ(desc[1].at, ready);
    EXPECT_TRUE(tx->desc(0).done);
    EXPECT_EQ(tx->dma_idx(), 1u);

    // One A-MPDU of one packet; the event lands in RX buffer 0 after the firmware's delay.
    const Time air_end = ready + nic->air().airtime(1, 1500);
    const Time ev_at = air_end + p_.tx_free_latency;
    const auto ev = at_addr(kRxBufs, kRxBufs + kRing * 2048);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_TRUE(ev[0].write);
    EXPECT_EQ(ev[0].at, ev_at);
    EXPECT_EQ(ev[0].len, 16u + 4u);
    ASSERT_TRUE(rx->desc(0).done);
    EXPECT_EQ(rx->desc(0).token, 20u); // the written length
    EXPECT_TRUE(info[0].tx_free);
    EXPECT_EQ(info[0].ev.tokens, std::vector<std::uint16_t>({42}));
    ASSERT_EQ(msi->accesses.size(), 1u);
    EXPECT_EQ(msi->accesses[0].u32(), kVector);
    EXPECT_EQ(msi->accesses[0].at, ev_at + 2 * kDma + p_.msi_latency);
    EXPECT_EQ(nic->tx_packets, 1u);
    EXPECT_EQ(nic->tx_ampdus, 1u);
    EXPECT_EQ(nic->tx_free_events, 1u);
    EXPECT_EQ(nic->desc_fetches, 1u);
    EXPECT_EQ(nic->air_busy_ps, nic->air().airtime(1, 1500));
}

TEST_F(WifiDevTest, PacketsFetchedTogetherGoOutInOneAmpduAndOneTxFreeEvent) {
    build(params());
    run([&] {
        setup_regs();
        for (std::uint16_t t = 0; t < 10; ++t)
            queue_tx(t, 1500);
        write(mt7921_tx_cpu_idx(0), tx->kick());
    });
    // The first packet is ready before the others: it goes alone, the other nine aggregate.
    EXPECT_EQ(nic->tx_packets, 10u);
    EXPECT_EQ(nic->tx_ampdus, 2u);
    EXPECT_EQ(nic->tx_subframes, 10u);
    ASSERT_EQ(nic->tx_free_events, 2u);
    EXPECT_EQ(info[0].ev.tokens, std::vector<std::uint16_t>({0}));
    EXPECT_EQ(info[1].ev.tokens, std::vector<std::uint16_t>({1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(nic->desc_fetches, 10u);
    EXPECT_EQ(tx->dma_idx(), 10u);
    // One interrupt for both events: STA stays set, no new edge, until the host acks it.
    EXPECT_EQ(msi->accesses.size(), 1u);
}

TEST_F(WifiDevTest, MsiOnlyOnTheRisingEdgeOfStatusAndEnable) {
    build(params());
    run([&] {
        write(mt7921_rx_cpu_idx(0), rx->kick()); // ENA stays 0
        queue_tx(1, 500);
        write(mt7921_tx_cpu_idx(0), tx->kick());
        wait_until(1 * kMs);
        EXPECT_EQ(nic->tx_free_events, 1u);
        EXPECT_TRUE(msi->accesses.empty());         // masked
        write(kMt7921IntEna, kMt7921IntRxDoneData); // status pending: edge now
        wait_until(2 * kMs);
        EXPECT_EQ(msi->accesses.size(), 1u);
        write(kMt7921IntSta, ~0u); // ack; a new event raises a new edge
        queue_tx(2, 500);
        write(mt7921_tx_cpu_idx(0), tx->kick());
    });
    ASSERT_EQ(msi->accesses.size(), 2u);
    EXPECT_EQ(msi->accesses[0].at, 1 * kMs + p_.msi_latency);
    EXPECT_GT(msi->accesses[1].at, 2 * kMs);
    EXPECT_EQ(nic->msis, 2u);
}

TEST_F(WifiDevTest, SaturatingRxFlowFillsPostedBuffersAndHoldsTheRestInTheFifo) {
    build(params(), 4); // 4 buffers posted
    std::uint32_t flow = 0;
    run(
        [&] {
            setup_regs();
            flow = nic->add_rx_flow(1500, 0);
            wait_until(400 * kUs);
            nic->stop_rx();
        },
        10 * kMs);
    // HE 80 MHz 2x2 MCS 11: the first A-MPDU carries many more than 4 + rx_fifo frames.
    const std::size_t agg = nic->air().max_aggregate(1500);
    ASSERT_GT(agg, 4u + p_.rx_fifo);
    EXPECT_EQ(nic->rx_ampdus, 1u);
    EXPECT_EQ(nic->rx_packets, agg);
    EXPECT_EQ(nic->rx_dropped, agg - 4 - p_.rx_fifo);
    EXPECT_EQ(rx->dma_idx(), 4u);
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_TRUE(rx->desc(i).done);
        EXPECT_FALSE(info[i].tx_free);
        EXPECT_EQ(info[i].flow, flow);
        EXPECT_EQ(info[i].ip_bytes, 1500u);
        EXPECT_EQ(info[i].len, kMt7921RxdBytes + kEthHeaderBytes + 1500u);
        const AirParams& ap = nic->air().params();
        EXPECT_EQ(info[i].air_at, nic->air().airtime(agg, 1500) - ap.sifs - ap.block_ack);
    }
}

// Without an on-chip FIFO, frames that find a posted buffer still land; only the rest are lost.
TEST_F(WifiDevTest, WithoutAFifoOnlyFramesWithoutABufferAreDropped) {
    Mt7921Params p = params();
    p.rx_fifo = 0;
    build(p, 4);
    run(
        [&] {
            setup_regs();
            nic->add_rx_flow(1500, 0);
            wait_until(400 * kUs);
            nic->stop_rx();
        },
        10 * kMs);
    const std::size_t agg = nic->air().max_aggregate(1500);
    EXPECT_EQ(nic->rx_packets, agg);
    EXPECT_EQ(rx->dma_idx(), 4u);
    EXPECT_EQ(nic->rx_dropped, agg - 4);
}

TEST_F(WifiDevTest, RxDoorbellReleasesFramesThatWaitedForABuffer) {
    build(params(), 0);
    run(
        [&] {
            write(kMt7921IntEna, kMt7921IntRxDoneData);
            nic->add_rx_flow(1000, 0);
            wait_until(3 * kMs); // first A-MPDU done, FIFO full
            nic->stop_rx();
            EXPECT_EQ(rx->dma_idx(), 0u);
            for (int i = 0; i < 5; ++i)
                post_rx();
            write(mt7921_rx_cpu_idx(0), rx->kick());
        },
        20 * kMs);
    EXPECT_EQ(rx->dma_idx(), 5u);
    const auto bufs = at_addr(kRxBufs, kRxBufs + kRing * 2048);
    ASSERT_EQ(bufs.size(), 5u);
    for (const auto& b : bufs)
        EXPECT_GE(b.at, 3 * kMs);
    EXPECT_EQ(msi->accesses.size(), 1u);
}

TEST_F(WifiDevTest, PacedRxFlowDeliversItsRate) {
    build(params());
    constexpr double rate = 20e6; // 20 Mb/s of 1250-byte packets: one per 500 us
    run(
        [&] {
            setup_regs();
            nic->add_rx_flow(1250, rate);
            // The host keeps reposting consumed buffers.
            for (int i = 0; i < 20; ++i) {
                wait_until(i * 500 * kUs + 250 * kUs);
                while (auto s = rx->reap()) {
                    (void)s;
                    post_rx();
                }
                write(mt7921_rx_cpu_idx(0), rx->kick());
            }
            nic->stop_rx(); // at 9.75 ms
        },
        20 * kMs);
    // Arrivals at 0, 500, ..., 9500 us: 20 packets; each access (~230 us) ends before the next
    // arrival, so each goes alone.
    EXPECT_LT(nic->air().airtime(1, 1250), 250 * kUs);
    EXPECT_EQ(nic->rx_packets, 20u);
    EXPECT_EQ(nic->rx_dropped, 0u);
    EXPECT_EQ(nic->rx_ampdus, 20u);
}

TEST_F(WifiDevTest, RegisterDecoding) {
    build(params());
    StubInitiator::Result rd{}, unknown{}, wide{}, ok{};
    run([&] {
        std::uint32_t v = 0;
        rd = host->read(kMt7921IntSta, &v, 4);
        unknown = write(mt7921_tx_cpu_idx(1), 1);
        std::uint64_t w = 0;
        wide = host->write(kMt7921IntEna, &w, 8);
        ok = write(kMt7921IntEna, 0);
    });
    EXPECT_EQ(rd.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(unknown.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(wide.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(ok.status, tlm::TLM_OK_RESPONSE);
    EXPECT_TRUE(dma->accesses.empty());
}

TEST_F(WifiDevTest, TxAndRxShareTheAirAndAlternate) {
    build(params());
    run(
        [&] {
            setup_regs();
            nic->add_rx_flow(1500, 0);
            wait_until(10 * kUs); // the AP's first A-MPDU is on the air
            for (std::uint16_t t = 0; t < 4; ++t)
                queue_tx(t, 1500);
            write(mt7921_tx_cpu_idx(0), tx->kick());
            wait_until(12 * kMs);
            nic->stop_rx();
        },
        30 * kMs);
    EXPECT_EQ(nic->tx_packets, 4u);
    EXPECT_GE(nic->rx_ampdus, 2u);
    // Busy time is the sum of the accesses: the channel never carried two at once.
    EXPECT_LE(nic->air_busy_ps, 30 * kMs);
}

TEST_F(WifiDevTest, TxRingWrapsAndDmaIdxFollowsTheCpuIdx) {
    build(params());
    std::vector<std::uint16_t> reported;
    run([&] {
        setup_regs();
        for (std::uint16_t t = 0; t < 10; ++t)
            queue_tx(t, 1000);
        write(mt7921_tx_cpu_idx(0), tx->kick());
        wait_until(2 * kMs);
        EXPECT_EQ(tx->dma_idx(), 10u);
        while (tx->reap()) {
        } // mt76_dma_tx_cleanup
        EXPECT_EQ(tx->pending(), 0u);
        // Ten more: slots 10..15 then 0..3.
        for (std::uint16_t t = 10; t < 20; ++t)
            queue_tx(t, 1000);
        EXPECT_EQ(tx->kick(), 4u);
        write(mt7921_tx_cpu_idx(0), tx->kick());
    });
    EXPECT_EQ(nic->tx_packets, 20u);
    EXPECT_EQ(nic->desc_fetches, 20u);
    EXPECT_EQ(tx->dma_idx(), 4u);
    // The TX-free events carry every token once, in order.
    for (std::uint32_t i = 0; i < rx->dma_idx(); ++i)
        for (std::uint16_t t : info[i].ev.tokens)
            reported.push_back(t);
    ASSERT_EQ(reported.size(), 20u);
    for (std::uint16_t t = 0; t < 20; ++t)
        EXPECT_EQ(reported[t], t);
    // Descriptor fetches wrapped to the ring's start.
    const auto desc = at_addr(kTxDesc, kTxDesc + kRing * kMt76DescBytes);
    std::size_t at_slot0 = 0;
    for (const auto& a : desc)
        at_slot0 += !a.write && a.addr == kTxDesc;
    EXPECT_EQ(at_slot0, 2u);
}

// A data fetch the IOMMU blocks (an error response): the frame is dropped, not sent (counted in
// tx_dma_dropped), its token still comes back in a TX-free event so that the driver unmaps and
// frees the buffer; the other packet goes out.
TEST_F(WifiDevTest, ADataFetchErrorDropsTheFrameAndStillReportsItsToken) {
    build(params());
    dma->fail(kData + 4096 * 3, kData + 4096 * 4);
    run([&] {
        setup_regs();
        queue_tx(3, 1500);
        queue_tx(4, 1500);
        write(mt7921_tx_cpu_idx(0), tx->kick());
        wait_until(now() + 2 * kMs);
    });
    EXPECT_EQ(nic->dma_errors, 1u);
    EXPECT_EQ(nic->tx_dma_dropped, 1u);
    EXPECT_EQ(nic->tx_packets, 1u); // only token 4 went on the air
    EXPECT_EQ(nic->tx_subframes, 1u);
    std::vector<std::uint16_t> reported;
    for (std::uint32_t i = 0; i < nic->tx_free_events; ++i)
        for (std::uint16_t t : info[i].ev.tokens)
            reported.push_back(t);
    std::sort(reported.begin(), reported.end());
    EXPECT_EQ(reported, std::vector<std::uint16_t>({3, 4}));
    EXPECT_TRUE(tx->desc(0).done);
    EXPECT_TRUE(tx->desc(1).done);
}

// Two cores' kicks can arrive out of lock order under temporal decoupling: a CPU_IDX behind the
// register (or beyond what the driver posted) is dropped instead of making the WFDMA fetch the
// whole ring again.
TEST_F(WifiDevTest, AStaleCpuIdxWriteIsDropped) {
    build(params());
    run([&] {
        setup_regs();
        for (std::uint16_t t = 0; t < 3; ++t)
            queue_tx(t, 1000);
        write(mt7921_tx_cpu_idx(0), 3);
        write(mt7921_tx_cpu_idx(0), 2); // the earlier kick, late
        wait_until(1 * kMs);
        write(mt7921_tx_cpu_idx(0), 9); // beyond the posted descriptors
    });
    EXPECT_EQ(nic->stale_doorbells, 2u);
    EXPECT_EQ(nic->desc_fetches, 3u);
    EXPECT_EQ(nic->tx_packets, 3u);
    EXPECT_EQ(tx->dma_idx(), 3u);
}
