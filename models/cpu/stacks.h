// Kernel stacks counted at the entry of one probe function, as bpftrace's
//   bpftrace -e 'kprobe:FN { @[kstack] = count(); }'
// counts them (shared/traces/README.md), or at every leaf call (--stacks-probe all: a function
// that returned without calling another, counted once per call, with the stack at its entry; a
// sampling profiler's view of where the kernel runs). The frames are the modelled kernel
// functions open on the core, innermost first, with the real kernel's entry glue (syscall entry,
// IRQ entry, softirq, kthread); user-space frames (fio, iperf, SPDK) are left out, as a kernel
// stack has none, and so are the functions the real kernel inlines (fn_inlined). An IRQ that
// interrupted a thread carries the thread's frames below its own (Cpu::set_stack_recorder).
// Offsets are printed as +0.
#pragma once
#include "models/kernel/kfunc.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace iosim {

class StackRecorder {
public:
    // Fn::kCount: every leaf call (--stacks-probe all).
    explicit StackRecorder(Fn probe) : probe_(probe) {}
    static constexpr Fn kAllLeaves = Fn::kCount;

    Fn probe() const { return probe_; }
    bool all_leaves() const { return probe_ == kAllLeaves; }
    // `frames` outermost first, the probe function (or the leaf) last.
    void record(const Fn* frames, unsigned depth);

    // bpftrace's map print: each stack as "@[", one "    fn+0" line per frame (innermost first),
    // "]: COUNT", in increasing count (ties: by frames), as bpftrace prints a map.
    std::string to_bpftrace() const;
    std::uint64_t total() const;
    const std::map<std::vector<Fn>, std::uint64_t>& counts() const { return counts_; }

    // Functions that run in user space: never part of a kernel stack.
    static bool user_space(Fn f);

private:
    Fn probe_;
    std::vector<Fn> scratch_;
    std::map<std::vector<Fn>, std::uint64_t> counts_; // innermost first
};

} // namespace iosim
