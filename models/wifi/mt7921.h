// An mt7921-like 802.11ax PCIe NIC (MediaTek WFDMA0 + connac firmware), the device side of the
// Wi-Fi path (issue 3).
//
// Sockets: in_regs (BAR: per-ring CPU_IDX registers, host interrupt status and enable),
// out_dma (descriptor and TXWI/data fetch, RX frame and TX-free event writes, descriptor
// write-back), irq_out (MSI; data = vector).
//
// TX: a CPU_IDX write on the TX ring makes the WFDMA fetch each new descriptor (16 B), then the
// TXWI (buf0) and the packet (buf1) by DMA, and set DMA_DONE. Fetched packets queue for the air;
// each access sends one A-MPDU of up to AirChannel::max_aggregate packets. After the BlockAck and
// `tx_free_latency` of firmware time the device reports the packets' tokens in one TX-free event
// (PKT_TYPE_TXRX_NOTIFY), written like a frame into the next buffer of the main RX ring.
// RX: frames of the configured RX flows come from the AP over the same air (the medium alternates
// between the two directions when both have traffic), at the flow's rate or saturating; each is
// written into the next posted RX buffer with its descriptor write-back. Without a free RX buffer,
// frames wait in an on-chip FIFO of `rx_fifo` packets and are dropped beyond it.
// Interrupts: MT_WFDMA0_HOST_INT_STA bit RX_DONE is set per written RX buffer; an MSI is sent when
// STA & ENA goes from 0 to non-0 (the driver masks ENA in its handler and clears STA by writing
// 1s).
//
// Not modelled: MCU rings and firmware commands, the TX done interrupt and TX NAPI (the driver
// reclaims TX descriptors in its RX poll), DMA_IDX register reads, rate control and
// retransmissions (AirChannel's limits), RX reordering, power save. The host-memory contents of
// the rings and of the RX buffers are shared with the driver as C++ objects (like nvme_queue.h);
// the DMA transfers give their timing and go through the IOMMU.
#pragma once
#include "models/common/dma_inject.h"
#include "models/common/event_queue.h"
#include "models/common/tlm_ext.h"
#include "models/common/trace.h"
#include "models/wifi/air.h"
#include "models/wifi/ring.h"

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

// BAR offsets of the WFDMA0 registers (mt7921/regs.h: MT_WFDMA0_HOST_INT_STA/ENA, MT_TX_RING_BASE,
// MT_RX_EVENT_RING_BASE; struct mt76_queue_regs: desc_base, ring_size, cpu_idx, dma_idx).
constexpr std::uint64_t kMt7921IntSta = 0xd4200;
constexpr std::uint64_t kMt7921IntEna = 0xd4204;
constexpr std::uint64_t kMt7921TxRingBase = 0xd4300;
constexpr std::uint64_t kMt7921RxRingBase = 0xd4500;
constexpr std::uint32_t kMt7921IntRxDoneData = 1u << 2; // HOST_RX_DONE_INT_ENA2 (MT_RXQ_MAIN)
constexpr std::uint64_t mt7921_tx_cpu_idx(unsigned ring) {
    return kMt7921TxRingBase + 0x10u * ring + 0x8;
}
constexpr std::uint64_t mt7921_rx_cpu_idx(unsigned ring) {
    return kMt7921RxRingBase + 0x10u * ring + 0x8;
}

constexpr std::uint32_t kMt7921TxwiBytes = 64; // MT_TXD_SIZE (32) + struct mt76_connac_hw_txp
constexpr std::uint32_t kMt7921RxdBytes = 24;  // RXD (6 DW) ahead of a received frame
constexpr std::uint32_t kEthHeaderBytes = 14;  // the driver hands 802.3 frames (HW encap)

// What the device wrote into one RX buffer (host memory, read by the driver after DMA_DONE).
struct Mt76RxInfo {
    bool tx_free = false;   // PKT_TYPE_TXRX_NOTIFY, else a data frame
    std::uint32_t len = 0;  // bytes written
    TxFreeEvent ev;         // tx_free: the MSDU ids
    std::uint32_t flow = 0; // frame: the RX flow it belongs to
    std::uint32_t ip_bytes = 0;
    Time air_at = 0; // frame: end of the PPDU that carried it
};

// The host-memory rings the driver sets up (mt76_dma_alloc_queue): the band-0 data TX ring and the
// main RX ring, which carries both frames and TX-free events on mt7921.
struct Mt7921Rings {
    DmaRing* tx = nullptr;
    DmaRing* rx = nullptr;
    std::vector<Mt76RxInfo>* rx_info = nullptr; // by RX slot
    std::uint32_t vector = 0;                   // MSI data
};

struct Mt7921Params {
    std::uint16_t requester_id = 0x0200; // bus 2, device 0, function 0
    PhyConfig phy;
    AirParams air;
    Time fw_latency = 2 * kUs;       // WFDMA + firmware per TX descriptor, before the data fetch
    Time tx_free_latency = 20 * kUs; // after the BlockAck until the TX-free event is written
    Time msi_latency = 300 * kNs;
    std::uint32_t rx_fifo = 256;   // frames the chip holds while no RX buffer is posted
    std::uint32_t ap_queue = 1024; // packets the AP queues per RX flow (rate flows drop beyond)
    // safety.inject.wifi0.*: misbehave on one TX packet in `every` (off by default).
    // use_after_unmap: `delay` after the TX-free event reporting its token, read its data buffer
    // again (the driver unmaps it when it handles the event); random_iova: a 4 KiB write at a
    // random page; write_readonly: a write into its data buffer (mapped DMA_TO_DEVICE).
    DmaInjectParams inject;
};

