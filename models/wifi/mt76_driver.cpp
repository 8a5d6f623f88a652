#include "models/wifi/mt76_driver.h"

#include <algorithm>
#include <cassert>

namespace iosim {

Mt76Driver::Mt76Driver(Cpu& cpu, DmaApi& dma, DmaDevice& dev, Mt7921& nic, PageAllocator& pages,
                       const Mt76DriverParams& p)
    : cpu_(cpu), dma_(dma), dev_(dev), nic_(nic), pages_(pages), p_(p),
      tx_ring_(p.tx_ring_size,
               dma.alloc_coherent(dev, std::uint64_t{p.tx_ring_size} * kMt76DescBytes, nullptr)),
      rx_ring_(p.rx_ring_size,
               dma.alloc_coherent(dev, std::uint64_t{p.rx_ring_size} * kMt76DescBytes, nullptr)),
      rx_info_(p.rx_ring_size), rx_bufs_(p.rx_ring_size), tokens_(p.token_size),
      skb_by_token_(p.token_size, nullptr), txwi_by_token_(p.token_size, 0) {
    assert(p.irq_core < cpu.cores());
    RxPagePool::Params pp;
    pp.pool_size = p.page_pool_size;
    pp.page_size = 4096;
    pp.frag_size = p.rx_buf_size;
    // page_pool with PP_FLAG_DMA_MAP: a fresh page is mapped once (page_pool_dma_map ->
    // dma_map_page_attrs) and unmapped only when it leaves the pool.
    pool_ = std::make_unique<RxPagePool>(
        pp,
        [this](std::uint32_t page) {
            assert(map_ctx_ && "page_pool mapped a page outside a work item");
            if (page >= pool_phys_.size()) pool_phys_.resize(page + 1u, 0);
            if (!pool_phys_[page]) pool_phys_[page] = pages_.alloc_page();
            KCall a(*map_ctx_, Fn::page_pool_alloc_pages);
            return dma_.map_page(*map_ctx_, dev_, pool_phys_[page], 4096, DmaDir::FromDevice);
        },
        [this](std::uint32_t, std::uint64_t handle) {
            assert(map_ctx_);
            dma_.unmap_page(*map_ctx_, dev_, handle, 4096, DmaDir::FromDevice);
        });
    txwi_free_.reserve(256);
    freed_.reserve(512);
    Mt7921Rings r;
    r.tx = &tx_ring_;
    r.rx = &rx_ring_;
    r.rx_info = &rx_info_;
    r.vector = p.msi_vector;
    nic.attach(r);
    cpu.register_msi<&Mt76Driver::irq>(p.msi_vector, p.irq_core, this);
    // mt76_dma_init -> mt76_dma_rx_fill of every RX queue, then the interrupt is enabled.
    cpu.post<&Mt76Driver::init>(p.irq_core, 0, Cpu::Prio::Irq, this);
}

void Mt76Driver::set_rx_sink(std::uint32_t flow, RxSink fn, void* owner) {
    if (flow >= sinks_.size()) sinks_.resize(flow + 1u);
    sinks_[flow] = {fn, owner};
}

void Mt76Driver::init(ExecCtx& ctx, std::uint64_t) {
    rx_fill(ctx);
    ctx.mmio_write(p_.bar_base + kMt7921IntEna, kMt7921IntRxDoneData);
}

std::uint64_t Mt76Driver::txwi_get() {
    if (!txwi_free_.empty()) {
        const std::uint64_t t = txwi_free_.back();
        txwi_free_.pop_back();
        return t;
    }
    // mt76_alloc_txwi: allocated and mapped once, then cached forever.
    return dma_.alloc_coherent(dev_, kMt7921TxwiBytes, nullptr);
}

// ------------------------------------------------------------------ TX

bool Mt76Driver::tx(ExecCtx& ctx, TxSkb& skb) {
    KCall q(ctx, Fn::mt76_dma_tx_queue_skb);
    // q->queued + (nbuf + 1) / 2 >= q->ndesc - 1 with two buffers in one descriptor; a token
    // table at its threshold stops the queues (mt76_token_consume's tx_blocked).
    if (tx_ring_.pending() + 1 >= tx_ring_.ndesc() - 1 || tokens_.tx_blocked() ||
        tokens_.in_use() == tokens_.size()) {
        ++tx_busy;
        return false;
    }
    // dma_map_single(skb->data, skb_headlen): the one streaming mapping per packet.
    const std::uint64_t handle = dma_.map_page(ctx, dev_, skb.phys, skb.len, DmaDir::ToDevice);
    std::uint16_t token;
    {
        KCall prep(ctx, Fn::mt7921_tx_prepare_skb);
        auto t = tokens_.token_get_one(TxBuffer{handle, skb.len});
        assert(t && "token table full although not blocked");
        token = *t;
    }
    const std::uint64_t txwi = txwi_get();
    skb_by_token_[token] = &skb;
    txwi_by_token_[token] = txwi;
    DmaDesc d;
    d.buf0 = txwi;
    d.len0 = kMt7921TxwiBytes;
    d.buf1 = handle;
    d.len1 = skb.len;
    d.token = token;
    tx_ring_.push(d);
    ++tx_queued;
    {
        KCall k(ctx, Fn::mt76_dma_kick_queue);
        ctx.mmio_write(p_.bar_base + mt7921_tx_cpu_idx(0), tx_ring_.kick());
    }
    return true;
}

// ------------------------------------------------------------------ IRQ and NAPI

void Mt76Driver::irq(ExecCtx& ctx, std::uint64_t) {
    KFrame ae(ctx, Fn::asm_common_interrupt);
    KCall ci(ctx, Fn::common_interrupt);
    ++irqs;
    {
        // mt7921_irq_handler: mask everything, defer to the irq tasklet.
        KFrame gi(ctx, Fn::__common_interrupt);
        KFrame he(ctx, Fn::handle_edge_irq);
        KFrame hi(ctx, Fn::handle_irq_event);
        KFrame hp(ctx, Fn::__handle_irq_event_percpu);
        KCall h(ctx, Fn::mt7921_irq_handler);
        ctx.mmio_write(p_.bar_base + kMt7921IntEna, 0);
    }
    // irq_exit_rcu runs the softirqs the handler raised, on the same core: the tasklet, then
    // (without threaded NAPI) NET_RX_SOFTIRQ.
    KFrame ie(ctx, Fn::irq_exit_rcu);
    KFrame ds(ctx, Fn::__do_softirq);
    {
        // mt7921_irq_tasklet (softirq on the same core): ack STA, napi_schedule.
        KFrame ta(ctx, Fn::tasklet_action);
        KFrame tc(ctx, Fn::tasklet_action_common);
        KCall t(ctx, Fn::mt7921_irq_tasklet);
        ctx.mmio_write(p_.bar_base + kMt7921IntSta, ~0u);
    }
    schedule_poll(ctx);
}

void Mt76Driver::schedule_poll(ExecCtx& ctx) {
    if (napi_scheduled_) return;
    napi_scheduled_ = true;
    if (p_.threaded_napi) {
        // Threaded NAPI: the napi/phy0 kthread runs the poll as thread work on the IRQ's core.
        cpu_.post<&Mt76Driver::napi_poll>(p_.irq_core, ctx.now(), Cpu::Prio::Thread, this);
    } else {
        // NET_RX_SOFTIRQ raised by napi_schedule runs at irq_exit, right after the handler
        // (inside irq()'s __do_softirq).
        KCall nr(ctx, Fn::net_rx_action);
        poll(ctx);
    }
}

void Mt76Driver::napi_poll(ExecCtx& ctx, std::uint64_t) {
    if (!p_.threaded_napi) {
        // The softirq re-raised by a poll that used its budget (net_rx_action's next round; run
        // at the next irq_exit or by ksoftirqd: those outer frames are left out).
        KFrame ds(ctx, Fn::__do_softirq);
        KCall nr(ctx, Fn::net_rx_action);
        poll(ctx);
    } else {
        // The napi/phy0 kthread: ret_from_fork -> kthread -> napi_threaded_poll.
        KFrame rf(ctx, Fn::ret_from_fork);
        KFrame kt(ctx, Fn::kthread);
        KFrame tp(ctx, Fn::napi_threaded_poll);
        poll(ctx);
    }
}

void Mt76Driver::poll(ExecCtx& ctx) {
    KCall np(ctx, Fn::__napi_poll);
    ++napi_polls;
    map_ctx_ = &ctx;
    {
        KCall tc(ctx, Fn::mt76_dma_tx_cleanup, 0);
        while (tx_ring_.reap()) {
            ctx.work(Fn::mt76_dma_tx_cleanup);
            ++tx_cleaned;
        }
    }
    unsigned done = 0;
    bool freed_any = false;
    {
        // The RX NAPI's poll: mt7921_poll_rx -> mt76_dma_rx_poll (the model polls TX cleanup
        // above in the same NAPI run).
        KFrame pr(ctx, Fn::mt7921_poll_rx);
        KCall rp(ctx, Fn::mt76_dma_rx_poll, 0);
        while (done < p_.napi_budget) {
            const auto slot = rx_ring_.reap();
            if (!slot) break;
            ++done;
            ctx.work(Fn::mt76_dma_rx_poll);
            Mt76RxInfo& info = rx_info_[*slot];
            const RxBuf buf = rx_bufs_[*slot];
            KCall rc(ctx, Fn::mt7921_rx_check);
            if (info.tx_free) {
                // mt7921_rx_check -> mt7921_mac_tx_free: the event's skb is consumed here.
                KCall tf(ctx, Fn::mt7921_mac_tx_free);
                ++tx_free_events;
                freed_.clear();
                for (std::uint16_t id : info.ev.tokens) {
                    if (id < skb_by_token_.size() && skb_by_token_[id]) {
                        freed_.push_back(skb_by_token_[id]);
                        skb_by_token_[id] = nullptr;
                        txwi_free_.push_back(txwi_by_token_[id]); // mt76_put_txwi
                    }
                }
                const TxFreeResult r = process_tx_free(tokens_, info.ev, [&](const TxBuffer& b) {
                    KCall w(ctx, Fn::mt7921_txwi_free);
                    KCall u(ctx, Fn::mt76_connac_txp_skb_unmap);
                    dma_.unmap_page(ctx, dev_, b.dma, b.len, DmaDir::ToDevice);
                });
                tx_free_unmaps += r.unmapped;
                tx_freed += r.freed;
                unknown_tokens += r.unknown;
                freed_any = freed_any || r.freed;
                for (TxSkb* s : freed_)
                    if (s->done) s->done(s->owner, ctx, *s);
            } else {
                ++rx_frames;
                { KCall q(ctx, Fn::mt7921_queue_rx_skb); }
                {
                    // mt76_rx_poll_complete -> ieee80211_rx_napi -> ... -> udp_queue_rcv_skb
                    KCall m(ctx, Fn::ieee80211_rx_napi);
                    KCall n(ctx, Fn::__netif_receive_skb);
                    if (info.flow < sinks_.size() && sinks_[info.flow].fn)
                        sinks_[info.flow].fn(sinks_[info.flow].owner, ctx, info);
                }
            }
            // The buffer's page reference goes back to the page_pool (recycled, not unmapped).
            KCall pp(ctx, Fn::page_pool_put_page);
            pool_->free_frag(buf);
        }
    }
    max_poll_work = std::max(max_poll_work, done);
    rx_fill(ctx);
    map_ctx_ = nullptr;
    if (freed_any)
        for (const Wake& w : wakes_)
            w.fn(w.owner, ctx);
    if (done < p_.napi_budget) {
        // napi_complete_done, then mt76_connac_irq_enable(MT_INT_RX_DONE_DATA)
        KCall c(ctx, Fn::napi_complete_done);
        napi_scheduled_ = false;
        ctx.mmio_write(p_.bar_base + kMt7921IntEna, kMt7921IntRxDoneData);
    } else {
        // Budget used up: the poll stays scheduled and runs again (net_rx_action's next round,
        // as a new item so that other work and the quantum can interleave).
        ++napi_budget_hits;
        cpu_.post<&Mt76Driver::napi_poll>(
            p_.irq_core, ctx.now(), p_.threaded_napi ? Cpu::Prio::Thread : Cpu::Prio::Irq, this);
    }
}

void Mt76Driver::rx_fill(ExecCtx& ctx) {
    KCall f(ctx, Fn::mt76_dma_rx_fill, 0);
    ExecCtx* saved = map_ctx_;
    map_ctx_ = &ctx;
    unsigned n = 0;
    while (!rx_ring_.full()) {
        ctx.work(Fn::mt76_dma_rx_fill);
        RxBuf b;
        {
            KCall a(ctx, Fn::page_pool_alloc_frag);
            b = pool_->alloc_frag();
        }
        DmaDesc d;
        d.buf0 = b.dma;
        d.len0 = p_.rx_buf_size;
        const std::uint32_t slot = rx_ring_.push(d);
        rx_bufs_[slot] = b;
        ++n;
    }
    map_ctx_ = saved;
    if (n) ctx.mmio_write(p_.bar_base + mt7921_rx_cpu_idx(0), rx_ring_.kick());
}

} // namespace iosim
