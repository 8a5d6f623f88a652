#include "models/workload/dmabench_job.h"

#include <cmath>

namespace iosim {

DmaBenchWorkload::DmaBenchWorkload(std::string name, DmaBench& engine, const Iommu& iommu)
    : Workload(std::move(name)), engine_(engine), iommu_(iommu) {
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
    // Translations the engine caused (its requester id), in total and per transfer.
    const Iommu* mmu = &iommu_;
    const std::uint16_t rid = p->requester_id;
    auto xlate = [mmu, rid](std::uint64_t Iommu::RequesterCounters::*field) {
        return [mmu, rid, field] { return static_cast<double>(mmu->counters_of(rid).*field); };
    };
    s.value(k + "iotlb.lookups", xlate(&Iommu::RequesterCounters::lookups));
    s.value(k + "iotlb.hits", xlate(&Iommu::RequesterCounters::hits));
    s.value(k + "iotlb.misses", xlate(&Iommu::RequesterCounters::misses));
    s.value(k + "iotlb.walk_reads", xlate(&Iommu::RequesterCounters::walk_reads));
    s.value(k + "iotlb.misses_per_transfer", [this, mmu, rid] {
        const double m = static_cast<double>(mmu->counters_of(rid).misses);
        return completed ? std::round(1e6 * m / static_cast<double>(completed)) / 1e6 : 0.0;
    });
}

} // namespace iosim
