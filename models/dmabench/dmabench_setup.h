// The DMA benchmark engine's set-up by the kernel (not measured): its buffer, physically
// contiguous and 2 MiB aligned, mapped once for the device's whole life.
// - strict, lazy: at a fixed IOVA (kDmaBenchIova, reserved in the domain's IOVA allocator so no
//   streaming mapping can take it), with 4 KiB leaves or, if `huge`, 2 MiB leaves (iommu_map
//   with the page sizes a driver asks for); counted with the probe-time mappings
//   (DmaApi::coherent_ptes), not as streaming ones.
// - off, passthrough (dma-direct): the DMA address is the physical address; nothing is mapped.
#pragma once
#include "models/kernel/dma_api.h"
#include "models/memory/page_allocator.h"

#include <cstdint>

namespace iosim {

inline constexpr std::uint64_t kDmaBenchIova = 1ull << 40; // 1 TiB, 2 MiB aligned

struct DmaBenchBuffer {
    std::uint64_t dma_addr = 0; // what the device is given
    std::uint64_t phys = 0;
    std::uint64_t bytes = 0; // the window rounded up to the page size
    unsigned leaves = 0;     // page-table leaves written (0 without translation)
};

DmaBenchBuffer map_dmabench_buffer(DmaApi& dma, DmaDevice& dev, PageAllocator& pages,
                                   std::uint64_t window, bool huge);

} // namespace iosim
