#include "models/wifi/mt7921.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace iosim {

namespace {
constexpr std::uint64_t kDirRx = 0, kDirTx = 1;
// PKT_TYPE_TXRX_NOTIFY: RXD-like header (4 DW) and one 4-byte entry per MSDU id
// (mt7921_mac_tx_free walks MT_TX_FREE_MSDU_CNT entries after the header).
constexpr std::uint32_t kTxFreeHeaderBytes = 16;
constexpr std::uint32_t kTxFreeEntryBytes = 4;
} // namespace

Mt7921::Mt7921(const sc_core::sc_module_name& name, const Mt7921Params& p)
    : sc_core::sc_module(name), in_regs("in_regs"), out_dma("out_dma"), irq_out("irq_out"), p_(p),
      air_(p.phy, p.air), events_("events"), buf_(4096, 0), inject_(p.inject) {
    in_regs.register_b_transport(this, &Mt7921::regs);
    ext_ = init_dma_payload(tx_, p.requester_id);
    init_msi_payload(msi_tx_, &msi_buf_);
    if (inject_.enabled()) {
        init_dma_payload(stray_tx_, p.requester_id)->intent = DmaExt::Intent::Stray;
        stray_buf_.assign(4096, 0xd3);
    }
}

void Mt7921::attach(const Mt7921Rings& r) {
    assert(r.tx && r.rx && r.rx_info && r.rx_info->size() >= r.rx->ndesc());
    rings_ = r;
    tx_failed_.assign(r.tx->ndesc(), false);
}

std::uint32_t Mt7921::add_rx_flow(std::uint32_t ip_bytes, double bits_per_s, Time start) {
    air_.subframe_bytes(ip_bytes); // throws for a packet larger than an MPDU
    RxFlow f;
    f.ip_bytes = ip_bytes;
    f.interval =
        bits_per_s > 0 ? static_cast<Time>(std::llround(8.0 * ip_bytes / bits_per_s * kSec)) : 0;
    if (bits_per_s > 0 && f.interval == 0) f.interval = 1;
    f.next = start;
    const auto id = static_cast<std::uint32_t>(rx_flows_.size());
    rx_flows_.push_back(f);
    if (f.interval) {
        events_.schedule<&Mt7921::rx_arrival>(start, this, id);
    } else {
        events_.schedule(
            start, [](void* o, std::uint64_t) { static_cast<Mt7921*>(o)->air_kick(); }, this);
    }
    return id;
}

void Mt7921::stop_rx() {
    rx_stopped_ = true;
}

// ------------------------------------------------------------------ registers

void Mt7921::regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const std::uint64_t a = tx.get_address();
    const bool known = a == kMt7921IntSta || a == kMt7921IntEna || a == mt7921_tx_cpu_idx(0) ||
                       a == mt7921_rx_cpu_idx(0);
    if (!tx.is_write() || tx.get_data_length() != 4 || !known || !rings_.tx) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    std::uint32_t v;
    std::memcpy(&v, tx.get_data_ptr(), 4);
    // Registers with side effects take effect at the writer's local time (a target never waits).
    events_.schedule<&Mt7921::reg_write>(sim_now() + delay.value(), this, (a << 32) | v);
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

void Mt7921::reg_write(std::uint64_t packed) {
    const std::uint64_t a = packed >> 32;
    const auto v = static_cast<std::uint32_t>(packed);
    const Time now = sim_now();
    if (a == kMt7921IntSta) { // write 1 to clear
        int_sta_ &= ~v;
        update_irq(now);
    } else if (a == kMt7921IntEna) {
        int_ena_ = v;
        update_irq(now);
    } else if (a == mt7921_tx_cpu_idx(0)) {
        doorbell(*rings_.tx, v);
        tx_fetch(0);
    } else if (a == mt7921_rx_cpu_idx(0)) {
        doorbell(*rings_.rx, v);
        write_rx(); // frames or events that waited for a buffer
    }
}

