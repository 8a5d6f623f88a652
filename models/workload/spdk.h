// A userspace NVMe driver (SPDK's lib/nvme, PCIe transport) run by fio's spdk plugin: fio-like
// jobs (rw, bs, iodepth, jobs pinned to cores) on an NVMe SSD bound to vfio-pci.
// - Start: each job's hugepage memory (its SQ, CQ, PRP lists and one buffer per in-flight slot,
//   rounded up to 2 MiB pages) is mapped once with VFIO_IOMMU_MAP_DMA, IOVA = vaddr (SPDK's
//   iova-mode va), then the job creates its own I/O queue pair on the controller (admin commands,
//   untimed, as the kernel driver's probe) with interrupts disabled (CDW11.IEN = 0).
//   No-IOMMU mode (platform.iommu.mode off): nothing is mapped; the hugepages are pinned and the
//   driver programs their physical addresses (vfio-pci enable_unsafe_noiommu_mode).
// - I/O: spdk_nvme_ns_cmd_read/write builds the SQE and PRPs from the pre-mapped buffer and
//   nvme_pcie_qpair_submit_tracker writes it and the SQ tail doorbell from user space. No system
//   call, no DMA mapping, no IOTLB invalidation per I/O.
// - Completion: the job's core polls its CQ without end (spdk_nvme_qpair_process_completions) and
//   so is busy 100 % of the time, idle or not; a CQE is seen once its DMA write has landed.
//   Each completion costs nvme_pcie_qpair_complete_tracker and fio's own per-I/O work, and the
//   slot's next I/O is submitted. One CQ head doorbell per poll that found completions.
// Latency: from the submission to the poll that reaps it.
// Not modelled: SPDK's request splitting (MDTS), SGLs, the admin queue, doorbell batching.
#pragma once
#include "models/common/rng.h"
#include "models/cpu/cpu.h"
#include "models/nvme/nvme_ctrl.h"
#include "models/nvme/nvme_queue.h"
#include "models/vfio/vfio_timed.h"
#include "models/workload/workload.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iosim {

struct SpdkParams : BlockJobParams {
    std::uint32_t queue_depth = 1024;          // entries of each job's queue pair
    std::uint16_t first_qid = 1;               // job j uses qid first_qid + j
    std::uint64_t pool_vaddr = 0x200000000000; // SPDK's default base_virtaddr
    std::uint64_t bar = 0;                     // the controller's BAR0 (mmap'd by vfio-pci)
};

class SpdkWorkload : public Workload {
public:
    SpdkWorkload(const SpdkParams& p, Cpu& cpu, NvmeCtrl& ctrl, VfioDriver& vfio);

    const SpdkParams& params() const { return p_; }
    void start(Time at = 0) override;
    void stop() override { stopping_ = true; }
    std::uint64_t inflight() const override { return inflight_; }
    bool finished() const override; // every job reached `ios`

    // Pool bytes mapped per job (a multiple of 2 MiB).
    std::uint64_t pool_bytes() const { return pool_bytes_; }

    std::uint64_t errors = 0, polls = 0, empty_polls = 0, sq_doorbells = 0, cq_doorbells = 0;
    Time idle_poll_ps = 0; // core time spent in polls that found nothing

protected:
    void register_extra(Stats& s, const std::string& prefix) override;

private:
    struct Slot {
        std::vector<std::uint64_t> pages; // device addresses of the buffer's 4 KiB pages
        std::uint64_t prp_list_addr = 0;  // device address of its PRP list page (bs > 8 KiB)
        std::uint64_t offset = 0;
        Time submitted_at = 0;
    };
    struct Job {
        unsigned core = 0;
        std::size_t index = 0;
        Rng rng;
        NvmeQueuePair qp;
        std::vector<Slot> slots;
        std::uint64_t vaddr = 0;
        std::vector<PhysRun> runs; // no-IOMMU: the pool's physical pages
        std::vector<std::uint32_t> reaped;
        std::uint64_t issued = 0, next_seq = 0, inflight = 0;
        bool polling = false;
    };

    void init(ExecCtx& ctx, std::uint64_t job);
    static void mapped(void* self, ExecCtx& ctx, std::uint64_t job);
    void setup(ExecCtx& ctx, Job& j);
    std::uint64_t device_addr(const Job& j, std::uint64_t offset) const;
    void submit(ExecCtx& ctx, Job& j, std::uint32_t slot);
    void poll(ExecCtx& ctx, std::uint64_t job);

    SpdkParams p_;
    Cpu& cpu_;
    NvmeCtrl& ctrl_;
    VfioDriver& vfio_;
    std::vector<std::unique_ptr<Job>> jobs_;
    std::uint64_t npages_ = 1, prp_bytes_ = 0, sq_off_ = 0, cq_off_ = 0, prp_off_ = 0,
                  data_off_ = 0, pool_bytes_ = 0;
    std::uint64_t inflight_ = 0;
    bool stopping_ = false;
};

} // namespace iosim
