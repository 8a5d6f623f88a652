// Set-up the socket-level tests of kernel paths share: uniform kernel costs, and a device's DMA
// wired as the platform wires it (through the IOMMU, or straight to DRAM when it is off).
#pragma once
#include "models/common/stubs.h"
#include "models/iommu/iommu.h"
#include "models/kernel/kfunc.h"
#include "models/memory/memory.h"

#include <memory>

namespace iosim::test {

// Every kernel function with a cost key costs `per_unit` per unit; the others (waits) nothing.
inline KernelCosts uniform_costs(Time per_unit) {
    KernelCosts c;
    for (std::size_t i = 0; i < kFnCount; ++i)
        c.ps[i] = fn_cost_key(static_cast<Fn>(i)).empty() ? 0 : per_unit;
    return c;
}

// The command-queue latencies of the socket-level kernel tests (the schema's defaults), from which
// they compute the times they expect.
constexpr Time kDoorbell = 150 * kNs, kInvPages = 400 * kNs, kInvAll = 600 * kNs, kCw = 400 * kNs;

// The IOMMU of those tests: a small IOTLB (64 entries, 4 ways, LRU) so that tests can fill it,
// 16-entry walk caches, 4 walkers, 60 ns per walk read, the command latencies above.
inline IommuParams small_iommu_params(IommuMode mode) {
    IommuParams ip;
    ip.mode = mode;
    ip.iotlb = IotlbParams{64, 4, CachePolicy::Lru, 1};
    ip.iotlb_hit_latency = 5 * kNs;
    ip.walk_cache_entries = 16;
    ip.walk_cache_ways = 4;
    ip.walker_slots = 4;
    ip.walk_read_overhead = 60 * kNs;
    ip.inv_pages_latency = kInvPages;
    ip.inv_all_latency = kInvAll;
    ip.completion_wait_latency = kCw;
    ip.doorbell_latency = kDoorbell;
    return ip;
}

// Binds a device's DMA socket to the IOMMU, or to DRAM when the IOMMU is off; then the IOMMU's
// DMA socket gets a stub initiator so that it is bound, which the caller keeps alive.
template <class Socket>
std::unique_ptr<StubInitiator> bind_dma_path(Socket& device_dma, Iommu& iommu, Memory& mem,
                                             IommuMode mode) {
    if (mode != IommuMode::Off) {
        device_dma.bind(iommu.in_dma);
        return nullptr;
    }
    device_dma.bind(mem.in);
    auto unused = std::make_unique<StubInitiator>("iommu_unused");
    unused->out.bind(iommu.in_dma);
    return unused;
}

} // namespace iosim::test
