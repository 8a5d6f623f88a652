// CPU cores that run the modelled kernel. A core is a serial, non-preemptive resource: work items
// (a syscall from a job, a hard IRQ, a timer softirq) queue for it, interrupts ahead of thread
// work, and each runs to completion from max(arrival, core free). While an item runs, its
// ExecCtx advances a local time as the kernel code charges named functions (cycles from the
// config) or waits (a contended spinlock, a completion-wait poll); TLM calls it makes carry that
// local time as their delay (temporal decoupling: the item runs in one SystemC event).
//
// Sockets: out_mmio (PCIe MMIO to device registers), out_iommu (IOMMU registers), in_msi (MSI
// writes from devices: data = vector).
//
// Not modelled: preemption of a running item by an interrupt (an item with IRQs on is short
// here), caches and the memory traffic of the CPU itself, SMT, frequency scaling, the scheduler.
#pragma once
#include "models/common/event_queue.h"
#include "models/common/resource.h"
#include "models/common/tlm_ext.h"
#include "models/common/trace.h"
#include "models/cpu/stacks.h"
#include "models/kernel/kfunc.h"

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

namespace iosim {

class Cpu;

// The execution of one work item on one core.
class ExecCtx {
public:
    ExecCtx(Cpu& cpu, unsigned core, Time start);
    ~ExecCtx();

    unsigned core() const { return core_; }
    Time now() const { return t_; }
    Cpu& cpu() { return cpu_; }

    // `call` false: a frame resumed in a continuation item (the same call, still open), which
    // counts no call and is no probe entry (nor leaf) for the stack recorder.
    void enter(Fn f, bool call = true);
    void leave();
    // Stacks are being recorded (Cpu::set_stack_recorder): stack-only frames are pushed.
    bool recording() const;
    // A stack-only frame (fn_stack_only): on the stack, no accounting.
    void enter_frame(Fn f, bool call);
    void leave_frame();
    // Charge `units` of f's cost to the innermost frame.
    void work(Fn f, std::uint64_t units = 1);
    // Busy-wait until absolute time `until`, charged to `f` as a frame of its own.
    void spin_until(Time until, Fn f);

    // Spinlock with IRQs off: _raw_spin_lock_irqsave, spinning in
    // native_queued_spin_lock_slowpath while another core holds it.
    // Returns the time spent spinning.
    Time lock(Resource& l);
    void unlock(Resource& l);

    // Temporal decoupling: true once this item's local time is a global quantum (sim.quantum)
    // ahead of SystemC time. Code that can stop between steps (a thread's loop, not an IRQ with
    // interrupts off) then posts the rest as a continuation, as a quantum keeper would sync.
    bool needs_sync() const;

    // Posted MMIO writes through the CPU's sockets at the local time.
    void mmio_write(std::uint64_t addr, std::uint32_t value);
    void iommu_command(IommuCommand& cmd);

    // --stacks only (Cpu::run sets them when a recorder is set): the frames of the thread item
    // this IRQ interrupted (outermost first), and the log of frame transitions a thread item keeps
    // so that a later IRQ can find them.
    struct Transition {
        Time t;
        Fn fn; // Fn::kCount: a return
    };
    void set_interrupted(const Fn* frames, unsigned depth) {
        prefix_ = frames;
        prefix_depth_ = depth;
    }
    void set_log(std::vector<Transition>* log) { log_ = log; }

private:
    friend class Cpu;
    struct Frame {
        Fn fn;
        bool call;   // a call (not a frame resumed by KResume)
        bool parent; // it called another function (--stacks-probe all: not a leaf)
        Time entered;
    };
    // Out of line and cold: a run without --stacks only tests the recorder pointer.
    [[gnu::noinline, gnu::cold]] void stack_enter(Fn f, bool call);
    [[gnu::noinline, gnu::cold]] void stack_leave(const Frame& fr);
    void record_stack(unsigned depth);

