#include "models/workload/vm.h"

#include <algorithm>

namespace iosim {

VmWorkload::VmWorkload(const VmParams& p, Cpu& cpu, VfioDriver& vfio)
    : Workload(p.name), p_(p), cpu_(cpu), vfio_(vfio) {
    const std::uint64_t low = std::min(p.guest_memory, p.below_4g);
    regions_.push_back({0, p.vaddr, low});
    if (p.guest_memory > low) regions_.push_back({4ull << 30, p.vaddr + low, p.guest_memory - low});
}

void VmWorkload::start(Time at) {
    cpu_.post<&VmWorkload::map_next>(p_.core, at, Cpu::Prio::Thread, this, 0);
}

std::uint64_t VmWorkload::inflight() const {
    // The drain at the end of the run waits for a set-up or teardown in progress or due.
    return state_ == State::Mapping || state_ == State::Unmapping ||
                   (state_ == State::Mapped && teardown_posted_)
               ? 1
               : 0;
}

void VmWorkload::stop() {
    stopping_ = true;
    if (state_ == State::Mapped && !teardown_posted_) {
        teardown_posted_ = true;
        cpu_.post<&VmWorkload::teardown>(p_.core, sim_now(), Cpu::Prio::Thread, this, 0);
    }
}

void VmWorkload::map_next(ExecCtx& ctx, std::uint64_t i) {
    if (i == 0) {
        state_ = State::Mapping;
        phase_start_ = ctx.now();
    }
    const Region& r = regions_[i];
    vfio_.map_dma(ctx, r.iova, r.vaddr, r.bytes, kPermRead | kPermWrite, &VmWorkload::mapped, this,
                  i);
}

void VmWorkload::mapped(void* self, ExecCtx& ctx, std::uint64_t i) {
    auto& vm = *static_cast<VmWorkload*>(self);
    vm.pages_pinned += vm.regions_[i].bytes / 4096;
    if (i + 1 < vm.regions_.size()) {
        vm.map_next(ctx, i + 1); // QEMU's listener maps the next section right away
        return;
    }
    vm.map_ps = ctx.now() - vm.phase_start_;
    vm.state_ = State::Mapped;
    if (vm.p_.hold || vm.stopping_) {
        vm.teardown_posted_ = true;
        const Time at = vm.stopping_ ? ctx.now() : ctx.now() + vm.p_.hold;
        vm.cpu_.post<&VmWorkload::teardown>(vm.p_.core, at, Cpu::Prio::Thread, &vm, 0);
    }
}

void VmWorkload::teardown(ExecCtx& ctx, std::uint64_t) {
    state_ = State::Unmapping;
    phase_start_ = ctx.now();
    unmap_next(ctx, 0);
}

void VmWorkload::unmap_next(ExecCtx& ctx, std::uint64_t i) {
    const Region& r = regions_[i];
    const std::uint64_t calls0 = vfio_.iova_to_phys_calls, syncs0 = vfio_.iotlb_syncs;
    const std::uint64_t leaves0 = vfio_.leaves_unmapped;
    vfio_.unmap_dma(ctx, r.iova, r.bytes, &VmWorkload::unmapped, this, i);
    // The functional unmap is done when unmap_dma returns (its time may still be running).
    iova_to_phys_calls += vfio_.iova_to_phys_calls - calls0;
    iotlb_syncs += vfio_.iotlb_syncs - syncs0;
    leaves += vfio_.leaves_unmapped - leaves0;
}

void VmWorkload::unmapped(void* self, ExecCtx& ctx, std::uint64_t i) {
    auto& vm = *static_cast<VmWorkload*>(self);
    if (i + 1 < vm.regions_.size()) {
        vm.unmap_next(ctx, i + 1);
        return;
    }
    vm.unmap_ps = ctx.now() - vm.phase_start_;
    vm.state_ = State::Done;
}

void VmWorkload::register_extra(Stats& s, const std::string& k) {
    // Values, not counters: the set-up usually falls in the warm-up, which must not erase it.
    s.value(k + "guest_memory_bytes", [this] { return static_cast<double>(p_.guest_memory); });
    s.value(k + "map_dma_ioctls", [this] { return static_cast<double>(regions_.size()); });
    s.value(k + "map_ns", [this] { return to_ns(map_ps); });
    s.value(k + "unmap_ns", [this] { return to_ns(unmap_ps); });
    s.value(k + "pages_pinned", [this] { return static_cast<double>(pages_pinned); });
    s.value(k + "iova_to_phys_calls", [this] { return static_cast<double>(iova_to_phys_calls); });
    s.value(k + "leaves_unmapped", [this] { return static_cast<double>(leaves); });
    s.value(k + "iotlb_syncs", [this] { return static_cast<double>(iotlb_syncs); });
    s.text(k + "state", [this] {
        static const char* kNames[] = {"idle", "mapping", "mapped", "unmapping", "torn down"};
        return std::string(kNames[static_cast<int>(state_)]);
    });
}

} // namespace iosim
