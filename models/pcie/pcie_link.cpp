#include "models/pcie/pcie_link.h"

#include "models/common/event_queue.h"

namespace iosim {

PcieLink::PcieLink(const sc_core::sc_module_name& name, const PcieLinkParams& p)
    : sc_core::sc_module(name), in_dma("in_dma"), out_dma("out_dma"), in_mmio("in_mmio"),
      out_mmio("out_mmio"), p_(p), bw_(pcie_bytes_per_s(p.gen, p.lanes)) {
    in_dma.register_b_transport(this, &PcieLink::dma);
    in_mmio.register_b_transport(this, &PcieLink::mmio);
}

Resource::Grant PcieLink::send(Resource& dir, Time at, std::uint64_t payload, std::uint64_t tlps,
                               bool up) {
    std::uint64_t wire = payload + tlps * p_.tlp_overhead;
    Time t = transfer_time(wire, bw_);
    if (up) {
        up_bytes += wire;
        tlps_up += tlps;
        up_busy_ps += t;
    } else {
        down_bytes += wire;
        tlps_down += tlps;
        down_busy_ps += t;
    }
    return dir.acquire(at, t);
}

void PcieLink::dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const Time now = sim_now();
    const std::uint64_t len = tx.get_data_length();
    const Time start = now + delay.value();
    if (tx.is_write()) {
        const std::uint64_t tlps = (len + p_.max_payload - 1) / p_.max_payload;
        auto g = send(up_, start, len, tlps, true);
        sc_core::sc_time host = to_sc(g.end + p_.latency - now);
        out_dma->b_transport(tx, host);
        // Posted: the device only waits for its data to leave on the link.
        delay = to_sc(g.end - now);
        return;
    }
    // Non-posted read: requests up, completions (cut at max_payload) down.
    const std::uint64_t reqs = (len + p_.max_read_request - 1) / p_.max_read_request;
    auto g = send(up_, start, 0, reqs, true);
    sc_core::sc_time host = to_sc(g.end + p_.latency - now);
    out_dma->b_transport(tx, host);
    if (tx.get_response_status() != tlm::TLM_OK_RESPONSE) {
        // An unsupported-request completion still comes back down.
        auto c = send(down_, now + host.value(), 0, 1, false);
        delay = to_sc(c.end + p_.latency - now);
        return;
    }
    const std::uint64_t cpls = (len + p_.max_payload - 1) / p_.max_payload;
    auto c = send(down_, now + host.value(), len, cpls, false);
    delay = to_sc(c.end + p_.latency - now);
}

void PcieLink::mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const Time now = sim_now();
    const std::uint64_t len = tx.get_data_length();
    // A write TLP carries its data; a read request is a header only, its data comes back up.
    auto g = send(down_, now + delay.value(), tx.is_read() ? 0 : len, 1, false);
    sc_core::sc_time dev = to_sc(g.end + p_.latency - now);
    out_mmio->b_transport(tx, dev);
    if (tx.is_read()) {
        auto c = send(up_, now + dev.value(), len, 1, true);
        delay = to_sc(c.end + p_.latency - now);
    }
    // Posted MMIO writes: the CPU's store cost is charged by the kernel function that does it.
}

} // namespace iosim
