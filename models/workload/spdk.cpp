#include "models/workload/spdk.h"

#include <cassert>
#include <stdexcept>

namespace iosim {

namespace {
constexpr std::uint64_t k4K = 4096;
constexpr std::uint64_t k2M = 2ull << 20;
std::uint64_t round_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}
} // namespace

SpdkWorkload::SpdkWorkload(const SpdkParams& p, Cpu& cpu, NvmeCtrl& ctrl, VfioDriver& vfio)
    : Workload(p.name), p_(p), cpu_(cpu), ctrl_(ctrl), vfio_(vfio) {
    if (p.iodepth >= p.queue_depth)
        throw std::invalid_argument("SpdkWorkload: iodepth must be below the queue depth");
    // The job's hugepage memory: SQ, CQ, PRP lists, then one buffer per slot (spdk_dma_zmalloc).
    npages_ = round_up(p.bs, k4K) / k4K;
    prp_bytes_ = npages_ > 2 ? round_up((npages_ - 1) * 8, k4K) : 0;
    sq_off_ = 0;
    cq_off_ = round_up(std::uint64_t{p.queue_depth} * kNvmeSqeBytes, k4K);
    prp_off_ = cq_off_ + round_up(std::uint64_t{p.queue_depth} * kNvmeCqeBytes, k4K);
    data_off_ = prp_off_ + p.iodepth * prp_bytes_;
    pool_bytes_ = round_up(data_off_ + p.iodepth * npages_ * k4K, k2M);
    for (unsigned j = 0; j < p.jobs; ++j) {
        auto job = std::make_unique<Job>();
        job->core = (p.first_cpu + j) % cpu.cores();
        job->index = j;
        job->rng = Rng(p.seed, p.name + "/" + std::to_string(j));
        job->vaddr = p.pool_vaddr + j * pool_bytes_;
        job->slots.resize(p.iodepth);
        job->reaped.reserve(p.iodepth);
        NvmeQueuePair& qp = job->qp;
        qp.qid = static_cast<std::uint16_t>(p.first_qid + j);
        qp.depth = p.queue_depth;
        qp.vector = 0;
        qp.irq_enabled = false; // polled: Create I/O CQ with IEN = 0
        qp.sq.resize(p.queue_depth);
        qp.cq.resize(p.queue_depth);
        qp.cq_posted_at.assign(p.queue_depth, 0);
        jobs_.push_back(std::move(job));
    }
}

bool SpdkWorkload::finished() const {
    if (p_.ios == 0) return false;
    for (const auto& j : jobs_)
        if (j->issued < p_.ios) return false;
    return inflight_ == 0;
}

void SpdkWorkload::start(Time at) {
    for (std::size_t j = 0; j < jobs_.size(); ++j)
        cpu_.post<&SpdkWorkload::init>(jobs_[j]->core, at, Cpu::Prio::Thread, this, j);
}

// spdk_env_init + spdk_nvme_probe on the job's thread: the memory is made DMA-able first.
void SpdkWorkload::init(ExecCtx& ctx, std::uint64_t job) {
    Job& j = *jobs_[job];
    if (vfio_.noiommu()) {
        j.runs = vfio_.pin_noiommu(j.vaddr, pool_bytes_);
        setup(ctx, j);
        return;
    }
    // vtophys with IOVA = VA; one VFIO_IOMMU_MAP_DMA for the job's VA-contiguous hugepages.
    vfio_.map_dma(ctx, j.vaddr, j.vaddr, pool_bytes_, kPermRead | kPermWrite, &SpdkWorkload::mapped,
                  this, job);
}

void SpdkWorkload::mapped(void* self, ExecCtx& ctx, std::uint64_t job) {
    auto& w = *static_cast<SpdkWorkload*>(self);
    w.setup(ctx, *w.jobs_[job]);
}

std::uint64_t SpdkWorkload::device_addr(const Job& j, std::uint64_t offset) const {
    if (!vfio_.noiommu()) return j.vaddr + offset; // IOVA = VA
    std::uint64_t base = 0;
    for (const PhysRun& r : j.runs) {
        if (offset < base + r.bytes) return r.phys + (offset - base);
        base += r.bytes;
    }
    throw std::logic_error("SpdkWorkload: offset beyond the pinned pool");
}

void SpdkWorkload::setup(ExecCtx& ctx, Job& j) {
    j.qp.sq_dma = device_addr(j, sq_off_);
    j.qp.cq_dma = device_addr(j, cq_off_);
    for (std::uint32_t s = 0; s < p_.iodepth; ++s) {
        Slot& sl = j.slots[s];
        for (std::uint64_t pg = 0; pg < npages_; ++pg)
            sl.pages.push_back(device_addr(j, data_off_ + (s * npages_ + pg) * k4K));
        if (prp_bytes_) sl.prp_list_addr = device_addr(j, prp_off_ + s * prp_bytes_);
    }
    ctrl_.create_io_queue(&j.qp);
    for (std::uint32_t s = 0; s < p_.iodepth; ++s)
        submit(ctx, j, s);
    j.polling = true;
    poll(ctx, j.index);
}