class Mt7921 : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<Mt7921> in_regs;
    tlm_utils::simple_initiator_socket<Mt7921> out_dma;
    tlm_utils::simple_initiator_socket<Mt7921> irq_out;

    // Throws std::invalid_argument for a PHY configuration the standard does not define.
    Mt7921(const sc_core::sc_module_name& name, const Mt7921Params& p);

    // What the driver's probe programs (ring bases and sizes, the MSI vector).
    void attach(const Mt7921Rings& r);
    // Write the device's DMAs, with arrows to their translations, to a trace (nullptr: stop).
    void set_trace(TraceWriter* t);
    // An RX flow from the AP: `ip_bytes` per packet at `bits_per_s` of IP packets (0: saturating,
    // the AP always has a full aggregate). Returns the flow id carried in Mt76RxInfo::flow.
    std::uint32_t add_rx_flow(std::uint32_t ip_bytes, double bits_per_s, Time start = 0);
    // The AP stops generating (end of the run); what is queued is still sent.
    void stop_rx();

    const AirChannel& air() const { return air_; }
    const Mt7921Params& params() const { return p_; }

    // Counters (devices.wifi0.*)
    std::uint64_t tx_packets = 0, tx_bytes = 0, tx_ampdus = 0, tx_subframes = 0;
    std::uint64_t rx_packets = 0, rx_bytes = 0, rx_ampdus = 0, rx_subframes = 0;
    std::uint64_t rx_dropped = 0, ap_dropped = 0, tx_free_events = 0, desc_fetches = 0;
    std::uint64_t msis = 0, dma_errors = 0, stale_doorbells = 0;
    // TX packets whose TXWI or data fetch got an error response (an IOMMU fault): not sent; their
    // token is still reported in a TX-free event, so that the driver frees the buffer.
    std::uint64_t tx_dma_dropped = 0;
    // Fault injection: stray DMAs issued (marked DmaExt::Intent::Stray); those with an error.
    std::uint64_t stray_issued = 0, stray_errors = 0;
    // Injected use-after-unmap reads scheduled, not yet issued (the run's drain waits for them).
    std::size_t strays_pending() const { return stray_due_.size(); }
    // Airtime of the accesses begun (each counted whole when it begins); with air_busy_until()
    // the stats clip the access that straddles the start or the end of the window.
    Time air_busy_ps = 0;
    Time air_busy_until() const { return air_busy_ ? air_busy_end_ : 0; }

private:
    struct Packet {
        std::uint32_t ip_bytes;
        std::uint32_t id; // TX: the token; RX: the flow
        Time at;          // RX: arrival at the AP
    };
    struct RxFlow {
        std::uint32_t ip_bytes;
        Time interval; // 0: saturating
        Time next = 0;
    };
    struct RxWrite {
        bool tx_free;
        std::uint32_t len;
        std::uint32_t flow, ip_bytes;
        Time air_at;
        std::vector<std::uint16_t> tokens;
    };

    void regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void reg_write(std::uint64_t packed); // a register write taking effect (offset << 32 | value)
    void doorbell(DmaRing& r, std::uint32_t v);
    void tx_fetch(std::uint64_t);
    void tx_ready(std::uint64_t slot);
    void air_kick();
    void air_done(std::uint64_t dir);
    void emit_tx_free(std::uint64_t);
    void rx_arrival(std::uint64_t flow);
    void write_rx();
    void set_status(std::uint32_t bits, Time at);
    void update_irq(Time at);
    Time dma(bool write, std::uint64_t addr, std::uint32_t len, Time at,
             const char* what = "DMA"); // `what`: its name in the trace
    void stray_dma(bool write, std::uint64_t addr, std::uint32_t len, Time at);
    void stray_event(std::uint64_t);

    Mt7921Params p_;
    AirChannel air_;
    EventQueue events_;
    Mt7921Rings rings_;
    Time tx_issue_free_ = 0, rx_dma_free_ = 0;
    std::deque<Packet> sta_queue_; // fetched, waiting for the air
    std::deque<Packet> ap_queue_;  // RX packets at the AP
    std::vector<Packet> in_air_;   // the A-MPDU on the air
    bool air_busy_ = false, last_was_tx_ = false;
    Time air_busy_end_ = 0;
    std::deque<std::vector<std::uint16_t>> tx_free_staging_; // waiting for tx_free_latency
    std::vector<std::vector<std::uint16_t>> spare_token_lists_;
    std::deque<RxWrite> rx_pending_; // waiting for an RX buffer
    std::uint32_t rx_pending_frames_ = 0;
    std::vector<RxFlow> rx_flows_;
    bool rx_stopped_ = false;
    std::uint32_t int_sta_ = 0, int_ena_ = 0;
    bool irq_line_ = false;
    tlm::tlm_generic_payload tx_;
    DmaExt* ext_; // owned by tx_
    std::vector<unsigned char> buf_;
    bool dma_ok_ = true;          // the last dma()'s response
    std::vector<bool> tx_failed_; // by TX slot: its fetch got an error response
    DmaInjector inject_;
    tlm::tlm_generic_payload stray_tx_; // its DmaExt says Intent::Stray
    std::vector<unsigned char> stray_buf_;
    struct StrayRead {
        std::uint64_t addr;
        std::uint32_t len;
    };
    std::unordered_map<std::uint16_t, StrayRead> stray_by_token_; // chosen, until their TX-free
    std::deque<StrayRead> stray_due_;                             // TX-free written, read pending
    std::uint32_t msi_buf_ = 0;
    tlm::tlm_generic_payload msi_tx_;
    TraceWriter* trace_ = nullptr;
};

} // namespace iosim
