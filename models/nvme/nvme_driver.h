// The Linux NVMe PCI driver's I/O path (drivers/nvme/host/pci.c, v5.16-v6.16), run on the cores:
// - nvme_queue_rq -> nvme_map_data: one physical segment within 8 KiB: dma_map_bvec (one
//   map_page, PRP1/PRP2 from the handle); otherwise dma_map_sg of the whole list and PRPs built
//   from the DMA segments, with the PRP list from a pre-mapped dma_pool page. Then
//   nvme_submit_cmd: the SQE and the SQ tail doorbell.
// - nvme_irq (hard IRQ) -> nvme_poll_cq -> nvme_pci_complete_batch -> nvme_unmap_data
//   (dma_unmap_page or dma_unmap_sg) -> blk_mq_end_request_batch; one CQ head doorbell per pass.
// One I/O queue pair per core with its own MSI-X vector on that core, as the driver sets up.
// Request size: at most 128 KiB under an IOMMU DMA domain (dma_opt_mapping_size =
// iova_rcache_range), 8 MiB (NVME_MAX_KB_SZ) under dma-direct; the block layer splits above.
#pragma once
#include "models/cpu/cpu.h"
#include "models/kernel/dma_api.h"
#include "models/nvme/nvme_ctrl.h"
#include "models/nvme/nvme_queue.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace iosim {

// A block-layer request as the driver sees it: the physical segments after blk_rq_map_sg.
struct BlkRequest {
    bool write = false;
    std::uint64_t offset = 0;
    std::uint32_t bytes = 0;
    std::vector<DmaSeg> segs; // physical
    unsigned nsegs = 0;
    // Completion, called in the IRQ on the queue's core.
    void (*done)(void* owner, ExecCtx& ctx, BlkRequest& rq) = nullptr;
    void* owner = nullptr;
    std::uint64_t tag = 0;
    std::uint16_t status = 0;
    // Driver state
    std::vector<DmaSeg> dma;
    unsigned ndma = 0;
    bool sg = false;
    std::uint64_t dma_single = 0;
};

class NvmeDriver {
public:
    // `bar`: the controller's BAR0 address in the CPU's MMIO space (the doorbells are offsets in
    // it).
    NvmeDriver(Cpu& cpu, DmaApi& dma, DmaDevice& dev, NvmeCtrl& ctrl, std::uint32_t queue_depth,
               std::uint64_t bar = 0);

    std::uint32_t max_request_bytes() const;
    // nvme_queue_rq on the calling core's queue. False if the queue is full (BLK_STS_RESOURCE).
    bool submit(ExecCtx& ctx, BlkRequest& rq);

    std::uint64_t submitted = 0, completed = 0, errors = 0, irqs = 0, cq_doorbells = 0;

private:
    struct Queue {
        NvmeQueuePair qp;
        std::vector<BlkRequest*> inflight; // by cid
        std::vector<std::uint16_t> free_cids;
        std::vector<std::vector<std::uint64_t>> prp_lists; // by cid (host memory contents)
        std::vector<std::uint64_t> prp_list_dma;           // by cid, 0 until first used
    };
    void irq(ExecCtx& ctx, std::uint64_t qid);

    Cpu& cpu_;
    DmaApi& dma_;
    DmaDevice& dev_;
    NvmeCtrl& ctrl_;
    std::uint64_t bar_;
    std::vector<std::unique_ptr<Queue>> queues_; // index = qid - 1 = core
};

} // namespace iosim
