#include "models/nvme/nvme_driver.h"

#include <cassert>

namespace iosim {

namespace {
constexpr std::uint32_t kCtrlPage = 4096; // NVME_CTRL_PAGE_SIZE
}

NvmeDriver::NvmeDriver(Cpu& cpu, DmaApi& dma, DmaDevice& dev, NvmeCtrl& ctrl,
                       std::uint32_t queue_depth, std::uint64_t bar)
    : cpu_(cpu), dma_(dma), dev_(dev), ctrl_(ctrl), bar_(bar) {
    // One MSI-X vector per I/O queue (pci_alloc_irq_vectors), each affine to its queue's core.
    const std::uint32_t first_vector = cpu.alloc_msi_vectors(cpu.cores());
    for (unsigned core = 0; core < cpu.cores(); ++core) {
        auto q = std::make_unique<Queue>();
        NvmeQueuePair& qp = q->qp;
        qp.qid = static_cast<std::uint16_t>(core + 1);
        qp.depth = queue_depth;
        qp.vector = first_vector + core;
        qp.sq.resize(queue_depth);
        qp.cq.resize(queue_depth);
        qp.sq_dma = dma.alloc_coherent(dev, std::uint64_t{queue_depth} * kNvmeSqeBytes, nullptr);
        qp.cq_dma = dma.alloc_coherent(dev, std::uint64_t{queue_depth} * kNvmeCqeBytes, nullptr);
        q->inflight.assign(queue_depth, nullptr);
        for (std::uint32_t c = queue_depth - 1; c + 1 > 0; --c)
            q->free_cids.push_back(static_cast<std::uint16_t>(c));
        q->prp_lists.resize(queue_depth);
        q->prp_list_dma.assign(queue_depth, 0);
        ctrl.create_io_queue(&qp);
        cpu.register_msi<&NvmeDriver::irq>(qp.vector, core, this, qp.qid);
        queues_.push_back(std::move(q));
    }
}

std::uint32_t NvmeDriver::max_request_bytes() const {
    return dma_.translated() ? 128u * 1024 : 8u * 1024 * 1024;
}

bool NvmeDriver::submit(ExecCtx& ctx, BlkRequest& rq) {
    // __iomap_dio_rw -> ... -> blk_mq_submit_bio puts the request on the task's plug; the
    // blk_finish_plug that ends the dio flushes it to the driver: blk_mq_flush_plug_list walks
    // the plug and dispatches it (its own cost, charged before the driver's ->queue_rq, so that
    // an IRQ can land in it). (The model flushes after each request: one request per plug for
    // I/Os up to max_request_bytes.)
    { KCall b(ctx, Fn::blk_mq_submit_bio); }
    KFrame fp(ctx, Fn::blk_finish_plug);
    KFrame bf(ctx, Fn::__blk_flush_plug);
    KCall fl(ctx, Fn::blk_mq_flush_plug_list);
    KCall q(ctx, Fn::nvme_queue_rq);
    Queue& qu = *queues_[ctx.core()];
    NvmeQueuePair& qp = qu.qp;
    if ((qp.sq_tail + 1) % qp.depth == qp.sq_head_seen || qu.free_cids.empty()) return false;
    const std::uint16_t cid = qu.free_cids.back();
    qu.free_cids.pop_back();
    NvmeSqe sqe;
    sqe.opcode = rq.write ? NvmeOpcode::Write : NvmeOpcode::Read;
    sqe.cid = cid;
    sqe.offset = rq.offset;
    sqe.bytes = rq.bytes;
    const DmaDir dir = rq.write ? DmaDir::ToDevice : DmaDir::FromDevice;

    // nvme_map_data
    std::vector<std::uint64_t>& list = qu.prp_lists[cid];
    list.clear();
    if (rq.nsegs == 1 && (rq.segs[0].addr % kCtrlPage) + rq.segs[0].len <= 2 * kCtrlPage) {
        // nvme_setup_prp_simple: dma_map_bvec
        rq.sg = false;
        rq.dma_single = dma_.map_page(ctx, dev_, rq.segs[0].addr, rq.segs[0].len, dir);
        const std::uint64_t first = kCtrlPage - (rq.dma_single % kCtrlPage);
        sqe.prp1 = rq.dma_single;
        sqe.prp_count = rq.segs[0].len > first ? 2 : 1;
        sqe.prp2 = rq.segs[0].len > first ? rq.dma_single + first : 0;
    } else {
        // dma_map_sg + nvme_pci_setup_prps
        rq.sg = true;
        if (rq.dma.size() < rq.nsegs) rq.dma.resize(rq.nsegs);
        rq.ndma = dma_.map_sg(ctx, dev_, rq.segs.data(), rq.nsegs, dir, rq.dma.data());
        assert(rq.ndma > 0 && "IOVA allocation failed");
        for (unsigned i = 0; i < rq.ndma; ++i) {
            std::uint64_t a = rq.dma[i].addr, left = rq.dma[i].len;
            while (left) {
                std::uint64_t n = std::min<std::uint64_t>(left, kCtrlPage - a % kCtrlPage);
                list.push_back(a);
                a += n;
                left -= n;
            }
        }
        sqe.prp1 = list[0];
        sqe.prp_count = static_cast<std::uint32_t>(list.size());
        if (list.size() == 2) {
            sqe.prp2 = list[1];
        } else if (list.size() > 2) {
            // The PRP list page comes from the driver's dma_pool: mapped once, reused per cid.
            if (!qu.prp_list_dma[cid])
                qu.prp_list_dma[cid] = dma_.alloc_coherent(dev_, kCtrlPage, nullptr);
            sqe.prp2 = qu.prp_list_dma[cid];
            sqe.prp_list = list.data() + 1;
        }
    }
    qu.inflight[cid] = &rq;
    qp.sq[qp.sq_tail] = sqe;
    qp.sq_tail = (qp.sq_tail + 1) % qp.depth;
    ++submitted;
    {
        KCall s(ctx, Fn::nvme_submit_cmd);
        ctx.mmio_write(bar_ + nvme_sq_doorbell(qp.qid), qp.sq_tail);
    }
    return true;
}

void NvmeDriver::irq(ExecCtx& ctx, std::uint64_t qid) {
    KFrame ae(ctx, Fn::asm_common_interrupt);
    KCall ci(ctx, Fn::common_interrupt);
    KFrame gi(ctx, Fn::__common_interrupt);
    KFrame he(ctx, Fn::handle_edge_irq);
    KFrame hi(ctx, Fn::handle_irq_event);
    KFrame hp(ctx, Fn::__handle_irq_event_percpu);
    KCall ni(ctx, Fn::nvme_irq);
    ++irqs;
    Queue& qu = *queues_[qid - 1];
    NvmeQueuePair& qp = qu.qp;
    bool any = false;
    // nvme_poll_cq: every CQE whose phase bit says it is new (here: up to the controller's tail).
    while (qp.cq_head != qp.cq_tail) {
        const NvmeCqe cqe = qp.cq[qp.cq_head];
        qp.cq_head = (qp.cq_head + 1) % qp.depth;
        qp.sq_head_seen = (qp.sq_head_seen + 1) % qp.depth; // SQ head pointer of the CQE
        any = true;
        BlkRequest& rq = *qu.inflight[cqe.cid];
        qu.inflight[cqe.cid] = nullptr;
        qu.free_cids.push_back(cqe.cid);
        rq.status = cqe.status;
        if (cqe.status) ++errors;
        const DmaDir dir = rq.write ? DmaDir::ToDevice : DmaDir::FromDevice;
        {
            // nvme_pci_complete_batch -> nvme_pci_unmap_rq -> nvme_unmap_data (inlined)
            KCall cb(ctx, Fn::nvme_pci_complete_batch);
            if (rq.sg) {
                dma_.unmap_sg(ctx, dev_, rq.dma.data(), rq.ndma, dir);
            } else {
                dma_.unmap_page(ctx, dev_, rq.dma_single, rq.segs[0].len, dir);
            }
        }
        {
            KCall e(ctx, Fn::blk_mq_end_request_batch);
            ++completed;
            if (rq.done) rq.done(rq.owner, ctx, rq);
        }
    }
    if (any) {
        ++cq_doorbells;
        ctx.mmio_write(bar_ + nvme_cq_doorbell(qp.qid), qp.cq_head);
    }
}

} // namespace iosim
