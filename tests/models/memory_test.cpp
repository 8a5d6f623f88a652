// Memory through its socket: latency plus per-channel bandwidth, queueing on a channel, the 4 KiB
// channel interleave, address errors, the backing store, debug access. PageAllocator: scattered
// single pages, aligned contiguous runs, exhaustion.
#include "models/common/stubs.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "tests/harness/sc_test.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::test::ScTest;

namespace {

// Whole picoseconds to move `bytes` at an integer `bytes_per_s`, rounded up: the expectation is
// computed in integers, independently of transfer_time's floating point.
Time xfer_ps(std::uint64_t bytes, std::uint64_t bytes_per_s) {
    const unsigned __int128 num = static_cast<unsigned __int128>(bytes) * 1'000'000'000'000ull;
    return static_cast<Time>((num + bytes_per_s - 1) / bytes_per_s);
}

class MemoryTest : public ScTest {
protected:
    static constexpr std::uint64_t kChannelBw = 12'800'000'000; // bytes/s: 25.6 GB/s over 2

    MemoryParams params() const {
        MemoryParams p;
        p.size = 1ull << 30;
        p.latency = 90 * kNs;
        p.bandwidth = 2.0 * kChannelBw;
        p.channels = 2;
        p.backing_store = false;
        return p;
    }
    void build(const MemoryParams& p) {
        mem = std::make_unique<Memory>("memory", p);
        dma = std::make_unique<StubInitiator>("dma");
        walk = std::make_unique<StubInitiator>("walk");
        dma->out.bind(mem->in);
        walk->out.bind(mem->in); // a multi-passthrough socket: DMA and page walks share DRAM
    }

    std::unique_ptr<Memory> mem;
    std::unique_ptr<StubInitiator> dma, walk;
};

} // namespace

