#include "models/dmabench/dmabench_setup.h"

#include <stdexcept>

namespace iosim {

DmaBenchBuffer map_dmabench_buffer(DmaApi& dma, DmaDevice& dev, PageAllocator& pages,
                                   std::uint64_t window, bool huge) {
    constexpr std::uint64_t k4K = 4096, k2M = 2ull << 20;
    const std::uint64_t page = huge ? k2M : k4K;
    DmaBenchBuffer b;
    b.bytes = (window + page - 1) / page * page;
    b.phys = pages.alloc_contiguous(b.bytes / k4K, k2M);
    if (!dev.domain) {
        b.dma_addr = b.phys;
        return b;
    }
    DmaDomain& d = *dev.domain;
    d.iova.reserve(kDmaBenchIova / k4K, (kDmaBenchIova + b.bytes) / k4K - 1);
    const auto r = d.pt.map(kDmaBenchIova, b.phys, b.bytes, kPermRead | kPermWrite, huge);
    if (!r.ok) throw std::logic_error("dmabench: the buffer's IOVA range is already mapped");
    dma.coherent_ptes += r.ptes_written;
    b.dma_addr = kDmaBenchIova;
    b.leaves = r.ptes_written;
    return b;
}

} // namespace iosim
