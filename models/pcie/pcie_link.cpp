#include "models/pcie/pcie_link.h"

#include "models/common/event_queue.h"
#include "models/common/tlm_ext.h"

#include <algorithm>
#include <cassert>

namespace iosim {

PcieLink::PcieLink(const sc_core::sc_module_name& name, const PcieLinkParams& p)
    : PcieLink(name, p, {}) {}

PcieLink::PcieLink(const sc_core::sc_module_name& name, const PcieLinkParams& p,
                   std::vector<PcieHop> path)
    : sc_core::sc_module(name), in_dma("in_dma"), out_dma("out_dma"), in_mmio("in_mmio"),
      out_mmio("out_mmio"), in_msi("in_msi"), out_msi("out_msi"), p_(p), path_(std::move(path)) {
    if (path_.empty()) {
        own_ = std::make_unique<PcieSegment>(basename(), p.gen, p.lanes, p.latency);
        path_.push_back({own_.get(), 0});
    }
    posted_[0].assign(path_.size(), Posted{});
    posted_[1].assign(path_.size(), Posted{});
    in_dma.register_b_transport(this, &PcieLink::dma);
    in_mmio.register_b_transport(this, &PcieLink::mmio);
    in_msi.register_b_transport(this, &PcieLink::msi);
}

double PcieLink::bytes_per_s() const {
    double bw = path_[0].seg->bytes_per_s;
    for (const PcieHop& h : path_)
        bw = std::min(bw, h.seg->bytes_per_s);
    return bw;
}

Time PcieLink::send(bool up, Time at, std::uint64_t payload, std::uint64_t tlps, bool posted,
                    Time* first_end) {
    const std::uint64_t wire = payload + tlps * p_.tlp_overhead;
    const std::size_t n = path_.size();
    Time prev_start = 0, prev_end = 0, gap = 0; // gap: latency + traversal from the previous link
    for (std::size_t k = 0; k < n; ++k) {
        // Up: the device's link first; down: the root complex's first.
        const PcieHop& h = path_[up ? k : n - 1 - k];
        PcieSegment& s = *h.seg;
        const Time ser = transfer_time(wire, s.bytes_per_s);
        Time earliest = at;
        if (!up && k == 0) earliest += h.after;
        if (k > 0) {
            if (!up) gap += h.after;
            earliest = std::max(prev_start + gap, prev_end + gap > ser ? prev_end + gap - ser : 0);
        }
        // A posted write issued after another may not start before it (the link's gap search
        // could otherwise slot it in ahead); one booked ahead of time and issued earlier may.
        Posted& order = posted_[up][up ? k : n - 1 - k];
        const Time arrival = earliest; // at this link, before any wait
        const bool in_order = posted && arrival >= order.arrival;
        if (in_order) earliest = std::max(earliest, order.start);
        const Resource::Grant g = (up ? s.up : s.down).acquire(earliest, ser);
        if (in_order) order = {arrival, g.start};
        if (up) {
            s.up_bytes += wire;
            s.tlps_up += tlps;
            s.up_busy_ps += ser;
        } else {
            s.down_bytes += wire;
            s.tlps_down += tlps;
            s.down_busy_ps += ser;
        }
        if (k == 0 && first_end) *first_end = g.end;
        prev_start = g.start;
        prev_end = g.end;
        gap = s.latency + (up ? h.after : 0);
    }
    return prev_end + gap;
}

void PcieLink::dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const Time now = sim_now();
    const std::uint64_t len = tx.get_data_length();
    const Time start = now + delay.value();
    if (tx.is_write()) {
        const std::uint64_t tlps = (len + p_.max_payload - 1) / p_.max_payload;
        Time left = 0;
        const Time arrival = send(true, start, len, tlps, true, &left);
        last_posted_ = std::max(last_posted_, arrival);
        recent_posted_[recent_next_++ % recent_posted_.size()] = {start, arrival};
        sc_core::sc_time host = to_sc(arrival - now);
        out_dma->b_transport(tx, host);
        if (auto* done = tx.get_extension<PostedDoneExt>()) done->at = now + host.value();
        // Posted: the device only waits for its data to leave on its link.
        delay = to_sc(left - now);
        return;
    }
    // Non-posted read: requests up, completions (cut at max_payload) down.
    const std::uint64_t reqs = (len + p_.max_read_request - 1) / p_.max_read_request;
    sc_core::sc_time host = to_sc(send(true, start, 0, reqs, false) - now);
    out_dma->b_transport(tx, host);
    if (tx.get_response_status() != tlm::TLM_OK_RESPONSE) {
        // An unsupported-request completion still comes back down.
        delay = to_sc(send(false, now + host.value(), 0, 1, false) - now);
        return;
    }
    const std::uint64_t cpls = (len + p_.max_payload - 1) / p_.max_payload;
    delay = to_sc(send(false, now + host.value(), len, cpls, false) - now);
}

void PcieLink::msi(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const Time now = sim_now();
    const Time issued = now + delay.value();
    // Wait for the device's posted writes issued before the MSI (a device model may have booked
    // later ones ahead of time: those do not hold it).
    Time hold = issued;
    for (const auto& [issue, arrival] : recent_posted_)
        if (issue <= issued) hold = std::max(hold, arrival);
    delay = to_sc(hold - now);
    out_msi->b_transport(tx, delay);
}

void PcieLink::mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const Time now = sim_now();
    const std::uint64_t len = tx.get_data_length();
    // A write TLP carries its data; a read request is a header only, its data comes back up.
    sc_core::sc_time dev =
        to_sc(send(false, now + delay.value(), tx.is_read() ? 0 : len, 1, !tx.is_read()) - now);
    out_mmio->b_transport(tx, dev);
    if (tx.is_read()) delay = to_sc(send(true, now + dev.value(), len, 1, false) - now);
    // Posted MMIO writes: the CPU's store cost is charged by the kernel function that does it.
}

} // namespace iosim