// The kernel serialises a ring's CPU_IDX writes under the queue's lock (mt76_tx's q->lock), so
// the register only moves forward. Under temporal decoupling two cores' posted writes can reach
// the device out of that order: a value behind the register, or beyond what the driver has
// posted, is one that a later write in lock order already covers, and is dropped (counted).
void Mt7921::doorbell(DmaRing& r, std::uint32_t v) {
    const std::uint32_t n = r.ndesc();
    v %= n;
    const auto ahead = [&](std::uint32_t x) { return (x + n - r.fetch_idx()) % n; };
    if (ahead(v) < ahead(r.doorbell_idx()) || ahead(v) > ahead(r.cpu_idx())) {
        ++stale_doorbells;
        return;
    }
    r.doorbell(v);
}

// ------------------------------------------------------------------ DMA and interrupts

void Mt7921::set_trace(TraceWriter* t) {
    trace_ = t;
    if (t) t->process(TraceWriter::kPidWifi, name(), 5);
}

Time Mt7921::dma(bool write, std::uint64_t addr, std::uint32_t len, Time at, const char* what) {
    const Time now = sim_now();
    assert(len <= buf_.size());
    tx_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    tx_.set_address(addr);
    tx_.set_data_ptr(buf_.data());
    tx_.set_data_length(len);
    tx_.set_streaming_width(len);
    tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(at > now ? at - now : 0);
    if (trace_) trace_->dma_begin();
    out_dma->b_transport(tx_, d);
    dma_ok_ = tx_.get_response_status() == tlm::TLM_OK_RESPONSE;
    if (!dma_ok_) ++dma_errors;
    if (trace_) trace_->dma_end(TraceWriter::kPidWifi, what, std::max(at, now), now + d.value());
    return now + d.value();
}

void Mt7921::stray_event(std::uint64_t) {
    const StrayRead s = stray_due_.front(); // a constant delay: due in the order scheduled
    stray_due_.pop_front();
    stray_dma(false, s.addr, s.len, sim_now());
}

void Mt7921::stray_dma(bool write, std::uint64_t addr, std::uint32_t len, Time at) {
    const Time now = sim_now();
    stray_tx_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    stray_tx_.set_address(addr);
    stray_tx_.set_data_ptr(write ? stray_buf_.data() : buf_.data());
    stray_tx_.set_data_length(len);
    stray_tx_.set_streaming_width(len);
    stray_tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(at > now ? at - now : 0);
    out_dma->b_transport(stray_tx_, d);
    ++stray_issued;
    if (stray_tx_.get_response_status() != tlm::TLM_OK_RESPONSE) ++stray_errors;
}

void Mt7921::set_status(std::uint32_t bits, Time at) {
    int_sta_ |= bits;
    update_irq(at);
}

// An MSI on the rising edge of STA & ENA, as the WFDMA raises its host interrupt.
void Mt7921::update_irq(Time at) {
    const bool active = (int_sta_ & int_ena_) != 0;
    if (active && !irq_line_) {
        irq_line_ = true;
        msi_buf_ = rings_.vector;
        msi_tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_core::sc_time d = to_sc(at + p_.msi_latency - sim_now());
        irq_out->b_transport(msi_tx_, d);
        ++msis;
    } else if (!active) {
        irq_line_ = false;
    }
}

// ------------------------------------------------------------------ TX

void Mt7921::tx_fetch(std::uint64_t) {
    DmaRing& r = *rings_.tx;
    const Time now = sim_now();
    while (auto slot = r.fetch_next()) {
        const DmaDesc& d = r.desc(*slot);
        // Descriptor reads go one after the other; each one's TXWI and data reads overlap with
        // the next descriptor's read (the link serialises their bytes).
        const Time issued = std::max(now, tx_issue_free_);
        const Time desc_done =
            dma(false, r.desc_addr(*slot), kMt76DescBytes, issued, "TX descriptor");
        ++desc_fetches;
        tx_issue_free_ = desc_done;
        const Time start = desc_done + p_.fw_latency;
        const Time txwi_done = dma(false, d.buf0, d.len0, start, "TXWI");
        bool ok = dma_ok_;
        const Time data_done = dma(false, d.buf1, d.len1, start, "TX data");
        tx_failed_[*slot] = !(ok && dma_ok_);
        if (inject_.enabled() && inject_.choose(now)) {
            using K = DmaInjectParams::Kind;
            switch (inject_.params().kind) {
            case K::UseAfterUnmap:
                stray_by_token_[static_cast<std::uint16_t>(d.token)] = {d.buf1, d.len1};
                break;
            case K::RandomIova:
                stray_dma(true, inject_.random_address(), 4096, start);
                break;
            case K::WriteReadOnly:
                stray_dma(true, d.buf1, d.len1, data_done);
                break;
            case K::None:
                break;
            }
        }
        events_.schedule<&Mt7921::tx_ready>(std::max(txwi_done, data_done), this, *slot);
    }
}

