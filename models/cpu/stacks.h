// Kernel stacks counted at the entry of one probe function, as bpftrace's
//   bpftrace -e 'kprobe:FN { @[kstack] = count(); }'
// counts them (shared/traces/README.md). The frames are the modelled kernel functions open on the
// core when the probe function is entered, innermost first; user-space frames (fio, iperf, SPDK)
// are left out, as a kernel stack has none. Offsets are printed as +0.
// Not yet: the frames the real kernel has and the model does not call (IRQ entry glue, the block
// layer's plug flush, the syscall entry's do_syscall_64), so a modelled stack is a subsequence of
// the real one (issue 4 adds them).
#pragma once
#include "models/kernel/kfunc.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace iosim {

class StackRecorder {
public:
    explicit StackRecorder(Fn probe) : probe_(probe) {}

    Fn probe() const { return probe_; }
    // `frames` outermost first, the probe function last.
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
