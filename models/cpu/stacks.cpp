#include "models/cpu/stacks.h"

#include <algorithm>
#include <string_view>

namespace iosim {

bool StackRecorder::user_space(Fn f) {
    const std::string_view n = fn_name(f);
    return n == "fio" || n == "iperf" || n.rfind("spdk_", 0) == 0 ||
           n.rfind("nvme_pcie_qpair_", 0) == 0;
}

void StackRecorder::record(const Fn* frames, unsigned depth) {
    scratch_.clear();
    for (unsigned i = depth; i-- > 0;)
        if (!user_space(frames[i]) && !fn_inlined(frames[i])) scratch_.push_back(frames[i]);
    if (scratch_.empty()) return; // a leaf in user space
    ++counts_[scratch_];
}

std::uint64_t StackRecorder::total() const {
    std::uint64_t n = 0;
    for (const auto& kv : counts_)
        n += kv.second;
    return n;
}

std::string StackRecorder::to_bpftrace() const {
    std::vector<std::pair<std::uint64_t, const std::vector<Fn>*>> order;
    for (const auto& [stack, n] : counts_)
        order.push_back({n, &stack});
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out;
    for (const auto& [n, stack] : order) {
        out += "@[\n";
        for (Fn f : *stack)
            out += "    " + std::string(fn_stack_name(f)) + "+0\n";
        out += "]: " + std::to_string(n) + "\n";
    }
    return out;
}

} // namespace iosim