    Cpu& cpu_;
    unsigned core_;
    Time t_;
    Frame frames_[32]; // the deepest modelled path (Wi-Fi TX free in the softirq, strict) is ~20
    unsigned depth_ = 0;
    const Fn* prefix_ = nullptr;
    unsigned prefix_depth_ = 0;
    std::vector<Transition>* log_ = nullptr;
    struct Held {
        Resource* lock;
        Time start;
    };
    Held locks_[4];
    unsigned nlocks_ = 0;
    TraceWriter* trace_;    // the Cpu's, copied: one load fewer per leave()
    Fn outer_ = Fn::kCount; // the first outermost frame left (--trace: names the work item)
    [[gnu::noinline]] void trace_leave(const Frame& fr);
};

// A frame of a call that began in an earlier work item of the same thread (a long ioctl resumed
// after cond_resched): on the stack again, charged and counted nothing.
class KResume {
public:
    KResume(ExecCtx& ctx, Fn f) : ctx_(ctx) { ctx.enter(f, false); }
    ~KResume() { ctx_.leave(); }
    KResume(const KResume&) = delete;
    KResume& operator=(const KResume&) = delete;

private:
    ExecCtx& ctx_;
};

// RAII stack-only frame (fn_stack_only: entry glue with no cost of its own): on the stack only
// while stacks are recorded, so that a run without --stacks pays one test for it. `call` false:
// resumed in a continuation item, as KResume.
class KFrame {
public:
    KFrame(ExecCtx& ctx, Fn f, bool call = true) : ctx_(ctx.recording() ? &ctx : nullptr) {
        if (ctx_) ctx_->enter_frame(f, call);
    }
    ~KFrame() {
        if (ctx_) ctx_->leave_frame();
    }
    KFrame(const KFrame&) = delete;
    KFrame& operator=(const KFrame&) = delete;

private:
    ExecCtx* ctx_;
};

// RAII call of a kernel function: enters it and charges one unit of its cost (or `units`).
class KCall {
public:
    KCall(ExecCtx& ctx, Fn f, std::uint64_t units = 1) : ctx_(ctx) {
        ctx.enter(f);
        if (units) ctx.work(f, units);
    }
    ~KCall() { ctx_.leave(); }
    KCall(const KCall&) = delete;
    KCall& operator=(const KCall&) = delete;

private:
    ExecCtx& ctx_;
};

// The entry every system call runs under: entry_SYSCALL_64 (charged; entry_SYSCALL_64_after_hwframe
// in stacks) and do_syscall_64 (a stack-only frame). The __x64_sys_* function goes inside it.
class KSyscall {
public:
    explicit KSyscall(ExecCtx& ctx)
        : entry_(ctx, Fn::entry_SYSCALL_64), ds_(ctx, Fn::do_syscall_64) {}

private:
    KCall entry_; // constructed first, left last
    KFrame ds_;
};

struct CpuParams {
    unsigned cores = 8;
    double hz = 3e9;
};

class Cpu : public sc_core::sc_module {
public:
    using Work = void (*)(void* obj, ExecCtx& ctx, std::uint64_t arg);
    enum class Prio : std::uint8_t { Irq, Thread };

    tlm_utils::simple_initiator_socket<Cpu> out_mmio;
    tlm_utils::simple_initiator_socket<Cpu> out_iommu;
    tlm_utils::multi_passthrough_target_socket<Cpu> in_msi; // one binding per device

    Cpu(const sc_core::sc_module_name& name, const CpuParams& p, const KernelCosts& costs);

    unsigned cores() const { return static_cast<unsigned>(cores_.size()); }
    double hz() const { return p_.hz; }
    const KernelCosts& costs() const { return costs_; }
    KernelAccounting& accounting() { return acct_; }
    // Count the kernel stacks into a probe function from now on (nullptr: stop). Not owned.
    // An IRQ that arrives while the core runs a thread item shows, as on a real core, the
    // thread's frames open at its arrival below its own (the model runs it after the item: cores
    // are non-preemptive); on an idle core it shows none (the idle loop's frames are left out).
    void set_stack_recorder(StackRecorder* r) {
        stacks_ = r;
        probe_ = r ? r->probe() : Fn::kCount;
        leaves_ = r && r->all_leaves();
    }

    // Write each work item and kernel function as a slice on its core's track (nullptr: stop).
    // Not owned.
    void set_trace(TraceWriter* t);

