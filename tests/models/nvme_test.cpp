// NvmeCtrl through in_regs / out_dma / irq_out, with a hand-built queue pair: SQE fetch, PRP and
// PRP-list data transfers with the LBA pattern, CQE posting and MSI-X, read and program
// latencies, die and channel contention, DMA errors, interrupt coalescing.
#include "models/common/stubs.h"
#include "models/nvme/nvme_ctrl.h"
#include "tests/harness/sc_test.h"

#include <memory>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::StubTarget;
using iosim::test::ScTest;

namespace {

constexpr Time kDma = 1 * kUs;  // the host side's answer time per DMA (link + IOMMU + DRAM)
constexpr Time kPerByte = 1000; // channel_bandwidth 1 GB/s: one byte per ns
constexpr std::uint64_t kSq = 0x10000, kCq = 0x20000;
constexpr std::uint32_t kVector = 5;

class NvmeTest : public ScTest {
protected:
    NvmeCtrlParams params() const {
        NvmeCtrlParams p;
        p.requester_id = 0x0100;
        p.controller_cores = 4;
        p.cmd_latency = 1500 * kNs;
        p.channels = 4;
        p.dies_per_channel = 2;
        p.read_latency = 45 * kUs;
        p.program_latency = 12 * kUs;
        p.channel_bandwidth = 1e9;
        p.flash_page = 16384;
        p.msi_latency = 300 * kNs;
        p.generate_data = true;
        return p;
    }
    void build(const NvmeCtrlParams& p) {
        p_ = p;
        ctrl = std::make_unique<NvmeCtrl>("nvme", p);
        host = std::make_unique<StubInitiator>("host");
        dma = std::make_unique<StubTarget>("dma", kDma);
        msi = std::make_unique<StubTarget>("msi");
        host->out.bind(ctrl->in_regs);
        ctrl->out_dma.bind(dma->in);
        ctrl->irq_out.bind(msi->in);
        q.qid = 1;
        q.depth = 16;
        q.sq_dma = kSq;
        q.cq_dma = kCq;
        q.vector = kVector;
        q.sq.resize(q.depth);
        q.cq.resize(q.depth);
        ctrl->create_io_queue(&q);
    }
    // Host side of nvme_submit_cmd: the SQE into the ring (no doorbell).
    void put(const NvmeSqe& sqe) {
        q.sq[q.sq_tail] = sqe;
        q.sq_tail = (q.sq_tail + 1) % q.depth;
    }
    StubInitiator::Result ring() {
        std::uint32_t tail = q.sq_tail;
        return host->write(nvme_sq_doorbell(q.qid), &tail, 4);
    }
    static NvmeSqe read_sqe(std::uint16_t cid, std::uint64_t offset, std::uint32_t bytes,
                            std::uint64_t prp1, std::uint64_t prp2 = 0, std::uint32_t prps = 1,
                            const std::uint64_t* list = nullptr) {
        NvmeSqe s;
        s.opcode = NvmeOpcode::Read;
        s.cid = cid;
        s.offset = offset;
        s.bytes = bytes;
        s.prp1 = prp1;
        s.prp2 = prp2;
        s.prp_count = prps;
        s.prp_list = list;
        return s;
    }
    static Time xfer(std::uint64_t bytes) { return bytes * kPerByte; }
    // Every 8-byte word of a data write is the pattern of its namespace offset.
    static void expect_pattern(const StubTarget::Access& a, std::uint64_t offset) {
        ASSERT_EQ(a.data.size(), a.len);
        for (std::size_t w = 0; w < a.len / 8; ++w)
            ASSERT_EQ(a.word(w), nvme_pattern_word(offset + 8 * w)) << "word " << w;
    }

    NvmeCtrlParams p_;
    NvmeQueuePair q;
    std::unique_ptr<NvmeCtrl> ctrl;
    std::unique_ptr<StubInitiator> host;
    std::unique_ptr<StubTarget> dma, msi;
};

} // namespace

