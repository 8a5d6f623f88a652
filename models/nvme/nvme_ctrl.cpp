#include "models/nvme/nvme_ctrl.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstring>
#include <string>

namespace iosim {

namespace {
// Bytes of a command's first data page (PRP1 to the end of its page, or the whole transfer).
std::uint32_t first_page_bytes(const NvmeSqe& s) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(s.bytes, 4096 - (s.prp1 & 4095)));
}
} // namespace

NvmeCtrl::NvmeCtrl(const sc_core::sc_module_name& name, const NvmeCtrlParams& p)
    : sc_core::sc_module(name), in_regs("in_regs"), out_dma("out_dma"), irq_out("irq_out"), p_(p),
      events_("events"), fw_(p.controller_cores), dies_(p.channels * p.dies_per_channel),
      channels_(p.channels), data_buf_(512), inject_(p.inject) {
    in_regs.register_b_transport(this, &NvmeCtrl::regs);
    ext_ = init_dma_payload(tx_, p.requester_id);
    init_msi_payload(msi_tx_, &msi_buf_);
    if (inject_.enabled()) {
        init_dma_payload(stray_tx_, p.requester_id)->intent = DmaExt::Intent::Stray;
        stray_buf_.assign(512, 0x57a7d3adbad0d3a5ull); // what a stray write leaves behind
    }
    cmds_.reserve(4096);
}

void NvmeCtrl::create_io_queue(NvmeQueuePair* q) {
    if (q->qid >= queues_.size()) {
        queues_.resize(q->qid + 1u, nullptr);
        pending_irq_.resize(q->qid + 1u, 0);
        coalesce_armed_.resize(q->qid + 1u, false);
    }
    queues_[q->qid] = q;
    if (trace_) trace_queue(*q); // SPDK creates its queues during the run
}

void NvmeCtrl::set_trace(TraceWriter* t) {
    trace_ = t;
    if (!t) return;
    for (const NvmeQueuePair* q : queues_)
        if (q) trace_queue(*q);
}

void NvmeCtrl::trace_queue(const NvmeQueuePair& q) {
    if (trace_depth_.size() <= q.qid) trace_depth_.resize(q.qid + 1u, 0);
    trace_->process(TraceWriter::kPidNvme + q.qid,
                    std::string(name()) + " queue " + std::to_string(q.qid) +
                        (q.irq_enabled ? "" : " (polled)"),
                    static_cast<int>(TraceWriter::kPidNvme + q.qid));
}

// Commands the controller holds, from the SQE fetch to the end of the flash work (both at the
// SystemC time of the event, so that the samples come in time order).
void NvmeCtrl::trace_depth(const NvmeQueuePair& q, int delta, Time at) {
    unsigned& d = trace_depth_[q.qid];
    d = static_cast<unsigned>(static_cast<int>(d) + delta);
    trace_->counter(TraceWriter::kPidNvme + q.qid, "queue depth", at, d);
}

void NvmeCtrl::regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const std::uint64_t a = tx.get_address();
    if (!tx.is_write() || a < kNvmeDoorbellBase || tx.get_data_length() != 4) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    const std::uint64_t idx = (a - kNvmeDoorbellBase) / 4;
    const std::uint16_t qid = static_cast<std::uint16_t>(idx / 2);
    if (qid >= queues_.size() || !queues_[qid]) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    std::uint32_t v;
    std::memcpy(&v, tx.get_data_ptr(), 4);
    NvmeQueuePair& q = *queues_[qid];
    if (idx % 2 == 0) {
        q.sq_tail_db = v % q.depth;
        events_.schedule<&NvmeCtrl::fetch>(sim_now() + delay.value(), this, qid);
    } else {
        q.cq_head_db = v % q.depth; // CQ head doorbell: the host consumed entries up to v
    }
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

Time NvmeCtrl::dma(bool write, std::uint64_t addr, std::uint32_t len, unsigned char* data, Time at,
                   bool& ok, const char* what) {
    const Time now = sim_now();
    tx_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    tx_.set_address(addr);
    tx_.set_data_ptr(data);
    tx_.set_data_length(len);
    tx_.set_streaming_width(len);
    tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(at - now);
    if (trace_) trace_->dma_begin();
    out_dma->b_transport(tx_, d);
    if (tx_.get_response_status() != tlm::TLM_OK_RESPONSE) {
        ok = false;
        ++dma_errors;
    }
    if (trace_) trace_dma(what, at, now + d.value());
    return now + d.value();
}

// Out of line, so that dma() stays small enough to inline where the trace is off.
void NvmeCtrl::trace_dma(const char* what, Time b, Time e) {
    const Cmd* c = trace_cmd_;
    trace_->dma_end(TraceWriter::kPidNvme + (c ? c->q->qid : 0u), what, b, e, c ? c->trace_id : 0,
                    "nvme", c && c->sqe.opcode == NvmeOpcode::Read ? "read" : "write");
}