TEST_F(MemoryTest, ReadAndWriteCostLatencyPlusTransferAtChannelBandwidth) {
    build(params());
    const Time x4k = xfer_ps(4096, kChannelBw);
    ASSERT_EQ(x4k, 320 * kNs); // 4096 B at 12.8 GB/s
    StubInitiator::Result rd{}, wr{}, late{};
    run([&] {
        rd = dma->read(0x0, nullptr, 4096);
        wait_until(10 * kUs); // channel idle again
        wr = dma->write(0x0, nullptr, 4096);
        wait_until(20 * kUs);
        late = dma->read(0x40, nullptr, 64, 1 * kUs); // the annotated delay is the arrival offset
    });
    EXPECT_EQ(rd.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(rd.delay, x4k + 90 * kNs);
    EXPECT_EQ(wr.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(wr.delay, x4k + 90 * kNs);
    EXPECT_EQ(late.delay, 1 * kUs + xfer_ps(64, kChannelBw) + 90 * kNs);
    EXPECT_EQ(mem->reads, 2u);
    EXPECT_EQ(mem->writes, 1u);
    EXPECT_EQ(mem->read_bytes, 4096u + 64u);
    EXPECT_EQ(mem->write_bytes, 4096u);
    EXPECT_EQ(mem->busy_ps, 2 * x4k + xfer_ps(64, kChannelBw));
}

TEST_F(MemoryTest, TransfersOnOneChannelQueueAndOnAnotherDoNot) {
    build(params());
    const Time x = xfer_ps(4096, kChannelBw);
    const Time lat = 90 * kNs;
    StubInitiator::Result a{}, b{}, c{}, d{}, e{};
    run([&] {
        // Channels interleave on 4 KiB: with 2 channels, 0x0 and 0x2000 share channel 0, 0x1000
        // is channel 1.
        a = dma->read(0x0000, nullptr, 4096);
        b = dma->read(0x2000, nullptr, 4096);  // behind a
        c = dma->read(0x1000, nullptr, 4096);  // other channel: no wait
        d = walk->read(0x2ff8, nullptr, 8);    // last bytes of a channel-0 page, other initiator
        e = walk->read(0x3000, nullptr, 8, x); // channel 1, arrives as c ends
    });
    EXPECT_EQ(a.delay, x + lat);
    EXPECT_EQ(b.delay, 2 * x + lat);
    EXPECT_EQ(c.delay, x + lat);
    EXPECT_EQ(d.delay, 2 * x + xfer_ps(8, kChannelBw) + lat);
    EXPECT_EQ(e.delay, x + xfer_ps(8, kChannelBw) + lat);
}

TEST_F(MemoryTest, ALaterArrivalWaitsOnlyForTheRemainderOfTheTransferAhead) {
    build(params());
    const Time x = xfer_ps(4096, kChannelBw);
    StubInitiator::Result a{}, b{};
    run([&] {
        a = dma->write(0x0, nullptr, 4096);
        wait_until(x / 4);
        b = dma->write(0x4000, nullptr, 4096); // channel 0 again, busy until x
    });
    EXPECT_EQ(a.delay, x + 90 * kNs);
    EXPECT_EQ(b.delay, (x - x / 4) + x + 90 * kNs);
}

TEST_F(MemoryTest, MoreChannelsSplitTheBandwidth) {
    MemoryParams p = params();
    p.channels = 4; // 6.4 GB/s each
    build(p);
    StubInitiator::Result r[4]{};
    run([&] {
        for (int i = 0; i < 4; ++i)
            r[i] = dma->read(0x1000ull * i, nullptr, 4096);
    });
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(r[i].delay, xfer_ps(4096, 2 * kChannelBw / 4) + 90 * kNs) << i;
}

TEST_F(MemoryTest, OutOfRangeIsAnAddressErrorAndCountsNothing) {
    build(params());
    const std::uint64_t size = params().size;
    StubInitiator::Result past{}, straddle{}, last{};
    run([&] {
        past = dma->read(size, nullptr, 4, 5 * kNs);
        straddle = dma->write(size - 8, nullptr, 16);
        last = dma->read(size - 16, nullptr, 16);
    });
    EXPECT_EQ(past.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(past.delay, 5 * kNs); // untouched
    EXPECT_EQ(straddle.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(last.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(mem->reads, 1u);
    EXPECT_EQ(mem->writes, 0u);
    EXPECT_EQ(mem->busy_ps, xfer_ps(16, kChannelBw));
}

TEST_F(MemoryTest, BackingStoreOnKeepsWrittenData) {
    MemoryParams p = params();
    p.backing_store = true;
    build(p);
    std::vector<std::uint8_t> out(5000), in(5000, 0xEE), untouched(64, 0xEE);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::uint8_t>(i * 7 + 3);
    run([&] {
        dma->write(0x12345, out.data(), 5000); // straddles two pages
        dma->read(0x12345, in.data(), 5000);
        dma->read(0x800000, untouched.data(), 64); // never written: zeros
    });
    EXPECT_EQ(in, out);
    EXPECT_EQ(untouched, std::vector<std::uint8_t>(64, 0));
    EXPECT_EQ(mem->store().pages(), 2u);
}

TEST_F(MemoryTest, BackingStoreOffMovesNoData) {
    build(params());
    std::vector<std::uint8_t> out(4096, 0x5A), in(4096, 0xEE);
    StubInitiator::Result w{}, r{};
    run([&] {
        w = dma->write(0x10000, out.data(), 4096);
        r = dma->read(0x10000, in.data(), 4096);
    });
    EXPECT_EQ(w.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(in, std::vector<std::uint8_t>(4096, 0xEE)); // the read left the buffer alone
    EXPECT_EQ(mem->store().pages(), 0u);
}

TEST_F(MemoryTest, DebugAccessMovesDataButNoTimeAndNoCounters) {
    MemoryParams p = params();
    p.backing_store = true;
    build(p);
    std::uint64_t v = 0x0123456789abcdefull, back = 0;
    unsigned nw = 0, nr = 0, nbad = 0;
    StubInitiator::Result timed{};
    run([&] {
        nw = dma->debug(true, 0x2000, &v, 8);
        nr = dma->debug(false, 0x2000, &back, 8);
        nbad = dma->debug(false, p.size - 4, &back, 8);
        timed = dma->read(0x2000, nullptr, 4096); // the channel was not occupied by the above
    });
    EXPECT_EQ(nw, 8u);
    EXPECT_EQ(nr, 8u);
    EXPECT_EQ(nbad, 0u);
    EXPECT_EQ(back, v);
    EXPECT_EQ(timed.delay, xfer_ps(4096, kChannelBw) + 90 * kNs);
    EXPECT_EQ(mem->reads, 1u);
    EXPECT_EQ(mem->writes, 0u);
    EXPECT_EQ(mem->write_bytes, 0u);
    EXPECT_EQ(mem->busy_ps, xfer_ps(4096, kChannelBw));
}

// ---------------------------------------------------------------- PageAllocator

TEST(PageAllocator, SinglePagesAreDistinctAlignedAndScattered) {
    constexpr std::uint64_t base = 1ull << 30, pool = 4096;
    PageAllocator pa(base, 1ull << 30, 7, pool);
    std::vector<std::uint64_t> pages;
    for (int i = 0; i < 1000; ++i)
        pages.push_back(pa.alloc_page());
    std::set<std::uint64_t> distinct(pages.begin(), pages.end());
    EXPECT_EQ(distinct.size(), pages.size());
    unsigned adjacent = 0;
    for (std::size_t i = 0; i < pages.size(); ++i) {
        EXPECT_EQ(pages[i] % 4096, 0u);
        EXPECT_GE(pages[i], base);
        EXPECT_LT(pages[i], base + pool * 4096); // from the shuffled pool
        if (i && (pages[i] == pages[i - 1] + 4096 || pages[i - 1] == pages[i] + 4096)) ++adjacent;
    }
    // A shuffled pool of 4096 pages: a neighbour follows with probability ~2/4096 per step.
    EXPECT_LE(adjacent, 10u);
    EXPECT_EQ(pa.allocated_pages(), 1000u);

    PageAllocator same(base, 1ull << 30, 7, pool), other(base, 1ull << 30, 8, pool);
    std::vector<std::uint64_t> again, different;
    for (int i = 0; i < 1000; ++i) {
        again.push_back(same.alloc_page());
        different.push_back(other.alloc_page());
    }
    EXPECT_EQ(again, pages); // deterministic in the seed
    EXPECT_NE(different, pages);
}

TEST(PageAllocator, FreedPageIsReusedFirst) {
    PageAllocator pa(1ull << 30, 64ull << 20, 1, 1024);
    const std::uint64_t a = pa.alloc_page();
    pa.alloc_page();
    pa.free_page(a);
    EXPECT_EQ(pa.allocated_pages(), 1u);
    EXPECT_EQ(pa.alloc_page(), a);
}

TEST(PageAllocator, ContiguousRunsAreAlignedAndDoNotOverlap) {
    constexpr std::uint64_t base = (1ull << 30) + 4096; // an unaligned region start
    constexpr std::uint64_t pool = 256;
    PageAllocator pa(base, 1ull << 30, 1, pool);
    const std::uint64_t a = pa.alloc_contiguous(3);
    const std::uint64_t b = pa.alloc_contiguous(512, 2ull << 20);
    const std::uint64_t c = pa.alloc_contiguous(1, 64 * 1024);
    EXPECT_EQ(a % 4096, 0u);
    EXPECT_GE(a, base + pool * 4096); // after the scatter pool
    EXPECT_EQ(b % (2ull << 20), 0u);
    EXPECT_GE(b, a + 3 * 4096);
    EXPECT_EQ(c % (64 * 1024), 0u);
    EXPECT_GE(c, b + 512 * 4096);
    EXPECT_EQ(pa.allocated_pages(), 3u + 512u + 1u);
}

TEST(PageAllocator, ExhaustionThrows) {
    // 64 pages: half go to the scatter pool, half to contiguous runs.
    PageAllocator pa(1ull << 30, 64 * 4096, 1);
    EXPECT_THROW(pa.alloc_contiguous(33), std::runtime_error);
    EXPECT_EQ(pa.alloc_contiguous(32) % 4096, 0u);
    EXPECT_THROW(pa.alloc_contiguous(1), std::runtime_error);
    std::set<std::uint64_t> singles;
    for (int i = 0; i < 32; ++i)
        singles.insert(pa.alloc_page());
    EXPECT_EQ(singles.size(), 32u);
    EXPECT_THROW(pa.alloc_page(), std::runtime_error); // pool empty, no room for a run
    EXPECT_EQ(pa.allocated_pages(), 64u);
}
