// The AMD IOMMU driver's invalidation path (drivers/iommu/amd/iommu.c), run on a core:
// amd_iommu_iotlb_sync -> domain_flush_pages + iommu_completion_wait, and
// amd_iommu_flush_iotlb_all, each under iommu->lock taken with IRQs off
// (raw_spin_lock_irqsave), which makes the command queue one serialised resource for every core
// behind the IOMMU. wait_on_sem checks the semaphore at once and then every poll_interval
// (udelay(1)) until the IOMMU's completion-wait store has happened.
#pragma once
#include "models/common/resource.h"
#include "models/cpu/cpu.h"

#include <cstdint>

namespace iosim {

class IommuDriver {
public:
    explicit IommuDriver(Time poll_interval) : poll_(poll_interval) {}

    // Strict unmap: INVALIDATE_IOMMU_PAGES for the range, then COMPLETION_WAIT, waited for.
    void flush_pages(ExecCtx& ctx, std::uint16_t domain, std::uint64_t iova, std::uint64_t size);
    // Lazy flush: one invalidate-all for the domain, then COMPLETION_WAIT, waited for.
    void flush_all(ExecCtx& ctx, std::uint16_t domain);

    Resource& lock() { return lock_; }

    std::uint64_t commands = 0, completion_waits = 0;
    std::uint64_t wait_ps = 0;      // time cores spent in wait_on_sem
    std::uint64_t lock_spin_ps = 0; // time cores spun for iommu->lock

private:
    void send_and_wait(ExecCtx& ctx, IommuCommand& inv);

    Time poll_;
    Resource lock_;
};

} // namespace iosim