std::uint32_t NvmeCtrl::alloc_cmd() {
    if (!free_cmds_.empty()) {
        std::uint32_t i = free_cmds_.back();
        free_cmds_.pop_back();
        return i;
    }
    cmds_.emplace_back();
    return static_cast<std::uint32_t>(cmds_.size() - 1);
}

Time NvmeCtrl::flash(const NvmeSqe& sqe, Time at) {
    const bool rd = sqe.opcode == NvmeOpcode::Read;
    const Time cell = rd ? p_.read_latency : p_.program_latency;
    Time done = at;
    std::uint64_t first = sqe.offset / p_.flash_page;
    std::uint64_t last = (sqe.offset + sqe.bytes - 1) / p_.flash_page;
    for (std::uint64_t fp = first; fp <= last; ++fp) {
        // Pages stripe over channels first, then dies: consecutive pages run in parallel.
        const unsigned ch = static_cast<unsigned>(fp % p_.channels);
        const unsigned die = static_cast<unsigned>((fp / p_.channels) % p_.dies_per_channel);
        const std::uint64_t lo = std::max(sqe.offset, fp * p_.flash_page);
        const std::uint64_t hi =
            std::min<std::uint64_t>(sqe.offset + sqe.bytes, (fp + 1) * p_.flash_page);
        const Time xfer = transfer_time(hi - lo, p_.channel_bandwidth);
        Resource& d = dies_[ch * p_.dies_per_channel + die];
        Time end;
        if (rd) { // tR on the die, then the page leaves on the channel
            auto g = d.acquire(at, cell);
            end = channels_[ch].acquire(g.end, xfer).end;
        } else { // data goes in over the channel, then tPROG
            auto g = channels_[ch].acquire(at, xfer);
            end = d.acquire(g.end, cell).end;
        }
        done = std::max(done, end);
    }
    return done;
}

Time NvmeCtrl::dma_data(Cmd& c, bool to_host, Time at) {
    const NvmeSqe& s = c.sqe;
    std::uint64_t remaining = s.bytes;
    std::uint64_t dev_off = s.offset;
    Time t = at, done = at;
    for (std::uint32_t i = 0; i < s.prp_count && remaining; ++i) {
        std::uint64_t addr = i == 0 ? s.prp1 : (s.prp_count == 2 ? s.prp2 : s.prp_list[i - 1]);
        std::uint32_t len =
            static_cast<std::uint32_t>(std::min<std::uint64_t>(remaining, 4096 - (addr & 4095)));
        unsigned char* data = reinterpret_cast<unsigned char*>(data_buf_.data());
        if (to_host && p_.generate_data) {
            for (std::uint32_t w = 0; w < len / 8; ++w)
                data_buf_[w] = nvme_pattern_word(dev_off + 8ull * w);
        }
        bool ok = true;
        Time end = dma(to_host, addr, len, data, t, ok);
        if (!ok) c.error = true;
        // Posted writes stream back to back; reads are issued together and complete out of order.
        if (to_host) t = end;
        done = std::max(done, end);
        remaining -= len;
        dev_off += len;
    }
    return done;
}

void NvmeCtrl::fetch(std::uint64_t qid) {
    NvmeQueuePair& q = *queues_[qid];
    const Time now = sim_now();
    while (q.sq_head != q.sq_tail_db) {
        const std::uint32_t head = q.sq_head;
        q.sq_head = (q.sq_head + 1) % q.depth;
        bool ok = true;
        const std::uint32_t ci = alloc_cmd();
        Cmd& c = cmds_[ci];
        c.q = &q;
        c.sqe = q.sq[head];
        if (trace_) {
            c.trace_id = trace_->new_id();
            c.trace_begin = now;
            trace_cmd_ = &c;
            trace_depth(q, +1, now);
        }
        // All new SQEs are fetched at once; they queue on the link.
        Time t = dma(false, q.sq_dma + std::uint64_t{head} * kNvmeSqeBytes, kNvmeSqeBytes, nullptr,
                     now, ok, "SQE fetch");
        ++sqe_fetches;
        c.error = !ok;
        ++commands;
        c.inject = false;
        if (inject_.enabled() && (inject_.params().kind != DmaInjectParams::Kind::WriteReadOnly ||
                                  c.sqe.opcode == NvmeOpcode::Write))
            c.inject = inject_.choose(now);
        if (c.inject && inject_.params().kind == DmaInjectParams::Kind::RandomIova)
            stray_dma({true, inject_.random_address(), 4096}, t);
        t = fw_.acquire(t, p_.cmd_latency).end;
        if (c.sqe.prp_count > 2) {
            bool lok = true;
            t = dma(false, c.sqe.prp2, 8 * (c.sqe.prp_count - 1), nullptr, t, lok, "PRP list");
            if (!lok) c.error = true;
        }
        Time done;
        if (c.sqe.opcode == NvmeOpcode::Read) {
            ++reads;
            bytes_read += c.sqe.bytes;
            done = flash(c.sqe, t);
        } else {
            ++writes;
            bytes_written += c.sqe.bytes;
            t = dma_data(c, false, t);
            if (c.inject && inject_.params().kind == DmaInjectParams::Kind::WriteReadOnly)
                stray_dma({true, c.sqe.prp1, first_page_bytes(c.sqe)}, t);
            done = flash(c.sqe, t);
        }
        events_.schedule<&NvmeCtrl::complete>(done, this, ci);
    }
    trace_cmd_ = nullptr;
}

