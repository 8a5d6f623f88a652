// PcieLink through its sockets: bandwidth per generation and width, posted writes, non-posted
// reads, contention per direction, MMIO, error completions; paths over shared links behind a
// switch; the MMIO router's BAR windows.
#include "models/common/stubs.h"
#include "models/pcie/mmio_router.h"
#include "models/pcie/pcie_link.h"
#include "tests/harness/sc_test.h"

#include <memory>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::StubTarget;
using iosim::test::ScTest;

TEST(PcieBandwidth, PerGenerationAndWidthWithEncodingOverhead) {
    // GT/s per lane x lanes / 8 bits x encoding efficiency (8b/10b up to Gen2, 128b/130b Gen3-5,
    // 242/256 FLIT Gen6).
    const double gt[] = {0, 2.5e9, 5e9, 8e9, 16e9, 32e9, 64e9};
    for (unsigned lanes : {1u, 4u, 16u}) {
        EXPECT_DOUBLE_EQ(pcie_bytes_per_s(1, lanes), 250e6 * lanes);
        EXPECT_DOUBLE_EQ(pcie_bytes_per_s(2, lanes), 500e6 * lanes);
        for (unsigned gen = 3; gen <= 5; ++gen)
            EXPECT_DOUBLE_EQ(pcie_bytes_per_s(gen, lanes), gt[gen] * 128 / 130 / 8 * lanes)
                << "Gen" << gen << " x" << lanes;
        EXPECT_DOUBLE_EQ(pcie_bytes_per_s(6, lanes), 64e9 * 242 / 256 / 8 * lanes);
    }
    EXPECT_NEAR(pcie_bytes_per_s(3, 1), 984.615e6, 1e3); // the familiar "~985 MB/s per lane"
    EXPECT_NEAR(pcie_bytes_per_s(4, 16), 31.508e9, 1e6);
}

namespace {

class PcieTest : public ScTest {
protected:
    // Gen2 x4 moves exactly 2 GB/s: one byte on the wire is 500 ps, so expectations are exact.
    static constexpr Time kPerByte = 500;
    static constexpr Time kLat = 250 * kNs;
    static constexpr Time kHost = 1 * kUs; // host side (IOMMU + DRAM) answer time
    static constexpr Time kDev = 800 * kNs;

    void build() {
        PcieLinkParams p;
        p.gen = 2;
        p.lanes = 4;
        p.latency = kLat;
        p.max_payload = 256;
        p.max_read_request = 512;
        p.tlp_overhead = 24;
        link = std::make_unique<PcieLink>("link", p);
        dev = std::make_unique<StubInitiator>("dev");
        cpu = std::make_unique<StubInitiator>("cpu");
        host = std::make_unique<StubTarget>("host", kHost);
        regs = std::make_unique<StubTarget>("regs", kDev);
        dev->out.bind(link->in_dma);
        link->out_dma.bind(host->in);
        cpu->out.bind(link->in_mmio);
        link->out_mmio.bind(regs->in);
        irq = std::make_unique<StubInitiator>("irq");
        apic = std::make_unique<StubTarget>("apic", 0);
        irq->out.bind(link->in_msi);
        link->out_msi.bind(apic->in);
    }
    static Time wire(std::uint64_t payload, std::uint64_t tlps) {
        return (payload + 24 * tlps) * kPerByte;
    }

    std::unique_ptr<PcieLink> link;
    std::unique_ptr<StubInitiator> dev, cpu, irq;
    std::unique_ptr<StubTarget> host, regs, apic;
};

} // namespace

TEST_F(PcieTest, LinkRateIsTheGenerationTable) {
    build();
    EXPECT_DOUBLE_EQ(link->bytes_per_s(), 2e9);
}