void SpdkWorkload::submit(ExecCtx& ctx, Job& j, std::uint32_t slot) {
    if (stopping_ || (p_.ios && j.issued >= p_.ios)) return;
    Slot& s = j.slots[slot];
    const std::uint64_t blocks = p_.size / p_.bs;
    s.offset = p_.random ? j.rng.below(blocks) * p_.bs : (j.next_seq++ % blocks) * p_.bs;
    s.submitted_at = ctx.now();
    ++j.issued;
    ++j.inflight;
    ++inflight_;
    KCall ns(ctx, p_.write ? Fn::spdk_nvme_ns_cmd_write : Fn::spdk_nvme_ns_cmd_read);
    NvmeQueuePair& qp = j.qp;
    assert((qp.sq_tail + 1) % qp.depth != qp.sq_head_seen && "SQ full: iodepth >= queue depth");
    NvmeSqe sqe;
    sqe.opcode = p_.write ? NvmeOpcode::Write : NvmeOpcode::Read;
    sqe.cid = static_cast<std::uint16_t>(slot);
    sqe.offset = s.offset;
    sqe.bytes = p_.bs;
    sqe.prp1 = s.pages[0];
    sqe.prp_count = static_cast<std::uint32_t>(npages_);
    if (npages_ == 2) {
        sqe.prp2 = s.pages[1];
    } else if (npages_ > 2) {
        sqe.prp2 = s.prp_list_addr;
        sqe.prp_list = s.pages.data() + 1;
    }
    KCall st(ctx, Fn::nvme_pcie_qpair_submit_tracker);
    qp.sq[qp.sq_tail] = sqe;
    qp.sq_tail = (qp.sq_tail + 1) % qp.depth;
    ++sq_doorbells;
    ctx.mmio_write(p_.bar + nvme_sq_doorbell(qp.qid), qp.sq_tail);
}

// fio's spdk plugin: spdk_fio_getevents polls spdk_nvme_qpair_process_completions in a loop; each
// completion is handed to fio, which queues the slot's next I/O. The thread never sleeps: a poll
// that finds nothing ends this work item and the next poll follows at once (a new item, so that
// SystemC time, and with it the controller, advances between polls).
void SpdkWorkload::poll(ExecCtx& ctx, std::uint64_t job) {
    Job& j = *jobs_[job];
    NvmeQueuePair& qp = j.qp;
    for (;;) {
        const Time t0 = ctx.now();
        j.reaped.clear();
        {
            KCall pc(ctx, Fn::spdk_nvme_qpair_process_completions);
            ++polls;
            // A CQE counts once its phase bit is visible: posted, and its DMA write landed.
            while (qp.cq_head != qp.cq_tail && qp.cq_posted_at[qp.cq_head] <= ctx.now()) {
                const NvmeCqe cqe = qp.cq[qp.cq_head];
                qp.cq_head = (qp.cq_head + 1) % qp.depth;
                qp.sq_head_seen = (qp.sq_head_seen + 1) % qp.depth;
                KCall ct(ctx, Fn::nvme_pcie_qpair_complete_tracker);
                if (cqe.status) ++errors;
                j.reaped.push_back(cqe.cid);
            }
            if (!j.reaped.empty()) {
                ++cq_doorbells;
                ctx.mmio_write(p_.bar + nvme_cq_doorbell(qp.qid), qp.cq_head);
            }
        }
        for (std::uint32_t slot : j.reaped) {
            Slot& s = j.slots[slot];
            --j.inflight;
            --inflight_;
            latency_ns.record((ctx.now() - s.submitted_at) / kNs);
            ++completed;
            bytes += p_.bs;
            { KCall f(ctx, Fn::fio); }
            submit(ctx, j, slot);
        }
        if (j.inflight == 0 && (stopping_ || (p_.ios && j.issued >= p_.ios))) {
            j.polling = false; // the job is done: its thread exits
            return;
        }
        if (j.reaped.empty()) {
            ++empty_polls;
            // With a zero poll cost the loop would not advance: a poll takes at least 1 ns.
            if (ctx.now() == t0) ctx.spin_until(t0 + kNs, Fn::spdk_nvme_qpair_process_completions);
            idle_poll_ps += ctx.now() - t0;
            cpu_.post<&SpdkWorkload::poll>(j.core, ctx.now(), Cpu::Prio::Thread, this, job);
            return;
        }
        if (ctx.needs_sync()) {
            cpu_.post<&SpdkWorkload::poll>(j.core, ctx.now(), Cpu::Prio::Thread, this, job);
            return;
        }
    }
}

void SpdkWorkload::register_extra(Stats& s, const std::string& k) {
    s.counter(k + "errors", &errors);
    s.counter(k + "polls", &polls);
    s.counter(k + "empty_polls", &empty_polls);
    s.counter(k + "sq_doorbells", &sq_doorbells);
    s.counter(k + "cq_doorbells", &cq_doorbells);
    s.time_ns(k + "idle_poll_ns", &idle_poll_ps);
    s.value(k + "pool_bytes", [this] { return static_cast<double>(pool_bytes_ * jobs_.size()); });
}

} // namespace iosim
