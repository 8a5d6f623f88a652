#include "models/dmabench/dmabench.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace iosim {

namespace {
constexpr std::uint64_t kPage = 4096;
} // namespace

DmaBench::DmaBench(const sc_core::sc_module_name& name, const DmaBenchParams& p)
    : sc_core::sc_module(name), out_dma("out_dma"), in_regs("in_regs"), irq_out("irq_out"), p_(p),
      events_("events"), rng_(p.seed, "dmabench"), slots_(p.transfer ? p.window / p.transfer : 0),
      issued_at_(p.inflight, 0), slot_ok_(p.inflight, true), buf_(kPage, 0) {
    if (p.transfer == 0) throw std::invalid_argument("dmabench: a transfer of 0 bytes");
    if (p.inflight == 0) throw std::invalid_argument("dmabench: an in-flight limit of 0");
    if (!p.rogue && slots_ == 0)
        throw std::invalid_argument("dmabench: the window is smaller than one transfer");
    in_regs.register_b_transport(this, &DmaBench::regs);
    ext_ = init_dma_payload(tx_, p.requester_id);
    if (p.rogue) ext_->intent = DmaExt::Intent::Stray;
    if (p.write) tx_.set_extension(new PostedDoneExt);
}

void DmaBench::regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    if (tx.get_address() != kDmaBenchRegCtrl || !tx.is_write() || tx.get_data_length() != 4) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    std::uint32_t v;
    std::memcpy(&v, tx.get_data_ptr(), 4);
    if (v & 1) {
        events_.schedule<&DmaBench::start_event>(sim_now() + delay.value(), this);
    } else {
        stop();
    }
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

void DmaBench::start(Time at) {
    events_.schedule<&DmaBench::start_event>(at, this);
}

void DmaBench::start_event(std::uint64_t) {
    if (started_) return;
    started_ = true;
    stopping_ = false;
    for (std::uint32_t s = 0; s < p_.inflight; ++s)
        issue(s);
}

std::uint64_t DmaBench::next_address() {
    if (p_.rogue) {
        // Anywhere in the span, transfer-aligned: an address nobody mapped for this device.
        const std::uint64_t n = std::max<std::uint64_t>(1, p_.rogue_span / p_.transfer);
        return rng_.below(n) * p_.transfer;
    }
    const std::uint64_t slot = p_.random ? rng_.below(slots_) : next_slot_++ % slots_;
    return buffer_ + slot * p_.transfer;
}

void DmaBench::issue(std::uint64_t slot) {
    if (stopping_ || (p_.count && issued_ >= p_.count)) return;
    ++issued_;
    ++outstanding_;
    max_outstanding = std::max(max_outstanding, outstanding_);
    const Time now = sim_now();
    issued_at_[slot] = now;
    std::uint64_t addr = next_address();
    std::uint64_t left = p_.transfer;
    Time done = now, t = now;
    bool ok = true;
    tx_.set_command(p_.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    tx_.set_data_ptr(buf_.data());
    auto* posted = p_.write ? tx_.get_extension<PostedDoneExt>() : nullptr;
    while (left) {
        // A piece never crosses a 4 KiB boundary (PCIe forbids a request that does).
        const auto len =
            static_cast<std::uint32_t>(std::min<std::uint64_t>(left, kPage - (addr & (kPage - 1))));
        tx_.set_address(addr);
        tx_.set_data_length(len);
        tx_.set_streaming_width(len);
        tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        if (posted) posted->at = 0;
        sc_core::sc_time d = to_sc(t - now);
        out_dma->b_transport(tx_, d);
        Time end = now + d.value();
        // Posted writes leave one after the other; reads are all requested at once.
        if (p_.write) {
            t = end;
            if (posted) end = std::max(end, posted->at);
        }
        done = std::max(done, end);
        ++pieces;
        if (p_.rogue) ++stray_dmas;
        if (tx_.get_response_status() != tlm::TLM_OK_RESPONSE) {
            ok = false;
            ++dma_errors;
        }
        addr += len;
        left -= len;
    }
    slot_ok_[slot] = ok;
    // A path without any latency (a test binding) must still let time move on.
    if (done == now) done = now + 1;
    events_.schedule<&DmaBench::complete>(done, this, slot);
}

void DmaBench::complete(std::uint64_t slot) {
    --outstanding_;
    ++completed_;
    ++transfers;
    bytes += p_.transfer;
    const Time latency = sim_now() - issued_at_[slot];
    latency_ns.record(latency / kNs);
    if (done_fn_) done_fn_(done_owner_, p_.transfer, latency, slot_ok_[slot]);
    issue(slot);
}

} // namespace iosim