void Mt7921::tx_ready(std::uint64_t slot) {
    DmaRing& r = *rings_.tx;
    const DmaDesc& d = r.desc(static_cast<std::uint32_t>(slot));
    const std::uint32_t ip = d.len1 > kEthHeaderBytes ? d.len1 - kEthHeaderBytes : d.len1;
    const bool failed = tx_failed_[slot];
    if (failed) {
        // A fetch fault: the frame is dropped, its token reported freed like a sent one.
        ++tx_dma_dropped;
        std::vector<std::uint16_t> ids{static_cast<std::uint16_t>(d.token)};
        tx_free_staging_.push_back(std::move(ids));
        events_.schedule<&Mt7921::emit_tx_free>(sim_now() + p_.tx_free_latency, this, 0);
    } else {
        sta_queue_.push_back({ip, d.token, sim_now()});
    }
    r.complete(); // DMA_DONE: the driver may reclaim the descriptor (not the buffer)
    dma(true, r.desc_addr(static_cast<std::uint32_t>(slot)), kMt76DescBytes, sim_now(),
        "TX DMA_DONE");
    if (!failed) air_kick();
}

// ------------------------------------------------------------------ air

void Mt7921::air_kick() {
    if (air_busy_) return;
    const Time now = sim_now();
    // Saturating RX flows: the AP always holds a full aggregate.
    if (!rx_stopped_) {
        for (std::uint32_t f = 0; f < rx_flows_.size(); ++f) {
            RxFlow& fl = rx_flows_[f];
            if (fl.interval || now < fl.next) continue;
            const std::size_t want = air_.max_aggregate(fl.ip_bytes);
            std::size_t have = 0;
            for (const Packet& p : ap_queue_)
                have += p.id == f;
            for (; have < want; ++have)
                ap_queue_.push_back({fl.ip_bytes, f, now});
        }
    }
    const bool tx = !sta_queue_.empty(), rx = !ap_queue_.empty();
    if (!tx && !rx) return;
    // One station and its AP: with traffic both ways, accesses alternate (equal EDCA parameters).
    const bool do_tx = tx && (!rx || !last_was_tx_);
    std::deque<Packet>& q = do_tx ? sta_queue_ : ap_queue_;
    const std::uint32_t bytes = q.front().ip_bytes;
    std::size_t n = 0;
    while (n < q.size() && q[n].ip_bytes == bytes)
        ++n;
    const TxopResult r = air_.transmit(n, bytes, now);
    in_air_.assign(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(r.packets));
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(r.packets));
    air_busy_ = true;
    last_was_tx_ = do_tx;
    air_busy_ps += r.airtime;
    air_busy_end_ = r.medium_free;
    events_.schedule<&Mt7921::air_done>(r.medium_free, this, do_tx ? kDirTx : kDirRx);
}