    // Run fn(obj, ctx, arg) on `core` once it is free at or after `at`.
    void post(unsigned core, Time at, Prio prio, Work fn, void* obj, std::uint64_t arg = 0);
    template <auto Method, class T>
    void post(unsigned core, Time at, Prio prio, T* obj, std::uint64_t arg = 0) {
        post(
            core, at, prio,
            [](void* o, ExecCtx& c, std::uint64_t a) { (static_cast<T*>(o)->*Method)(c, a); }, obj,
            arg);
    }
    // The lowest MSI vector no driver has registered yet (vector 0 is never handed out), for a
    // driver to claim `count` consecutive vectors from, as pci_alloc_irq_vectors does per device.
    std::uint32_t alloc_msi_vectors(std::uint32_t count);
    // An MSI write with data `vector` runs fn as a hard IRQ on `core`.
    void register_msi(std::uint32_t vector, unsigned core, Work fn, void* obj,
                      std::uint64_t arg = 0);
    template <auto Method, class T>
    void register_msi(std::uint32_t vector, unsigned core, T* obj, std::uint64_t arg = 0) {
        register_msi(
            vector, core,
            [](void* o, ExecCtx& c, std::uint64_t a) { (static_cast<T*>(o)->*Method)(c, a); }, obj,
            arg);
    }

    // Busy time per core. An item is accounted whole when it runs; reset_busy() and busy_until()
    // let the stats clip the item that straddles the start or the end of the measured window.
    std::vector<std::uint64_t> busy_ps;
    Time busy_until(unsigned core) const { return cores_[core].busy_until; }
    // Start accounting afresh at `now`: only the part of a running item after `now` counts.
    void reset_busy(Time now) {
        for (std::size_t c = 0; c < cores_.size(); ++c)
            busy_ps[c] = cores_[c].busy_until > now ? cores_[c].busy_until - now : 0;
    }
    std::uint64_t irqs = 0, items = 0;

private:
    friend class ExecCtx;
    struct Item {
        Work fn;
        void* obj;
        std::uint64_t arg;
        Prio prio;
        unsigned core;
        Time at; // arrival
    };
    // Fixed-capacity FIFO of pool indices (grows by doubling, never shrinks).
    struct Fifo {
        std::vector<std::uint32_t> buf;
        std::size_t head = 0, count = 0;
        void push(std::uint32_t v);
        std::uint32_t pop();
        bool empty() const { return count == 0; }
    };
    struct Core {
        Time busy_until = 0;
        bool wake_pending = false;
        Fifo irq, thread;
        // --stacks: the last thread item's frame transitions over [log_start, log_end).
        std::vector<ExecCtx::Transition> log;
        Time log_start = 0, log_end = 0;
        std::vector<Fn> interrupted;
    };
    struct Vector {
        bool valid = false;
        unsigned core = 0;
        Work fn = nullptr;
        void* obj = nullptr;
        std::uint64_t arg = 0;
    };

    std::uint32_t alloc_item(const Item& it);
    void arrive(std::uint64_t idx);
    void wake(std::uint64_t core);
    void run(std::uint32_t idx);
    void msi(int port, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void trace_item(unsigned core, bool irq, Fn outer, Time start, Time end);

    CpuParams p_;
    const KernelCosts& costs_;
    KernelAccounting acct_;
    EventQueue events_;
    std::vector<Core> cores_;
    std::vector<Item> pool_;
    std::vector<std::uint32_t> free_items_;
    std::vector<Vector> vectors_;
    std::uint32_t next_vector_ = 1; // alloc_msi_vectors hands out from here
    [[gnu::noinline, gnu::cold]] void stacks_begin(ExecCtx& ctx, const Item& it, Core& c,
                                                   Time start);
    StackRecorder* stacks_ = nullptr;
    TraceWriter* trace_ = nullptr;
    Fn probe_ = Fn::kCount; // kCount: no probe
    bool leaves_ = false;   // --stacks-probe all
    tlm::tlm_generic_payload mmio_tx_;
    tlm::tlm_generic_payload iommu_tx_;
    std::uint32_t mmio_buf_ = 0;
};

inline bool ExecCtx::recording() const {
    return cpu_.stacks_ != nullptr;
}

} // namespace iosim
