#include "models/cpu/cpu.h"

#include <cassert>
#include <cstdio>
#include <cstring>
#include <string>

#include <tlm_utils/tlm_quantumkeeper.h>

namespace iosim {

// ---------------------------------------------------------------- ExecCtx

ExecCtx::ExecCtx(Cpu& cpu, unsigned core, Time start)
    : cpu_(cpu), core_(core), t_(start), trace_(cpu.trace_) {}

ExecCtx::~ExecCtx() {
    assert(depth_ == 0 && "kernel frame left open");
    assert(nlocks_ == 0 && "lock held at the end of a work item");
}

bool ExecCtx::needs_sync() const {
    return t_ - sim_now() >= tlm::tlm_global_quantum::instance().get().value();
}

void ExecCtx::enter(Fn f, bool call) {
    assert(depth_ < sizeof(frames_) / sizeof(frames_[0]));
    Frame& fr = frames_[depth_++];
    fr.fn = f;
    fr.entered = t_;
    if (call) ++cpu_.acct_.calls[static_cast<std::size_t>(f)];
    // Last, so that the common path (no recorder) needs no frame of its own: a tail call.
    if (cpu_.stacks_) stack_enter(f, call);
}

void ExecCtx::leave() {
    assert(depth_ > 0);
    const Frame& fr = frames_[--depth_];
    cpu_.acct_.incl_ps[static_cast<std::size_t>(fr.fn)] += t_ - fr.entered;
    if (cpu_.stacks_) stack_leave(fr);
    if (trace_) trace_leave(fr); // last, out of line: a tail call, leave() stays lean
}

void ExecCtx::enter_frame(Fn f, bool call) {
    assert(depth_ < sizeof(frames_) / sizeof(frames_[0]));
    frames_[depth_].fn = f;
    frames_[depth_++].entered = t_;
    stack_enter(f, call);
}

void ExecCtx::leave_frame() {
    assert(depth_ > 0);
    stack_leave(frames_[--depth_]);
}

void ExecCtx::stack_enter(Fn f, bool call) {
    frames_[depth_ - 1].call = call; // the flags are read by the recorder only
    frames_[depth_ - 1].parent = false;
    if (depth_ > 1) frames_[depth_ - 2].parent = true;
    if (log_) log_->push_back({t_, f});
    if (call && f == cpu_.probe_) record_stack(depth_);
}

void ExecCtx::stack_leave(const Frame& fr) {
    if (log_) log_->push_back({t_, Fn::kCount});
    if (cpu_.leaves_ && fr.call && !fr.parent && !StackRecorder::user_space(fr.fn))
        record_stack(depth_ + 1);
}

void ExecCtx::record_stack(unsigned depth) {
    Fn stack[2 * sizeof(frames_) / sizeof(frames_[0])];
    unsigned n = 0;
    for (unsigned i = 0; i < prefix_depth_ && n < sizeof(stack) / sizeof(stack[0]); ++i)
        stack[n++] = prefix_[i];
    for (unsigned i = 0; i < depth; ++i)
        stack[n++] = frames_[i].fn;
    cpu_.stacks_->record(stack, n);
}

void ExecCtx::trace_leave(const Frame& fr) {
    trace_->slice(TraceWriter::kPidCpu, core_, "kernel", fn_name(fr.fn), fr.entered, t_);
    if (depth_ == 0 && (outer_ == Fn::kCount || StackRecorder::user_space(outer_))) outer_ = fr.fn;
}

void ExecCtx::work(Fn f, std::uint64_t units) {
    Time dt = cpu_.costs_.ps[static_cast<std::size_t>(f)] * units;
    t_ += dt;
    if (depth_) cpu_.acct_.excl_ps[static_cast<std::size_t>(frames_[depth_ - 1].fn)] += dt;
}

void ExecCtx::spin_until(Time until, Fn f) {
    enter(f);
    if (until > t_) {
        cpu_.acct_.excl_ps[static_cast<std::size_t>(f)] += until - t_;
        t_ = until;
    }
    leave();
}

Time ExecCtx::lock(Resource& l) {
    KCall c(*this, Fn::_raw_spin_lock_irqsave);
    const Time start = l.first_free(t_);
    const Time spun = start - t_;
    if (spun) {
        spin_until(start, Fn::native_queued_spin_lock_slowpath);
        l.add_wait(spun);
    }
    assert(nlocks_ < sizeof(locks_) / sizeof(locks_[0]));
    locks_[nlocks_++] = {&l, start};
    return spun;
}

void ExecCtx::unlock(Resource& l) {
    assert(nlocks_ > 0 && locks_[nlocks_ - 1].lock == &l && "locks released out of order");
    l.occupy(locks_[--nlocks_].start, t_);
}

void ExecCtx::mmio_write(std::uint64_t addr, std::uint32_t value) {
    auto& tx = cpu_.mmio_tx_;
    cpu_.mmio_buf_ = value;
    tx.set_command(tlm::TLM_WRITE_COMMAND);
    tx.set_address(addr);
    tx.set_data_ptr(reinterpret_cast<unsigned char*>(&cpu_.mmio_buf_));
    tx.set_data_length(4);
    tx.set_streaming_width(4);
    tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(t_ - sim_now());
    cpu_.out_mmio->b_transport(tx, d);
    assert(tx.get_response_status() == tlm::TLM_OK_RESPONSE);
}

void ExecCtx::iommu_command(IommuCommand& cmd) {
    auto& tx = cpu_.iommu_tx_;
    tx.set_command(tlm::TLM_WRITE_COMMAND);
    tx.set_address(0x2008); // Iommu::kRegCmdTail
    tx.set_data_ptr(reinterpret_cast<unsigned char*>(&cmd));
    tx.set_data_length(sizeof(IommuCommand));
    tx.set_streaming_width(sizeof(IommuCommand));
    tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = to_sc(t_ - sim_now());
    cpu_.out_iommu->b_transport(tx, d);
    assert(tx.get_response_status() == tlm::TLM_OK_RESPONSE);
}

// ---------------------------------------------------------------- Cpu

void Cpu::Fifo::push(std::uint32_t v) {
    if (count == buf.size()) {
        std::vector<std::uint32_t> nb(buf.empty() ? 64 : buf.size() * 2);
        for (std::size_t i = 0; i < count; ++i)
            nb[i] = buf[(head + i) % buf.size()];
        buf.swap(nb);
        head = 0;
    }
    buf[(head + count) % buf.size()] = v;
    ++count;
}

std::uint32_t Cpu::Fifo::pop() {
    std::uint32_t v = buf[head];
    head = (head + 1) % buf.size();
    --count;
    return v;
}

Cpu::Cpu(const sc_core::sc_module_name& name, const CpuParams& p, const KernelCosts& costs)
    : sc_core::sc_module(name), out_mmio("out_mmio"), out_iommu("out_iommu"), in_msi("in_msi"),
      busy_ps(p.cores, 0), p_(p), costs_(costs), events_("events"), cores_(p.cores), vectors_(256) {
    in_msi.register_b_transport(this, &Cpu::msi);
    pool_.reserve(1024);
    mmio_tx_.set_byte_enable_ptr(nullptr);
    mmio_tx_.set_dmi_allowed(false);
}

std::uint32_t Cpu::alloc_item(const Item& it) {
    if (!free_items_.empty()) {
        std::uint32_t i = free_items_.back();
        free_items_.pop_back();
        pool_[i] = it;
        return i;
    }
    pool_.push_back(it);
    return static_cast<std::uint32_t>(pool_.size() - 1);
}

void Cpu::post(unsigned core, Time at, Prio prio, Work fn, void* obj, std::uint64_t arg) {
    assert(core < cores_.size());
    std::uint32_t idx = alloc_item({fn, obj, arg, prio, core, at});
    events_.schedule<&Cpu::arrive>(at, this, idx);
}

std::uint32_t Cpu::alloc_msi_vectors(std::uint32_t count) {
    std::uint32_t first = next_vector_;
    for (std::uint32_t v = first; v < vectors_.size(); ++v)
        if (vectors_[v].valid) first = v + 1;
    next_vector_ = first + count;
    if (next_vector_ > vectors_.size()) vectors_.resize(next_vector_);
    return first;
}

void Cpu::register_msi(std::uint32_t vector, unsigned core, Work fn, void* obj, std::uint64_t arg) {
    assert(core < cores_.size());
    if (vector >= vectors_.size()) vectors_.resize(vector + 1);
    vectors_[vector] = {true, core, fn, obj, arg};
}

void Cpu::arrive(std::uint64_t idx) {
    const Item& it = pool_[idx];
    Core& c = cores_[it.core];
    const Time now = sim_now();
    if (c.busy_until <= now && c.irq.empty() && c.thread.empty()) {
        run(static_cast<std::uint32_t>(idx));
        return;
    }
    (it.prio == Prio::Irq ? c.irq : c.thread).push(static_cast<std::uint32_t>(idx));
    if (!c.wake_pending) {
        c.wake_pending = true;
        events_.schedule<&Cpu::wake>(c.busy_until, this, it.core);
    }
}

void Cpu::wake(std::uint64_t core) {
    Core& c = cores_[core];
    c.wake_pending = false;
    if (c.busy_until > sim_now()) { // an item ran in between and moved the horizon
        c.wake_pending = true;
        events_.schedule<&Cpu::wake>(c.busy_until, this, core);
        return;
    }
    std::uint32_t idx = !c.irq.empty() ? c.irq.pop() : c.thread.pop();
    run(idx);
    if (!c.irq.empty() || !c.thread.empty()) {
        c.wake_pending = true;
        events_.schedule<&Cpu::wake>(c.busy_until, this, core);
    }
}

void Cpu::run(std::uint32_t idx) {
    Item it = pool_[idx];
    free_items_.push_back(idx);
    Core& c = cores_[it.core];
    const Time start = std::max(sim_now(), c.busy_until);
    ++items;
    if (it.prio == Prio::Irq) ++irqs;
    Time end;
    Fn outer;
    {
        ExecCtx ctx(*this, it.core, start);
        if (stacks_) stacks_begin(ctx, it, c, start);
        it.fn(it.obj, ctx, it.arg);
        end = ctx.now();
        outer = ctx.outer_;
    }
    if (stacks_ && it.prio == Prio::Thread) c.log_end = end;
    if (trace_) trace_item(it.core, it.prio == Prio::Irq, outer, start, end);
    c.busy_until = end;
    busy_ps[it.core] += end - start;
}

void Cpu::stacks_begin(ExecCtx& ctx, const Item& it, Core& c, Time start) {
    if (it.prio == Prio::Thread) {
        c.log.clear();
        c.log_start = start;
        c.log_end = start;
        ctx.set_log(&c.log);
        return;
    }
    // An IRQ that arrived while the last thread item ran: the thread's frames open at that time
    // (the transitions up to and including it).
    if (it.at < c.log_start || it.at >= c.log_end) return;
    c.interrupted.clear();
    for (const ExecCtx::Transition& tr : c.log) {
        if (tr.t > it.at) break;
        if (tr.fn == Fn::kCount) {
            c.interrupted.pop_back();
        } else {
            c.interrupted.push_back(tr.fn);
        }
    }
    ctx.set_interrupted(c.interrupted.data(), static_cast<unsigned>(c.interrupted.size()));
}

void Cpu::set_trace(TraceWriter* t) {
    trace_ = t;
    if (!t) return;
    t->process(TraceWriter::kPidCpu, "CPU", 0);
    for (unsigned c = 0; c < cores(); ++c)
        t->thread(TraceWriter::kPidCpu, c, "core " + std::to_string(c), static_cast<int>(c));
}

// A work item, named by what it is (its first outermost kernel function tells).
void Cpu::trace_item(unsigned core, bool irq, Fn outer, Time start, Time end) {
    std::string_view kind = irq ? "hardirq" : "kthread";
    switch (outer) {
    case Fn::entry_SYSCALL_64:
        kind = "syscall";
        break;
    case Fn::net_rx_action:
    case Fn::mt7921_irq_tasklet:
    case Fn::__napi_poll:
        kind = irq ? "softirq" : "kthread"; // a NAPI poll as thread work: threaded NAPI
        break;
    case Fn::fq_flush_timeout:
        kind = "timer";
        break;
    case Fn::fio:
    case Fn::iperf:
    case Fn::spdk_nvme_ns_cmd_read:
    case Fn::spdk_nvme_ns_cmd_write:
    case Fn::spdk_nvme_qpair_process_completions:
        kind = "user";
        break;
    default:
        break;
    }
    char args[96] = "";
    if (outer != Fn::kCount) {
        const std::string_view n = fn_name(outer);
        std::snprintf(args, sizeof(args), "\"first\":\"%.*s\"", static_cast<int>(n.size()),
                      n.data());
    }
    trace_->slice(TraceWriter::kPidCpu, core, "item", kind, start, end, args);
}

void Cpu::msi(int, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    std::uint32_t vector = 0;
    std::memcpy(&vector, tx.get_data_ptr(), sizeof(vector));
    if (vector >= vectors_.size() || !vectors_[vector].valid) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    const Vector& v = vectors_[vector];
    post(v.core, sim_now() + delay.value(), Prio::Irq, v.fn, v.obj, v.arg);
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

} // namespace iosim