void Mt7921::air_done(std::uint64_t dir) {
    const Time now = sim_now();
    if (dir == kDirTx) {
        ++tx_ampdus;
        tx_subframes += in_air_.size();
        std::vector<std::uint16_t> ids;
        if (!spare_token_lists_.empty()) {
            ids.swap(spare_token_lists_.back());
            spare_token_lists_.pop_back();
            ids.clear();
        }
        for (const Packet& p : in_air_) {
            ids.push_back(static_cast<std::uint16_t>(p.id));
            ++tx_packets;
            tx_bytes += p.ip_bytes;
        }
        // The firmware reports the A-MPDU's MSDUs in one event after the BlockAck.
        tx_free_staging_.push_back(std::move(ids));
        events_.schedule<&Mt7921::emit_tx_free>(now + p_.tx_free_latency, this, 0);
    } else {
        ++rx_ampdus;
        rx_subframes += in_air_.size();
        const AirParams& ap = air_.params();
        const Time ppdu_end = now - ap.sifs - ap.block_ack;
        for (const Packet& p : in_air_) {
            ++rx_packets;
            rx_bytes += p.ip_bytes;
            ++rx_pending_frames_;
            rx_pending_.push_back({false,
                                   kMt7921RxdBytes + kEthHeaderBytes + p.ip_bytes,
                                   p.id,
                                   p.ip_bytes,
                                   ppdu_end,
                                   {}});
            write_rx(); // frame by frame: posted buffers take them before the FIFO fills
            // No buffer took it and the on-chip FIFO is full: the frame is lost.
            if (rx_pending_frames_ > p_.rx_fifo) {
                rx_pending_.pop_back();
                --rx_pending_frames_;
                ++rx_dropped;
            }
        }
    }
    in_air_.clear();
    air_busy_ = false;
    air_kick();
}

void Mt7921::emit_tx_free(std::uint64_t) {
    std::vector<std::uint16_t>& ids = tx_free_staging_.front();
    if (!stray_by_token_.empty()) {
        // Injected use-after-unmap: the chosen packets' buffers are read again `delay` after
        // this event (written just below) told the driver to unmap them.
        for (std::uint16_t id : ids) {
            auto it = stray_by_token_.find(id);
            if (it == stray_by_token_.end()) continue;
            stray_due_.push_back(it->second);
            stray_by_token_.erase(it);
            events_.schedule<&Mt7921::stray_event>(sim_now() + inject_.params().delay, this, 0);
        }
    }
    const auto len =
        static_cast<std::uint32_t>(kTxFreeHeaderBytes + kTxFreeEntryBytes * ids.size());
    rx_pending_.push_back({true, len, 0, 0, 0, std::move(ids)});
    tx_free_staging_.pop_front();
    write_rx();
}

// ------------------------------------------------------------------ RX

void Mt7921::rx_arrival(std::uint64_t flow) {
    RxFlow& f = rx_flows_[flow];
    if (rx_stopped_) return;
    const Time now = sim_now();
    std::size_t queued = 0;
    for (const Packet& p : ap_queue_)
        queued += p.id == flow;
    if (queued >= p_.ap_queue) {
        ++ap_dropped;
    } else {
        ap_queue_.push_back({f.ip_bytes, static_cast<std::uint32_t>(flow), now});
    }
    f.next = now + f.interval;
    events_.schedule<&Mt7921::rx_arrival>(f.next, this, flow);
    air_kick();
}

void Mt7921::write_rx() {
    DmaRing& r = *rings_.rx;
    const Time now = sim_now();
    while (!rx_pending_.empty()) {
        const auto slot = r.fetch_next();
        if (!slot) break; // no buffer posted: wait for the driver's refill (CPU_IDX write)
        RxWrite& w = rx_pending_.front();
        const DmaDesc& d = r.desc(*slot);
        Time t = std::max(now, rx_dma_free_);
        t = dma(true, d.buf0, std::min(w.len, d.len0), t, "RX frame");
        t = dma(true, r.desc_addr(*slot), kMt76DescBytes, t, "RX DMA_DONE"); // write-back
        rx_dma_free_ = t;
        r.complete(w.len);
        Mt76RxInfo& info = (*rings_.rx_info)[*slot];
        info.tx_free = w.tx_free;
        info.len = w.len;
        info.flow = w.flow;
        info.ip_bytes = w.ip_bytes;
        info.air_at = w.air_at;
        info.ev.tokens.swap(w.tokens);
        if (w.tx_free) {
            ++tx_free_events;
            spare_token_lists_.push_back(std::move(w.tokens));
        } else {
            --rx_pending_frames_;
        }
        rx_pending_.pop_front();
        set_status(kMt7921IntRxDoneData, t);
    }
}

} // namespace iosim
