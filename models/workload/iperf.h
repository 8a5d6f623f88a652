// An iperf-like UDP flow over the Wi-Fi NIC (iperf -u): `jobs` flows, each a thread pinned to
// core (first_cpu + i) mod cores, of IP packets of `packet_size` bytes at `rate` bits/s per flow
// (0 = as fast as the socket allows).
// - tx: each packet is one sendto syscall (entry_SYSCALL_64 -> __x64_sys_sendto -> dev_queue_xmit
//   -> mt76_dma_tx_queue_skb) on the flow's core. The socket's send buffer bounds the packets in
//   flight (sk_wmem_alloc against sk_sndbuf: the writer sleeps until a TX-free returns skbs), so
//   a saturating flow keeps sndbuf / truesize packets queued. A packet the driver cannot take
//   (ring or tokens full) waits in the qdisc and is retried when a TX-free wakes the queue.
//   completed = packets released by TX-free; latency = from the sendto entry to the TX-free.
// - rx: the AP sends the flow's packets (Mt7921::add_rx_flow); completed = packets delivered to
//   the socket by the NAPI poll; latency = from the end of the PPDU that carried the packet to
//   that delivery. The iperf server's recvfrom per packet runs on the flow's core.
// Buffers: each in-flight TX slot owns one 4 KiB page (skb->data), reused.
// Not modelled: TCP, the UDP receive buffer limit (the reader keeps up or the driver drops),
// qdisc and mac80211 queue limits beyond the socket buffer.
#pragma once
#include "models/cpu/cpu.h"
#include "models/memory/page_allocator.h"
#include "models/wifi/mt76_driver.h"
#include "models/wifi/mt7921.h"
#include "models/workload/workload.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iosim {

struct IperfParams {
    std::string name = "iperf";
    bool tx = true;
    std::uint32_t packet_size = 1500; // IP packet bytes
    double rate_bps = 0;              // per flow, bits/s of IP packets; 0 = saturate
    unsigned jobs = 1;
    unsigned first_cpu = 0;
    std::uint64_t sndbuf = 212992; // net.core.wmem_default
};

class IperfWorkload : public Workload {
public:
    IperfWorkload(const IperfParams& p, Cpu& cpu, Mt76Driver& drv, Mt7921& nic,
                  PageAllocator& pages);

    const IperfParams& params() const { return p_; }
    // Packets a TX flow keeps in flight at most: sndbuf / skb truesize.
    std::uint32_t window() const { return window_; }
    void start(Time at = 0) override;
    void stop() override;
    std::uint64_t inflight() const override { return inflight_; }
    bool finished() const override { return false; }

    std::uint64_t sent = 0, send_blocked = 0, driver_busy = 0, received = 0;

protected:
    void register_extra(Stats& s, const std::string& prefix) override;

private:
    struct Flow;
    struct Slot {
        Flow* flow = nullptr;
        IperfWorkload* self = nullptr;
        TxSkb skb;
        Time sent_at = 0;
    };
    struct Flow {
        unsigned core = 0;
        std::size_t index = 0;
        IperfWorkload* self = nullptr;
        std::vector<Slot> slots;
        std::vector<std::uint32_t> free_slots;
        Slot* backlog = nullptr; // in the qdisc: the driver was busy
        Time next_send = 0;      // rate flows: the pacing time of the next packet
        bool running = false;    // a send item is posted or running
        bool waiting_space = false;
        std::uint32_t rx_flow = 0;
        std::uint64_t rx_unread = 0; // delivered, not yet read by recvfrom
        bool reader_running = false;
    };

    void send_loop(ExecCtx& ctx, std::uint64_t flow);
    void wake(Flow& f, Time at);
    static void on_tx_done(void* owner, ExecCtx& ctx, TxSkb& skb);
    static void on_tx_wake(void* owner, ExecCtx& ctx);
    static void on_rx(void* owner, ExecCtx& ctx, const Mt76RxInfo& frame);
    void reader(ExecCtx& ctx, std::uint64_t flow);

    IperfParams p_;
    Cpu& cpu_;
    Mt76Driver& drv_;
    Mt7921& nic_;
    std::uint32_t window_ = 1;
    Time interval_ = 0;
    std::vector<std::unique_ptr<Flow>> flows_;
    std::uint64_t inflight_ = 0;
    bool stopping_ = false;
};

} // namespace iosim