void NvmeCtrl::complete(std::uint64_t ci) {
    Cmd& c = cmds_[ci];
    Time t = sim_now();
    if (trace_) {
        trace_cmd_ = &c;
        trace_depth(*c.q, -1, t);
    }
    if (c.sqe.opcode == NvmeOpcode::Read && !c.error) t = dma_data(c, true, t);
    post_cqe(c, t);
    if (c.inject && inject_.params().kind == DmaInjectParams::Kind::UseAfterUnmap) {
        // The device touches the command's first data page again after completing it: the
        // buffer it wrote (a read) or read (a write).
        std::uint32_t slot;
        if (!free_strays_.empty()) {
            slot = free_strays_.back();
            free_strays_.pop_back();
        } else {
            slot = static_cast<std::uint32_t>(strays_.size());
            strays_.emplace_back();
        }
        strays_[slot] = {c.sqe.opcode == NvmeOpcode::Read, c.sqe.prp1, first_page_bytes(c.sqe)};
        events_.schedule<&NvmeCtrl::stray_event>(t + inject_.params().delay, this, slot);
    }
    trace_cmd_ = nullptr;
    free_cmds_.push_back(static_cast<std::uint32_t>(ci));
}

void NvmeCtrl::stray_event(std::uint64_t slot) {
    stray_dma(strays_[slot], sim_now());
    free_strays_.push_back(static_cast<std::uint32_t>(slot));
}

void NvmeCtrl::stray_dma(const Stray& st, Time at) {
    const Time now = sim_now();
    stray_tx_.set_command(st.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    stray_tx_.set_address(st.addr);
    // A stray read lands in the data buffer (its contents do not matter), so that the pattern
    // stray writes leave behind stays recognisable.
    stray_tx_.set_data_ptr(
        reinterpret_cast<unsigned char*>(st.write ? stray_buf_.data() : data_buf_.data()));
    stray_tx_.set_data_length(st.len);
    stray_tx_.set_streaming_width(st.len);
    stray_tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(at > now ? at - now : 0);
    out_dma->b_transport(stray_tx_, d);
    ++stray_issued;
    if (stray_tx_.get_response_status() != tlm::TLM_OK_RESPONSE) ++stray_errors;
}

void NvmeCtrl::post_cqe(Cmd& c, Time at) {
    NvmeQueuePair& q = *c.q;
    assert((q.cq_tail + 1) % q.depth != q.cq_head_db && "CQ overflow");
    q.cq[q.cq_tail] = {c.sqe.cid, static_cast<std::uint16_t>(c.error ? 0x4 : 0)};
    bool ok = true;
    Time t = dma(true, q.cq_dma + std::uint64_t{q.cq_tail} * kNvmeCqeBytes, kNvmeCqeBytes, nullptr,
                 at, ok, "CQE post");
    if (trace_) {
        char args[64];
        std::snprintf(args, sizeof(args), "\"cid\":%u,\"bytes\":%llu", unsigned{c.sqe.cid},
                      static_cast<unsigned long long>(c.sqe.bytes));
        trace_->async(TraceWriter::kPidNvme + q.qid, "nvme",
                      c.sqe.opcode == NvmeOpcode::Read ? "read" : "write", c.trace_id,
                      c.trace_begin, t, args);
    }
    if (!q.cq_posted_at.empty()) q.cq_posted_at[q.cq_tail] = t;
    q.cq_tail = (q.cq_tail + 1) % q.depth;
    if (!q.irq_enabled) return; // a polled queue: the host finds the CQE by its phase bit
    // MSI-X with optional coalescing: aggregation threshold or aggregation time.
    unsigned& pend = pending_irq_[q.qid];
    ++pend;
    if (p_.coalesce_count == 0 || pend >= p_.coalesce_count) {
        send_msi(q, t);
    } else if (p_.coalesce_time > 0 && !coalesce_armed_[q.qid]) {
        coalesce_armed_[q.qid] = true;
        events_.schedule<&NvmeCtrl::coalesce_timeout>(t + p_.coalesce_time, this, q.qid);
    }
}

void NvmeCtrl::coalesce_timeout(std::uint64_t qid) {
    coalesce_armed_[qid] = false;
    if (pending_irq_[qid]) send_msi(*queues_[qid], sim_now());
}

void NvmeCtrl::send_msi(NvmeQueuePair& q, Time at) {
    pending_irq_[q.qid] = 0;
    msi_buf_ = q.vector;
    msi_tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(at + p_.msi_latency - sim_now());
    irq_out->b_transport(msi_tx_, d);
    ++msis;
}

} // namespace iosim
