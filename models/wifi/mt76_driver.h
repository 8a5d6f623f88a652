// The mt76 / mt7921e driver's data path (drivers/net/wireless/mediatek/mt76/, v6.2-6.8), run on
// the cores:
// - TX, mt76_dma_tx_queue_skb: a TXWI from a pool mapped once at allocation (dma_alloc_coherent
//   here: its per-packet dma_sync is a no-op on x86), ONE dma_map_single of the packet,
//   mt7921e_tx_prepare_skb (TXD/TXP, mt76_token_consume), the descriptor, mt76_dma_kick_queue
//   (CPU_IDX write). The TX ring entry skips both unmaps (txwi, skip_buf1): the buffer is unmapped
//   only on the TX-free event.
// - IRQ: mt7921_irq_handler masks the host interrupt (ENA = 0) and schedules the irq tasklet,
//   which clears STA and schedules NAPI; the poll runs in the softirq on the IRQ's core
//   (net_rx_action -> __napi_poll), or in the NAPI kthread when threaded NAPI is on.
// - NAPI poll (mt792x_poll_rx -> mt76_dma_rx_poll, mt76_dma_rx_process inlined): up to `budget`
//   RX buffers; a TX-free event goes mt7921_rx_check -> mt7921_mac_tx_free -> per id
//   mt7921_txwi_free -> mt76_connac_txp_skb_unmap -> dma_unmap_single (process_tx_free); a data
//   frame goes mt7921_queue_rx_skb -> ieee80211_rx_napi -> __netif_receive_skb to the flow's
//   socket. Buffers return to the page_pool and mt76_dma_rx_fill reposts them (page_pool maps a
//   page once; no map or unmap per packet). Below the budget: napi_complete_done and the
//   interrupt is enabled again (mt76_connac_irq_enable); at the budget the poll runs again.
// - TX descriptors are reclaimed in the same poll (mt76_dma_tx_cleanup; the real driver uses a
//   TX NAPI on the TX done interrupt, which is not modelled; the reclaim unmaps nothing).
// Not modelled: the MCU rings and commands, mac80211's TX queues and scheduling (mt76_txq_schedule:
// the send path calls mt76_dma_tx_queue_skb directly), GRO, A-MSDU, the TX page-pool copy of newer
// mt792x kernels.
#pragma once
#include "models/cpu/cpu.h"
#include "models/kernel/dma_api.h"
#include "models/memory/page_allocator.h"
#include "models/wifi/mt7921.h"
#include "models/wifi/ring.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace iosim {

// A packet on its way out: the skb's linear data (physical) and who to tell when it is freed.
struct TxSkb {
    std::uint64_t phys = 0;
    std::uint32_t len = 0; // bytes mapped: the 802.3 frame (IP packet + 14)
    // Called in the NAPI poll when the TX-free event released it (napi_consume_skb), after the
    // unmap.
    void (*done)(void* owner, ExecCtx& ctx, TxSkb& skb) = nullptr;
    void* owner = nullptr;
    std::uint64_t tag = 0;
};

struct Mt76DriverParams {
    std::uint32_t tx_ring_size = 2048; // MT7921_TX_RING_SIZE
    std::uint32_t rx_ring_size = 1536; // MT7921_RX_RING_SIZE
    std::uint32_t rx_buf_size = 2048;  // MT_RX_BUF_SIZE
    std::uint32_t page_pool_size = 256;
    std::uint32_t token_size = TokenTable::kMt7921Size;
    unsigned napi_budget = 64; // NAPI_POLL_WEIGHT
    bool threaded_napi = false;
    unsigned irq_core = 0;
    std::uint32_t msi_vector = 1;
    std::uint64_t bar_base = 0; // MMIO address of BAR0
};

class Mt76Driver {
public:
    // Probe: rings and TXWIs (coherent), the page_pool, the MSI vector on irq_core; the first RX
    // fill (page_pool maps its pages) runs at time 0 as a work item on irq_core.
    Mt76Driver(Cpu& cpu, DmaApi& dma, DmaDevice& dev, Mt7921& nic, PageAllocator& pages,
               const Mt76DriverParams& p);

    // mt76_dma_tx_queue_skb on the calling core. False (nothing mapped) when the ring or the
    // tokens are exhausted: the caller keeps the skb and retries after a TX-free wakes it.
    bool tx(ExecCtx& ctx, TxSkb& skb);
    // A TX-free released tokens (the stack's netif_wake_queue): called in the poll after the
    // skbs' done callbacks.
    void add_tx_wake(void (*fn)(void* owner, ExecCtx& ctx), void* owner) {
        wakes_.push_back({fn, owner});
    }
    // Where frames of an RX flow (Mt7921::add_rx_flow's id) go: called in the poll once the frame
    // is on the socket's queue.
    using RxSink = void (*)(void* owner, ExecCtx& ctx, const Mt76RxInfo& frame);
    void set_rx_sink(std::uint32_t flow, RxSink fn, void* owner);

    const Mt76DriverParams& params() const { return p_; }
    const RxPagePool& page_pool() const { return *pool_; }
    const TokenTable& tokens() const { return tokens_; }
    const DmaRing& tx_ring() const { return tx_ring_; }
    const DmaRing& rx_ring() const { return rx_ring_; }

    // kernel.mt76.*
    std::uint64_t tx_queued = 0, tx_busy = 0, tx_free_events = 0, tx_free_unmaps = 0;
    std::uint64_t tx_freed = 0, rx_frames = 0, irqs = 0, napi_polls = 0, napi_budget_hits = 0;
    std::uint64_t tx_cleaned = 0, unknown_tokens = 0;
    unsigned max_poll_work = 0; // most RX buffers a single poll handled

private:
    void init(ExecCtx& ctx, std::uint64_t);
    void irq(ExecCtx& ctx, std::uint64_t);
    void napi_poll(ExecCtx& ctx, std::uint64_t);
    void poll(ExecCtx& ctx);
    void schedule_poll(ExecCtx& ctx);
    void rx_fill(ExecCtx& ctx);
    std::uint64_t txwi_get();

    Cpu& cpu_;
    DmaApi& dma_;
    DmaDevice& dev_;
    Mt7921& nic_;
    PageAllocator& pages_;
    Mt76DriverParams p_;
    DmaRing tx_ring_, rx_ring_;
    std::vector<Mt76RxInfo> rx_info_;
    std::vector<RxBuf> rx_bufs_; // by RX slot
    TokenTable tokens_;
    std::vector<TxSkb*> skb_by_token_;
    std::vector<std::uint64_t> txwi_by_token_;
    std::vector<std::uint64_t> txwi_free_; // the TXWI cache (mt76_get_txwi / mt76_put_txwi)
    std::unique_ptr<RxPagePool> pool_;
    std::vector<std::uint64_t> pool_phys_; // by pool page id
    ExecCtx* map_ctx_ = nullptr;           // the context page_pool's map/unmap callbacks run in
    std::vector<TxSkb*> freed_;            // skbs of one TX-free event
    struct Sink {
        RxSink fn = nullptr;
        void* owner = nullptr;
    };
    std::vector<Sink> sinks_;
    struct Wake {
        void (*fn)(void*, ExecCtx&);
        void* owner;
    };
    std::vector<Wake> wakes_;
    bool napi_scheduled_ = false;
};

} // namespace iosim
