// A VM with an assigned device, as QEMU sets it up: its guest RAM is mapped for the device with
// VFIO_IOMMU_MAP_DMA at start (guest physical address = IOVA; the q35 layout puts up to
// `below_4g` at 0 and the rest at 4 GiB, one ioctl per region, from one VA-contiguous allocation)
// and torn down with VFIO_IOMMU_UNMAP_DMA per region (vfio_listener_region_del), after `hold` or,
// with hold = 0, at the end of the run. The physical layout behind the guest RAM (how much of it
// is 2 MiB pages) is the platform's FragmentedMemory, so the unmap's iommu_iova_to_phys calls, its
// IOTLB syncs and its time follow from it. The guest itself runs nothing here: it holds its
// mapping (a device it drives would DMA through the same domain).
// Reports map_ns and unmap_ns (first ioctl's entry to last ioctl's return) and finished() once
// torn down. Not modelled: QEMU's own work between the ioctls, guest RAM above 1 TiB, vIOMMU.
#pragma once
#include "models/cpu/cpu.h"
#include "models/vfio/vfio_timed.h"
#include "models/workload/workload.h"

#include <cstdint>
#include <string>
#include <vector>

namespace iosim {

struct VmParams {
    std::string name = "vm";
    std::uint64_t guest_memory = 1ull << 30;
    Time hold = 0; // 0 = until the end of the run
    unsigned core = 0;
    std::uint64_t vaddr = 0x7f0000000000ull; // QEMU's RAM block (2 MiB aligned, THP-eligible)
    std::uint64_t below_4g = 2ull << 30;     // q35: RAM below 4 GiB ends at 2 GiB (> 2.75 GiB)
};

class VmWorkload : public Workload {
public:
    VmWorkload(const VmParams& p, Cpu& cpu, VfioDriver& vfio);

    void start(Time at = 0) override;
    void stop() override;
    std::uint64_t inflight() const override;
    bool finished() const override { return state_ == State::Done; }

    struct Region {
        std::uint64_t iova, vaddr, bytes;
    };
    const std::vector<Region>& regions() const { return regions_; }

    Time map_ps = 0, unmap_ps = 0;
    std::uint64_t iova_to_phys_calls = 0, iotlb_syncs = 0, pages_pinned = 0, leaves = 0;

protected:
    void register_extra(Stats& s, const std::string& prefix) override;

private:
    enum class State { Idle, Mapping, Mapped, Unmapping, Done };
    void map_next(ExecCtx& ctx, std::uint64_t region);
    static void mapped(void* self, ExecCtx& ctx, std::uint64_t region);
    void unmap_next(ExecCtx& ctx, std::uint64_t region);
    static void unmapped(void* self, ExecCtx& ctx, std::uint64_t region);
    void teardown(ExecCtx& ctx, std::uint64_t);

    VmParams p_;
    Cpu& cpu_;
    VfioDriver& vfio_;
    std::vector<Region> regions_;
    State state_ = State::Idle;
    bool stopping_ = false, teardown_posted_ = false;
    Time phase_start_ = 0;
};

} // namespace iosim