TEST_F(PcieTest, PostedWriteChargesTheDeviceOnlySerialisation) {
    build();
    StubInitiator::Result w{}, small{};
    run([&] {
        w = dev->write(0x1000, nullptr, 4096);
        wait_until(100 * kUs);
        small = dev->write(0x9000, nullptr, 100);
    });
    const Time ser = wire(4096, 4096 / 256); // 16 TLPs of 256 B, 24 B overhead each
    EXPECT_EQ(ser, 4480 * kPerByte);
    EXPECT_EQ(w.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(w.delay, ser); // the host's kHost is not waited for
    ASSERT_EQ(host->accesses.size(), 2u);
    EXPECT_TRUE(host->accesses[0].write);
    EXPECT_EQ(host->accesses[0].addr, 0x1000u);
    EXPECT_EQ(host->accesses[0].len, 4096u);
    EXPECT_EQ(host->accesses[0].at, ser + kLat);
    EXPECT_EQ(small.delay, wire(100, 1));
    EXPECT_EQ(host->accesses[1].at, 100 * kUs + wire(100, 1) + kLat);
    EXPECT_EQ(link->segment().tlps_up, 17u);
    EXPECT_EQ(link->segment().up_bytes, 4480u + 124u);
    EXPECT_EQ(link->segment().up_busy_ps, ser + wire(100, 1));
    EXPECT_EQ(link->segment().down_bytes, 0u);
}

TEST_F(PcieTest, NonPostedReadPaysRequestsUpHostAndCompletionsDown) {
    build();
    StubInitiator::Result r{};
    run([&] {
        wait_until(3 * kUs);
        r = dev->read(0x4000, nullptr, 4096, 10 * kNs);
    });
    const Time req = wire(0, 4096 / 512); // 8 read requests, header only
    const Time cpl = wire(4096, 4096 / 256);
    EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.delay, 10 * kNs + req + kLat + kHost + cpl + kLat);
    ASSERT_EQ(host->accesses.size(), 1u);
    EXPECT_EQ(host->accesses[0].at, 3 * kUs + 10 * kNs + req + kLat);
    EXPECT_EQ(link->segment().tlps_up, 8u);
    EXPECT_EQ(link->segment().up_bytes, 8u * 24u);
    EXPECT_EQ(link->segment().tlps_down, 16u);
    EXPECT_EQ(link->segment().down_bytes, 4096u + 16u * 24u);
}

