// The workload that drives the DMA benchmark engine (workloads.<name>.type: dmabench, device:
// dmabench0), as pcie-bench's host program does: the buffer is set up before the run
// (models/dmabench/dmabench_setup.h), then the engine is started and runs on its own; no CPU work
// per transfer. completed = transfers completed, bytes = their bytes, latency = per transfer
// (DmaBench's header says from when to when). The IOTLB figures are the IOMMU's counters for the
// engine's requester id (the AMD IOMMU PMU with a devid filter).
#pragma once
#include "models/dmabench/dmabench.h"
#include "models/iommu/iommu.h"
#include "models/workload/workload.h"

#include <string>

namespace iosim {

class DmaBenchWorkload : public Workload {
public:
    // `iommu`: whose counters for the engine's requester id the stats report.
    DmaBenchWorkload(std::string name, DmaBench& engine, const Iommu& iommu);

    void start(Time at) override { engine_.start(at); }
    void stop() override { engine_.stop(); }
    std::uint64_t inflight() const override { return engine_.outstanding(); }
    bool finished() const override { return engine_.finished(); }

    std::uint64_t errors = 0; // transfers with at least one error response

protected:
    void register_extra(Stats& s, const std::string& prefix) override;

private:
    static void on_done(void* owner, std::uint32_t bytes, Time latency, bool ok);

    DmaBench& engine_;
    const Iommu& iommu_;
};

} // namespace iosim