TEST_F(NvmeTest, Read4KiBFetchesTheSqeMovesThePatternPostsTheCqeAndSignals) {
    build(params());
    constexpr std::uint64_t offset = 5 * 16384 + 8192; // flash page 5: channel 1, die 1
    constexpr std::uint64_t prp1 = 0x8000'3000;
    StubInitiator::Result db{};
    run([&] {
        wait_until(2 * kUs);
        put(read_sqe(7, offset, 4096, prp1));
        db = ring();
    });
    constexpr Time t0 = 2 * kUs;
    const Time done = t0 + kDma + p_.cmd_latency + p_.read_latency + xfer(4096);
    EXPECT_EQ(db.status, tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(dma->accesses.size(), 3u);
    const auto& sqe = dma->accesses[0];
    EXPECT_FALSE(sqe.write);
    EXPECT_EQ(sqe.addr, kSq);
    EXPECT_EQ(sqe.len, 64u);
    EXPECT_EQ(sqe.at, t0);
    const auto& data = dma->accesses[1];
    EXPECT_TRUE(data.write);
    EXPECT_EQ(data.addr, prp1);
    EXPECT_EQ(data.len, 4096u);
    EXPECT_EQ(data.at, done);
    expect_pattern(data, offset);
    const auto& cqe = dma->accesses[2];
    EXPECT_TRUE(cqe.write);
    EXPECT_EQ(cqe.addr, kCq);
    EXPECT_EQ(cqe.len, 16u);
    EXPECT_EQ(cqe.at, done + kDma);
    EXPECT_EQ(q.cq[0].cid, 7u);
    EXPECT_EQ(q.cq[0].status, 0u);
    EXPECT_EQ(q.cq_tail, 1u);
    EXPECT_EQ(q.sq_head, 1u);
    ASSERT_EQ(msi->accesses.size(), 1u);
    EXPECT_EQ(msi->accesses[0].u32(), kVector);
    EXPECT_EQ(msi->accesses[0].at, done + 2 * kDma + p_.msi_latency);
    EXPECT_GE(msi->accesses[0].at, t0 + p_.cmd_latency + p_.read_latency + xfer(4096));
    EXPECT_EQ(ctrl->commands, 1u);
    EXPECT_EQ(ctrl->reads, 1u);
    EXPECT_EQ(ctrl->bytes_read, 4096u);
    EXPECT_EQ(ctrl->sqe_fetches, 1u);
    EXPECT_EQ(ctrl->msis, 1u);
    EXPECT_EQ(ctrl->dma_errors, 0u);
}

TEST_F(NvmeTest, TwoPrpReadSplitsAtThePageBoundaryOfPrp1) {
    build(params());
    constexpr std::uint64_t prp1 = 0x8000'3200, prp2 = 0x9000'7000; // prp1 with an offset
    run([&] {
        put(read_sqe(1, 0, 4096, prp1, prp2, 2));
        ring();
    });
    const Time done = kDma + p_.cmd_latency + p_.read_latency + xfer(4096);
    ASSERT_EQ(dma->accesses.size(), 4u);
    const auto& a = dma->accesses[1];
    const auto& b = dma->accesses[2];
    EXPECT_EQ(a.addr, prp1);
    EXPECT_EQ(a.len, 4096u - 0x200u);
    EXPECT_EQ(a.at, done);
    expect_pattern(a, 0);
    EXPECT_EQ(b.addr, prp2);
    EXPECT_EQ(b.len, 0x200u);
    EXPECT_EQ(b.at, done + kDma); // posted writes stream one after the other
    expect_pattern(b, 4096 - 0x200);
    EXPECT_EQ(dma->accesses[3].addr, kCq);
}

TEST_F(NvmeTest, Read8KiBUsesPrp1AndPrp2) {
    build(params());
    constexpr std::uint64_t offset = 3 * 16384, prp1 = 0x8000'3000, prp2 = 0x9000'7000;
    run([&] {
        put(read_sqe(2, offset, 8192, prp1, prp2, 2));
        ring();
    });
    const Time done = kDma + p_.cmd_latency + p_.read_latency + xfer(8192);
    ASSERT_EQ(dma->accesses.size(), 4u);
    EXPECT_EQ(dma->accesses[1].addr, prp1);
    EXPECT_EQ(dma->accesses[1].len, 4096u);
    EXPECT_EQ(dma->accesses[1].at, done);
    expect_pattern(dma->accesses[1], offset);
    EXPECT_EQ(dma->accesses[2].addr, prp2);
    EXPECT_EQ(dma->accesses[2].len, 4096u);
    expect_pattern(dma->accesses[2], offset + 4096);
    EXPECT_EQ(dma->accesses[3].at, done + 2 * kDma);
    EXPECT_EQ(msi->accesses.at(0).at, done + 3 * kDma + p_.msi_latency);
    EXPECT_EQ(q.cq[0].cid, 2u);
}

TEST_F(NvmeTest, Read64KiBFetchesThePrpListAndReadsFlashPagesInParallel) {
    build(params());
    constexpr unsigned n = 16;
    constexpr std::uint64_t list_dma = 0xA000'0000;
    std::vector<std::uint64_t> pages(n);
    for (unsigned i = 0; i < n; ++i)
        pages[i] = 0x1'0000'0000 + (i * 7919ull % 101) * 4096;
    run([&] {
        put(read_sqe(9, 0, n * 4096, pages[0], list_dma, n, pages.data() + 1));
        ring();
    });
    ASSERT_EQ(dma->accesses.size(), 2u + n + 1u);
    const auto& list = dma->accesses[1];
    EXPECT_FALSE(list.write);
    EXPECT_EQ(list.addr, list_dma);
    EXPECT_EQ(list.len, 8u * (n - 1));
    EXPECT_EQ(list.at, kDma + p_.cmd_latency);
    // Four 16 KiB flash pages on four channels: one tR, one page transfer.
    const Time done = 2 * kDma + p_.cmd_latency + p_.read_latency + xfer(16384);
    for (unsigned i = 0; i < n; ++i) {
        const auto& d = dma->accesses[2 + i];
        EXPECT_TRUE(d.write);
        EXPECT_EQ(d.addr, pages[i]) << i;
        EXPECT_EQ(d.len, 4096u);
        EXPECT_EQ(d.at, done + i * kDma) << i;
        expect_pattern(d, i * 4096ull);
    }
    EXPECT_EQ(dma->accesses.back().addr, kCq);
    EXPECT_EQ(dma->accesses.back().at, done + n * kDma);
    EXPECT_EQ(ctrl->bytes_read, n * 4096u);
}

TEST_F(NvmeTest, WriteReadsTheHostDataFirstAndTakesTheProgramLatency) {
    build(params());
    constexpr std::uint64_t offset = 2 * 16384, prp1 = 0x8000'5000;
    NvmeSqe s = read_sqe(4, offset, 4096, prp1);
    s.opcode = NvmeOpcode::Write;
    run([&] {
        put(s);
        ring();
    });
    // SQE, data read from the host, channel transfer into the die, tPROG.
    const Time done = kDma + p_.cmd_latency + kDma + xfer(4096) + p_.program_latency;
    ASSERT_EQ(dma->accesses.size(), 3u);
    const auto& data = dma->accesses[1];
    EXPECT_FALSE(data.write);
    EXPECT_EQ(data.addr, prp1);
    EXPECT_EQ(data.len, 4096u);
    EXPECT_EQ(data.at, kDma + p_.cmd_latency);
    const auto& cqe = dma->accesses[2];
    EXPECT_TRUE(cqe.write);
    EXPECT_EQ(cqe.addr, kCq);
    EXPECT_EQ(cqe.at, done);
    EXPECT_EQ(msi->accesses.at(0).at, done + kDma + p_.msi_latency);
    EXPECT_EQ(q.cq[0].status, 0u);
    EXPECT_EQ(ctrl->writes, 1u);
    EXPECT_EQ(ctrl->bytes_written, 4096u);
    EXPECT_EQ(ctrl->reads, 0u);
}

TEST_F(NvmeTest, ReadsOnOneDieSerialiseAndOnOtherChannelsRunInParallel) {
    const NvmeCtrlParams p = params();
    build(p);
    const std::uint64_t stride = std::uint64_t{p.channels} * p.dies_per_channel; // same die
    std::vector<Time> cqe_at;
    run([&] {
        put(read_sqe(1, 1 * 16384, 4096, 0x8000'0000));
        put(read_sqe(2, (1 + stride) * 16384, 4096, 0x8000'1000)); // channel 1, die 0 again
        ring();
        wait_until(1 * kMs);
        put(read_sqe(3, 1 * 16384, 4096, 0x8000'2000));
        put(read_sqe(4, 2 * 16384, 4096, 0x8000'3000)); // channel 2
        ring();
    });
    for (const auto& a : dma->accesses)
        if (a.write && a.addr >= kCq && a.addr < kCq + 16 * 16) cqe_at.push_back(a.at);
    ASSERT_EQ(cqe_at.size(), 4u);
    const Time done = kDma + p.cmd_latency + p.read_latency + xfer(4096);
    EXPECT_EQ(cqe_at[0], done + kDma);
    EXPECT_EQ(cqe_at[1] - cqe_at[0], p.read_latency); // waits for the die
    EXPECT_GE(cqe_at[1] - cqe_at[0], p.read_latency);
    EXPECT_EQ(cqe_at[2], 1 * kMs + done + kDma);
    EXPECT_EQ(cqe_at[3], cqe_at[2]); // in parallel
    EXPECT_EQ(q.cq[0].cid, 1u);
    EXPECT_EQ(q.cq[1].cid, 2u);
    EXPECT_EQ(ctrl->sqe_fetches, 4u);
}

TEST_F(NvmeTest, TwoReadsOnOneChannelShareItsTransfer) {
    const NvmeCtrlParams p = params();
    build(p);
    std::vector<Time> data_at;
    run([&] {
        put(read_sqe(1, 0 * 16384, 4096, 0x8000'0000)); // channel 0, die 0
        put(read_sqe(2, 4 * 16384, 4096, 0x9000'0000)); // channel 0, die 1
        ring();
    });
    for (const auto& a : dma->accesses)
        if (a.write && (a.addr == 0x8000'0000 || a.addr == 0x9000'0000)) data_at.push_back(a.at);
    ASSERT_EQ(data_at.size(), 2u);
    const Time tr_end = kDma + p.cmd_latency + p.read_latency; // both dies done together
    EXPECT_EQ(data_at[0], tr_end + xfer(4096));
    EXPECT_EQ(data_at[1], tr_end + 2 * xfer(4096)); // then the channel one after the other
}

TEST_F(NvmeTest, DataDmaErrorCompletesWithAnErrorStatus) {
    build(params());
    dma->fail(0x8000'0000, 0x8000'1000);
    run([&] {
        put(read_sqe(3, 0, 4096, 0x8000'0000));
        put(read_sqe(4, 16384, 4096, 0x8000'1000)); // unaffected
        ring();
    });
    ASSERT_EQ(q.cq_tail, 2u);
    EXPECT_EQ(q.cq[0].cid, 3u);
    EXPECT_EQ(q.cq[0].status, 0x4u); // data transfer error
    EXPECT_EQ(q.cq[1].cid, 4u);
    EXPECT_EQ(q.cq[1].status, 0u);
    EXPECT_EQ(ctrl->dma_errors, 1u);
    EXPECT_EQ(ctrl->msis, 2u);
}

TEST_F(NvmeTest, SqeFetchErrorCompletesWithAnErrorAndMovesNoData) {
    build(params());
    dma->fail(kSq, kSq + 64);
    run([&] {
        put(read_sqe(3, 0, 4096, 0x8000'0000));
        ring();
    });
    EXPECT_EQ(q.cq[0].status, 0x4u);
    EXPECT_EQ(ctrl->dma_errors, 1u);
    for (const auto& a : dma->accesses)
        EXPECT_NE(a.addr, 0x8000'0000u);
    EXPECT_EQ(msi->accesses.size(), 1u);
}

TEST_F(NvmeTest, CoalescingSendsOneMsiForTheCountAndOneAfterTheTimeForAFew) {
    NvmeCtrlParams p = params();
    p.coalesce_count = 4;
    p.coalesce_time = 100 * kUs;
    build(p);
    constexpr Time t1 = 500 * kUs;
    run([&] {
        for (std::uint16_t i = 0; i < 4; ++i)
            put(read_sqe(i, i * 16384ull, 4096, 0x8000'0000));
        ring();
        wait_until(t1);
        put(read_sqe(9, 0, 4096, 0x8000'0000));
        ring();
    });
    const Time done = kDma + p.cmd_latency + p.read_latency + xfer(4096); // all four together
    ASSERT_EQ(msi->accesses.size(), 2u);
    EXPECT_EQ(msi->accesses[0].at, done + 2 * kDma + p.msi_latency); // at the fourth CQE
    // One completion: the aggregation time runs from its CQE.
    EXPECT_EQ(msi->accesses[1].at, t1 + done + 2 * kDma + p.coalesce_time + p.msi_latency);
    EXPECT_EQ(ctrl->msis, 2u);
    EXPECT_EQ(q.cq_tail, 5u);
}

TEST_F(NvmeTest, DoorbellRegisters) {
    build(params());
    std::uint32_t v = 3;
    StubInitiator::Result cq{}, unknown_q{}, below{}, rd{};
    run([&] {
        cq = host->write(nvme_cq_doorbell(1), &v, 4);
        unknown_q = host->write(nvme_sq_doorbell(2), &v, 4);
        below = host->write(0x0ffc, &v, 4);
        rd = host->read(nvme_sq_doorbell(1), &v, 4);
    });
    EXPECT_EQ(cq.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(q.cq_head_db, 3u);
    EXPECT_EQ(unknown_q.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(below.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(rd.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_TRUE(dma->accesses.empty());
}

// A doorbell while a command is in flight: the new command's completion is scheduled after the
// pending one's, which must still happen at its own time.
TEST_F(NvmeTest, ACommandInFlightCompletesOnTimeWhenALaterOneIsSubmitted) {
    const NvmeCtrlParams p = params();
    build(p);
    constexpr Time t1 = 10 * kUs;
    run([&] {
        put(read_sqe(1, 0, 4096, 0x8000'0000));
        ring();
        wait_until(t1);
        put(read_sqe(2, 16384, 4096, 0x9000'0000)); // other channel, completes t1 later
        ring();
    });
    const Time done = kDma + p.cmd_latency + p.read_latency + xfer(4096);
    std::vector<Time> data_at;
    for (const auto& a : dma->accesses)
        if (a.write && (a.addr == 0x8000'0000 || a.addr == 0x9000'0000)) data_at.push_back(a.at);
    ASSERT_EQ(data_at.size(), 2u);
    EXPECT_EQ(data_at[0], done);
    EXPECT_EQ(data_at[1], t1 + done);
    ASSERT_EQ(msi->accesses.size(), 2u);
    EXPECT_EQ(msi->accesses[0].at, done + 2 * kDma + p.msi_latency);
}

// A polled queue (Create I/O CQ with IEN = 0, as SPDK creates it): the CQE is posted as usual, no
// MSI-X message is sent, and the time its DMA write completed is recorded for a polling host.
TEST_F(NvmeTest, APolledQueueGetsNoInterruptAndRecordsWhenTheCqeLanded) {
    build(params());
    q.irq_enabled = false;
    q.cq_posted_at.assign(q.depth, 0);
    run([&] {
        wait_until(2 * kUs);
        put(read_sqe(3, 0, 4096, 0x8000'3000));
        ring();
    });
    constexpr Time t0 = 2 * kUs;
    const Time done = t0 + kDma + p_.cmd_latency + p_.read_latency + xfer(4096);
    ASSERT_EQ(dma->accesses.size(), 3u);
    EXPECT_EQ(dma->accesses[2].at, done + kDma); // the CQE write starts after the data
    EXPECT_EQ(q.cq_tail, 1u);
    EXPECT_EQ(q.cq[0].cid, 3u);
    EXPECT_EQ(q.cq_posted_at[0], done + 2 * kDma); // and has landed one DMA time later
    EXPECT_TRUE(msi->accesses.empty());
    EXPECT_EQ(ctrl->msis, 0u);
}
