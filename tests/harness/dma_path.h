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
