#include "models/workload/workload.h"

#include <cmath>

namespace iosim {

void Workload::register_stats(Stats& s, const std::function<double()>& window_s) {
    const std::string k = "workloads." + name_ + ".";
    s.counter(k + "completed", &completed);
    s.counter(k + "bytes", &bytes);
    s.value(k + "iops", [this, window_s] { return std::round(completed / window_s()); });
    s.value(k + "bytes_per_s", [this, window_s] { return std::round(bytes / window_s()); });
    s.histogram(k + "latency_ns", &latency_ns);
    register_extra(s, k);
}

} // namespace iosim