TEST_F(PcieTest, WritesAtTheSameTimeSerialiseUpwardsWhileMmioDownIsUnaffected) {
    build();
    StubInitiator::Result a{}, b{}, m{};
    std::uint32_t doorbell = 5;
    run([&] {
        a = dev->write(0x10000, nullptr, 4096);
        b = dev->write(0x20000, nullptr, 4096);
        m = cpu->write(0x1008, &doorbell, 4);
    });
    const Time ser = wire(4096, 16);
    EXPECT_EQ(a.delay, ser);
    EXPECT_EQ(b.delay, 2 * ser);
    ASSERT_EQ(host->accesses.size(), 2u);
    EXPECT_EQ(host->accesses[0].at, ser + kLat);
    EXPECT_EQ(host->accesses[1].at, 2 * ser + kLat);
    ASSERT_EQ(regs->accesses.size(), 1u);
    EXPECT_EQ(regs->accesses[0].addr, 0x1008u);
    EXPECT_EQ(regs->accesses[0].u32(), 5u);
    EXPECT_EQ(regs->accesses[0].at, wire(4, 1) + kLat); // the other direction is free
    EXPECT_EQ(m.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(m.delay, 0u); // posted: the CPU's store cost is the kernel function's
}

TEST_F(PcieTest, ReadCompletionsAndMmioShareTheDownDirection) {
    build();
    StubInitiator::Result r{}, m{};
    std::uint32_t v = 1;
    const Time req = wire(0, 4096 / 512);
    const Time cpl_start = req + kLat + kHost;
    const Time cpl = wire(4096, 16);
    run([&] {
        r = dev->read(0x0, nullptr, 4096);
        m = cpu->write(0x1000, &v, 4, cpl_start + kNs); // arrives while completions go down
    });
    EXPECT_EQ(r.delay, cpl_start + cpl + kLat);
    ASSERT_EQ(regs->accesses.size(), 1u);
    EXPECT_EQ(regs->accesses[0].at, cpl_start + cpl + wire(4, 1) + kLat);
}

TEST_F(PcieTest, MmioReadRequestCarriesNoDataAndTheCompletionComesUp) {
    build();
    StubInitiator::Result r{};
    std::uint32_t v = 0;
    run([&] { r = cpu->read(0x1c, &v, 4); });
    // MRd: a header-only TLP down; CplD: 4 bytes of data up.
    EXPECT_EQ(r.delay, wire(0, 1) + kLat + kDev + wire(4, 1) + kLat);
    ASSERT_EQ(regs->accesses.size(), 1u);
    EXPECT_EQ(regs->accesses[0].at, wire(0, 1) + kLat);
    EXPECT_EQ(link->segment().down_bytes, 24u);
    EXPECT_EQ(link->segment().up_bytes, 28u);
}

TEST_F(PcieTest, ErrorFromTheHostPropagatesToTheDevice) {
    build();
    host->fail(0x100000, 0x200000);
    StubInitiator::Result r{}, w{}, ok{};
    run([&] {
        r = dev->read(0x100000, nullptr, 4096);
        wait_until(100 * kUs);
        w = dev->write(0x180000, nullptr, 4096);
        wait_until(200 * kUs);
        ok = dev->read(0x300000, nullptr, 64);
    });
    EXPECT_EQ(r.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    // Unsupported Request: one completion without data comes back down.
    EXPECT_EQ(r.delay, wire(0, 8) + kLat + kHost + wire(0, 1) + kLat);
    EXPECT_EQ(w.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(w.delay, wire(4096, 16));
    EXPECT_EQ(ok.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(ok.delay, wire(0, 1) + kLat + kHost + wire(64, 1) + kLat);
}

namespace {

// Two devices behind one switch: each has its own Gen2 x4 link to the switch, and both share the
// switch's Gen2 x4 link to the root port.
class PcieSwitchTest : public ScTest {
protected:
    static constexpr Time kPerByte = 500;
    static constexpr Time kLat = 250 * kNs;
    static constexpr Time kSw = 150 * kNs;
    static constexpr Time kHost = 1 * kUs;

    void build() {
        PcieLinkParams p; // TLP sizes as in PcieTest
        a_link = std::make_unique<PcieSegment>("a", 2, 4, kLat);
        b_link = std::make_unique<PcieSegment>("b", 2, 4, kLat);
        shared = std::make_unique<PcieSegment>("up", 2, 4, kLat);
        a = std::make_unique<PcieLink>(
            "pa", p, std::vector<PcieHop>{{a_link.get(), kSw}, {shared.get(), 0}});
        b = std::make_unique<PcieLink>(
            "pb", p, std::vector<PcieHop>{{b_link.get(), kSw}, {shared.get(), 0}});
        da = std::make_unique<StubInitiator>("da");
        db = std::make_unique<StubInitiator>("db");
        ca = std::make_unique<StubInitiator>("ca");
        cb = std::make_unique<StubInitiator>("cb");
        host = std::make_unique<StubTarget>("host", kHost);
        host_b = std::make_unique<StubTarget>("host_b", kHost); // a simple target binds once
        ra = std::make_unique<StubTarget>("ra", 0);
        rb = std::make_unique<StubTarget>("rb", 0);
        da->out.bind(a->in_dma);
        db->out.bind(b->in_dma);
        a->out_dma.bind(host->in);
        b->out_dma.bind(host_b->in);
        ca->out.bind(a->in_mmio);
        cb->out.bind(b->in_mmio);
        a->out_mmio.bind(ra->in);
        b->out_mmio.bind(rb->in);
        for (PcieLink* l : {a.get(), b.get()}) {
            const std::string n = l->basename();
            irqs.push_back(std::make_unique<StubInitiator>((n + "_irq").c_str()));
            apics.push_back(std::make_unique<StubTarget>((n + "_apic").c_str(), 0));
            irqs.back()->out.bind(l->in_msi);
            l->out_msi.bind(apics.back()->in);
        }
    }
    static Time wire(std::uint64_t payload, std::uint64_t tlps) {
        return (payload + 24 * tlps) * kPerByte;
    }
    std::unique_ptr<PcieSegment> a_link, b_link, shared;
    std::unique_ptr<PcieLink> a, b;
    std::unique_ptr<StubInitiator> da, db, ca, cb;
    std::unique_ptr<StubTarget> host, host_b, ra, rb;
    std::vector<std::unique_ptr<StubInitiator>> irqs; // MSIs of a, b
    std::vector<std::unique_ptr<StubTarget>> apics;
};

} // namespace

TEST_F(PcieSwitchTest, WritesOfTwoDevicesSerialiseOnTheSharedLinkOnly) {
    build();
    StubInitiator::Result wa{}, wb{};
    run([&] {
        wa = da->write(0x1000, nullptr, 4096);
        wb = db->write(0x2000, nullptr, 4096);
    });
    const Time w = wire(4096, 16);
    // Each device waits only for its own link; the shared link carries them one after the other,
    // each starting there once its first bytes crossed the device link and the switch.
    EXPECT_EQ(wa.delay, w);
    EXPECT_EQ(wb.delay, w);
    ASSERT_EQ(host->accesses.size(), 1u);
    ASSERT_EQ(host_b->accesses.size(), 1u);
    EXPECT_EQ(host->accesses[0].at, kLat + kSw + w + kLat);
    EXPECT_EQ(host_b->accesses[0].at, kLat + kSw + 2 * w + kLat);
    EXPECT_EQ(shared->up_bytes, 2 * (4096u + 16u * 24u));
    EXPECT_EQ(a_link->up_bytes, 4096u + 16u * 24u);
    EXPECT_EQ(shared->up_busy_ps, 2 * w);
    EXPECT_DOUBLE_EQ(a->bytes_per_s(), 2e9);
}

TEST_F(PcieSwitchTest, ReadCrossesBothLinksEachWayAndTheSwitchTwice) {
    build();
    StubInitiator::Result r{};
    run([&] { r = da->read(0x4000, nullptr, 256); });
    const Time req = wire(0, 1), cpl = wire(256, 1);
    // Up, cut-through over links of one rate: the request starts on the shared link once it is
    // through the first link's latency and the switch, and takes its serialisation there.
    const Time up = kLat + kSw + req + kLat;
    const Time down = kSw + kLat + cpl + kLat; // completions: root side first, then the switch
    EXPECT_EQ(r.delay, up + kHost + down);
    EXPECT_EQ(shared->tlps_down, 1u);
    EXPECT_EQ(b_link->tlps_down, 0u);
}

TEST_F(PcieSwitchTest, MmioGoesDownThePathToTheDeviceItAddresses) {
    build();
    std::uint32_t v = 7;
    run([&] { cb->write(0x10, &v, 4); });
    ASSERT_EQ(rb->accesses.size(), 1u);
    EXPECT_TRUE(ra->accesses.empty());
    EXPECT_EQ(rb->accesses[0].at, kLat + kSw + wire(4, 1) + kLat);
    EXPECT_EQ(shared->down_bytes, 28u);
    EXPECT_EQ(b_link->down_bytes, 28u);
}

TEST_F(ScTest, MmioRouterSendsEachBarWindowToItsDeviceWithTheOffset) {
    MmioRouter router("router");
    StubInitiator cpu("cpu");
    StubTarget d0("d0", 0), d1("d1", 0);
    cpu.out.bind(router.in);
    router.out.bind(d0.in);
    router.out.bind(d1.in);
    router.add_window(0xf0000000, 0x4000);
    router.add_window(0xf1000000, 0x1000);
    std::uint32_t v = 3;
    StubInitiator::Result r0{}, r1{}, miss{}, straddle{};
    run([&] {
        r0 = cpu.write(0xf0001008, &v, 4);
        r1 = cpu.write(0xf1000ffc, &v, 4);
        miss = cpu.write(0xf0004000, &v, 4);
        straddle = cpu.write(0xf1000ffe, &v, 4); // crosses the end of the window
    });
    EXPECT_EQ(r0.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r1.status, tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(d0.accesses.size(), 1u);
    ASSERT_EQ(d1.accesses.size(), 1u);
    EXPECT_EQ(d0.accesses[0].addr, 0x1008u);
    EXPECT_EQ(d1.accesses[0].addr, 0xffcu);
    EXPECT_EQ(miss.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(straddle.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(router.decode_errors, 2u);
}

// An MSI may not pass the device's earlier posted write: when the shared uplink holds b's data
// back, b's interrupt waits for it; a's, whose data went first, is not held longer than its own.
TEST_F(PcieSwitchTest, AnMsiNeverArrivesBeforeTheDevicesLastPostedWrite) {
    build();
    std::uint32_t vec = 1;
    run([&] {
        da->write(0x1000, nullptr, 4096);
        db->write(0x2000, nullptr, 4096);
        wait_until(10 * kNs);
        irqs[0]->write(0, &vec, 4); // with no delay of its own
        irqs[1]->write(0, &vec, 4);
        wait_until(20 * kUs);
        irqs[0]->write(0, &vec, 4); // long after: not held
    });
    const Time w = wire(4096, 16);
    EXPECT_EQ(a->last_posted_arrival(), kLat + kSw + w + kLat);
    EXPECT_EQ(b->last_posted_arrival(), kLat + kSw + 2 * w + kLat);
    ASSERT_EQ(apics[0]->accesses.size(), 2u);
    ASSERT_EQ(apics[1]->accesses.size(), 1u);
    EXPECT_EQ(apics[0]->accesses[0].at, a->last_posted_arrival());
    EXPECT_EQ(apics[1]->accesses[0].at, b->last_posted_arrival());
    EXPECT_EQ(apics[0]->accesses[1].at, 20 * kUs);
}

// A write the device booked ahead of time (issued later than the MSI) does not hold the MSI.
TEST_F(PcieSwitchTest, AnMsiDoesNotWaitForAWriteIssuedAfterIt) {
    build();
    std::uint32_t vec = 1;
    run([&] {
        da->write(0x1000, nullptr, 4096, 50 * kUs); // issued at 50 us (the device's local time)
        irqs[0]->write(0, &vec, 4, 10 * kNs);       // issued at 10 ns
    });
    ASSERT_EQ(apics[0]->accesses.size(), 1u);
    EXPECT_EQ(apics[0]->accesses[0].at, 10 * kNs);
    EXPECT_GT(a->last_posted_arrival(), 50 * kUs);
}
