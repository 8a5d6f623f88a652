#include "models/workload/dmabench_job.h"

#include <cmath>

namespace iosim {

DmaBenchWorkload::DmaBenchWorkload(std::string name, DmaBench& engine,
                                   const Iommu::RequesterCounters& xlate)
    : Workload(std::move(name)), engine_(engine), xlate_(xlate) {
    engine_.set_done(&DmaBenchWorkload::on_done, this);
}

void DmaBenchWorkload::on_done(void* owner, std::uint32_t bytes, Time latency, bool ok) {
    auto& self = *static_cast<DmaBenchWorkload*>(owner);
    ++self.completed;
    self.bytes += bytes;
    self.latency_ns.record(latency / kNs);
    if (!ok) ++self.errors;
}

void DmaBenchWorkload::register_extra(Stats& s, const std::string& k) {
    s.counter(k + "errors", &errors);
    const DmaBenchParams* p = &engine_.params();
    s.value(k + "transfer_bytes", [p] { return p->transfer; });
    s.value(k + "window_bytes", [p] { return static_cast<double>(p->window); });
    s.value(k + "inflight", [p] { return p->inflight; });
    // Translations the engine caused (its requester id), per transfer and in total.
    const Iommu::RequesterCounters* x = &xlate_;
    s.value(k + "iotlb.lookups", [x] { return static_cast<double>(x->lookups); });
    s.value(k + "iotlb.hits", [x] { return static_cast<double>(x->hits); });
    s.value(k + "iotlb.misses", [x] { return static_cast<double>(x->misses); });
    s.value(k + "iotlb.walk_reads", [x] { return static_cast<double>(x->walk_reads); });
    s.value(k + "iotlb.misses_per_transfer", [this, x] {
        return completed ? std::round(1e6 * static_cast<double>(x->misses) / completed) / 1e6 : 0.0;
    });
}

} // namespace iosim
