#include "models/workload/iperf.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace iosim {

namespace {
// SKB_TRUESIZE of a UDP packet's skb: the kmalloc'ed head (headroom 64 + frame + skb_shared_info
// 320, rounded to its power-of-two slab) plus struct sk_buff (256). 1514-byte frame: 2304.
std::uint64_t skb_truesize(std::uint32_t frame) {
    std::uint64_t head = 64 + frame + 320, slab = 64;
    while (slab < head)
        slab *= 2;
    return slab + 256;
}
} // namespace

IperfWorkload::IperfWorkload(const IperfParams& p, Cpu& cpu, Mt76Driver& drv, Mt7921& nic,
                             PageAllocator& pages)
    : Workload(p.name), p_(p), cpu_(cpu), drv_(drv), nic_(nic) {
    const std::uint32_t frame = p.packet_size + kEthHeaderBytes;
    window_ =
        static_cast<std::uint32_t>(std::max<std::uint64_t>(1, p.sndbuf / skb_truesize(frame)));
    interval_ = p.rate_bps > 0 ? std::max<Time>(1, static_cast<Time>(std::llround(
                                                       8.0 * p.packet_size / p.rate_bps * kSec)))
                               : 0;
    for (unsigned j = 0; j < p.jobs; ++j) {
        auto f = std::make_unique<Flow>();
        f->core = (p.first_cpu + j) % cpu.cores();
        f->index = j;
        f->self = this;
        if (p.tx) {
            f->slots.resize(window_);
            f->free_slots.reserve(window_);
            for (std::uint32_t i = 0; i < window_; ++i) {
                Slot& s = f->slots[i];
                s.flow = f.get();
                s.self = this;
                // skb->data after 64 bytes of headroom in its own page
                s.skb.phys = pages.alloc_page() + 64;
                s.skb.len = frame;
                s.skb.done = &IperfWorkload::on_tx_done;
                s.skb.owner = &s;
                f->free_slots.push_back(window_ - 1 - i);
            }
        }
        flows_.push_back(std::move(f));
    }
    if (p.tx) drv.add_tx_wake(&IperfWorkload::on_tx_wake, this);
}

void IperfWorkload::start(Time at) {
    for (auto& f : flows_) {
        if (p_.tx) {
            f->next_send = at;
            wake(*f, at);
        } else {
            f->rx_flow = nic_.add_rx_flow(p_.packet_size, p_.rate_bps, at);
            drv_.set_rx_sink(f->rx_flow, &IperfWorkload::on_rx, f.get());
        }
    }
}

void IperfWorkload::stop() {
    stopping_ = true;
    if (!p_.tx) nic_.stop_rx();
}

void IperfWorkload::wake(Flow& f, Time at) {
    if (f.running) return;
    f.running = true;
    cpu_.post<&IperfWorkload::send_loop>(f.core, at, Cpu::Prio::Thread, this, f.index);
}

// ------------------------------------------------------------------ TX

void IperfWorkload::send_loop(ExecCtx& ctx, std::uint64_t flow) {
    Flow& f = *flows_[flow];
    bool progressed = false; // at least one packet per item, whatever the quantum
    for (;;) {
        if (f.backlog) {
            // qdisc_restart -> dev_hard_start_xmit: the packet that waited in the qdisc.
            KCall dq(ctx, Fn::dev_queue_xmit);
            if (!drv_.tx(ctx, f.backlog->skb)) {
                ++driver_busy;
                f.running = false; // on_tx_wake retries
                return;
            }
            f.backlog = nullptr;
        }
        if (stopping_) {
            f.running = false;
            return;
        }
        if (f.free_slots.empty()) {
            // sock_alloc_send_skb sleeps: sk_wmem_alloc has reached sk_sndbuf.
            ++send_blocked;
            f.waiting_space = true;
            f.running = false;
            return;
        }
        if (interval_ && f.next_send > ctx.now()) {
            // iperf -b: the next packet is due later; the thread sleeps until then.
            cpu_.post<&IperfWorkload::send_loop>(f.core, f.next_send, Cpu::Prio::Thread, this,
                                                 flow);
            return;
        }
        if (progressed && ctx.needs_sync()) {
            cpu_.post<&IperfWorkload::send_loop>(f.core, ctx.now(), Cpu::Prio::Thread, this, flow);
            return;
        }
        Slot& s = f.slots[f.free_slots.back()];
        f.free_slots.pop_back();
        { KCall u(ctx, Fn::iperf); }
        s.sent_at = ctx.now();
        ++inflight_;
        ++sent;
        if (interval_) f.next_send += interval_;
        progressed = true;
        KSyscall sys(ctx);
        KCall send(ctx, Fn::__x64_sys_sendto);
        KCall dq(ctx, Fn::dev_queue_xmit);
        if (!drv_.tx(ctx, s.skb)) {
            ++driver_busy;
            f.backlog = &s;
            f.running = false;
            return;
        }
    }
}

void IperfWorkload::on_tx_done(void* owner, ExecCtx& ctx, TxSkb& skb) {
    (void)skb;
    Slot& s = *static_cast<Slot*>(owner);
    IperfWorkload& self = *s.self;
    Flow& f = *s.flow;
    --self.inflight_;
    ++self.completed;
    self.bytes += self.p_.packet_size;
    self.latency_ns.record((ctx.now() - s.sent_at) / kNs);
    f.free_slots.push_back(static_cast<std::uint32_t>(&s - f.slots.data()));
    if (f.waiting_space) {
        // sock_wfree -> sk_write_space wakes the writer on its core.
        f.waiting_space = false;
        self.wake(f, ctx.now());
    }
}

void IperfWorkload::on_tx_wake(void* owner, ExecCtx& ctx) {
    IperfWorkload& self = *static_cast<IperfWorkload*>(owner);
    for (auto& f : self.flows_)
        if (f->backlog) self.wake(*f, ctx.now());
}

// ------------------------------------------------------------------ RX

void IperfWorkload::on_rx(void* owner, ExecCtx& ctx, const Mt76RxInfo& frame) {
    Flow& f = *static_cast<Flow*>(owner);
    IperfWorkload& self = *f.self;
    ++self.completed;
    ++self.received;
    self.bytes += frame.ip_bytes;
    self.latency_ns.record((ctx.now() - frame.air_at) / kNs);
    ++f.rx_unread;
    if (!f.reader_running) {
        // The socket's data_ready wakes the iperf server blocked in recvfrom.
        f.reader_running = true;
        self.cpu_.post<&IperfWorkload::reader>(f.core, ctx.now(), Cpu::Prio::Thread, &self,
                                               f.index);
    }
}

void IperfWorkload::reader(ExecCtx& ctx, std::uint64_t flow) {
    Flow& f = *flows_[flow];
    bool progressed = false;
    while (f.rx_unread) {
        if (progressed && ctx.needs_sync()) {
            cpu_.post<&IperfWorkload::reader>(f.core, ctx.now(), Cpu::Prio::Thread, this, flow);
            return;
        }
        --f.rx_unread;
        progressed = true;
        {
            KSyscall sys(ctx);
            KCall r(ctx, Fn::__x64_sys_recvfrom);
        }
        KCall u(ctx, Fn::iperf);
    }
    f.reader_running = false;
}

void IperfWorkload::register_extra(Stats& s, const std::string& k) {
    s.counter(k + "packets_sent", &sent);
    s.counter(k + "packets_received", &received);
    s.counter(k + "send_blocked", &send_blocked);
    s.counter(k + "driver_busy", &driver_busy);
    s.value(k + "window_packets", [this] { return p_.tx ? window_ : 0; });
}

} // namespace iosim
