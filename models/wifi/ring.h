// mt76 DMA state shared by the Wi-Fi device model and its driver model (functional only, like
// nvme_queue.h): a descriptor ring (`struct mt76_queue` + the hardware CPU_IDX/DMA_IDX registers),
// the TX token table (`dev->token`, an IDR) with mt7921's TX-free handling, and the RX page_pool.
// Names follow drivers/net/wireless/mediatek/mt76/ around v6.2-6.8. The timing shell does the DMA
// of descriptors (kMt76DescBytes at desc_addr(i)), the MMIO doorbell write and the map/unmap calls
// through the DMA API; the contents live here.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

namespace iosim {

constexpr std::uint32_t kMt76DescBytes = 16; // struct mt76_desc: buf0, ctrl, buf1, info

// Contents of one `struct mt76_desc`. TX: buf0 = the TXWI (pre-mapped pool), buf1 = the packet.
// RX: buf0 = a page_pool fragment.
struct DmaDesc {
    std::uint64_t buf0 = 0;
    std::uint32_t len0 = 0;
    std::uint64_t buf1 = 0;
    std::uint32_t len1 = 0;
    std::uint32_t token = 0; // TX: the mt76 token in the TXP; RX: frame length written
    bool done = false;       // MT_DMA_CTL_DMA_DONE
};

// One ring. Driver side: push() at the CPU index, kick() returns the value to write to the
// CPU_IDX register, reap() takes completed entries in order (mt76_dma_dequeue /
// mt76_dma_tx_cleanup). Device side: doorbell() is the register write arriving, fetch_next()
// reads the next descriptor, complete() sets DMA_DONE and advances DMA_IDX. One slot always stays
// empty (CPU_IDX == DMA_IDX means empty); mt76's TX check keeps one more free
// (`q->queued + 1 >= q->ndesc - 1`), which the driver model can apply on top.
class DmaRing {
public:
    explicit DmaRing(std::uint32_t ndesc, std::uint64_t desc_dma = 0);

    // Driver
    bool full() const { return pending() == ndesc() - 1; }
    bool empty() const { return pending() == 0; }
    std::uint32_t pending() const { return queued_; } // pushed, not yet reaped (q->queued)
    std::uint32_t push(const DmaDesc& d);             // returns the slot; the ring must not be full
    std::uint32_t kick() const { return cpu_idx_; }   // mt76_dma_kick_queue: CPU_IDX value
    // Next entry in order if the device completed it: its slot, and the descriptor is handed back
    std::optional<std::uint32_t> reap(DmaDesc* out = nullptr);

    // Device
    void doorbell(std::uint32_t cpu_idx); // MMIO write of CPU_IDX (asserts < ndesc)
    bool has_work() const { return fetch_idx_ != doorbell_; }
    std::optional<std::uint32_t> fetch_next(); // next posted slot, or nothing
    // Oldest fetched slot: sets DMA_DONE (and `token` for RX: the written length), advances
    // DMA_IDX. Asserts that something was fetched.
    std::uint32_t complete(std::optional<std::uint32_t> token = std::nullopt);
    std::uint32_t dma_idx() const { return dma_idx_; }
    std::uint32_t doorbell_idx() const { return doorbell_; } // the CPU_IDX register
    std::uint32_t fetch_idx() const { return fetch_idx_; }

    std::uint32_t ndesc() const { return static_cast<std::uint32_t>(desc_.size()); }
    std::uint32_t cpu_idx() const { return cpu_idx_; }
    std::uint64_t desc_addr(std::uint32_t i) const { return desc_dma_ + kMt76DescBytes * i; }
    const DmaDesc& desc(std::uint32_t i) const { return desc_[i]; }

private:
    std::uint32_t next(std::uint32_t i) const { return i + 1 == ndesc() ? 0 : i + 1; }

    std::vector<DmaDesc> desc_;
    std::uint64_t desc_dma_;
    // Driver: cpu_idx_ = q->head, tail_ = q->tail, queued_ = q->queued. Device: the CPU_IDX
    // register, its fetch pointer and the DMA_IDX register.
    std::uint32_t cpu_idx_ = 0, tail_ = 0, queued_ = 0;
    std::uint32_t doorbell_ = 0, fetch_idx_ = 0, dma_idx_ = 0;
};

// A buffer the TXP points at (txp->ptr[i].buf / len): what mt76_connac_txp_skb_unmap unmaps.
struct TxBuffer {
    std::uint64_t dma = 0;
    std::uint32_t len = 0;
};

// `dev->token`: token -> the packet's mapped buffers. mt76_token_consume takes the lowest free id
// (idr_alloc from 0) and blocks TX when token_count reaches size - MT76_TOKEN_FREE_THR;
// mt76_token_release removes it and wakes TX below that.
class TokenTable {
public:
    static constexpr std::uint32_t kMt7921Size = 8192;  // MT7921_TOKEN_SIZE
    static constexpr std::uint32_t kFreeThreshold = 64; // MT76_TOKEN_FREE_THR

    explicit TokenTable(std::uint32_t size = kMt7921Size);

    // mt76_token_consume: nothing if every id is taken.
    std::optional<std::uint16_t> token_get(std::vector<TxBuffer> bufs);
    // The same for a packet of one buffer, reusing the slot's storage (no allocation once every
    // slot has been used: the per-packet path).
    std::optional<std::uint16_t> token_get_one(const TxBuffer& buf);
    // mt76_token_release: the buffers, or nothing for an id not in use. *wake: TX was blocked and
    // is no longer.
    std::optional<std::vector<TxBuffer>> token_release(std::uint16_t token, bool* wake = nullptr);
    // The same without a copy: the buffers stay valid until the id is taken again; null for an
    // id not in use.
    const std::vector<TxBuffer>* release(std::uint16_t token, bool* wake = nullptr);

    bool tx_blocked() const { return blocked_; }
    std::uint32_t in_use() const { return count_; }
    std::uint32_t size() const { return static_cast<std::uint32_t>(slots_.size()); }

private:
    std::optional<std::uint16_t> take();

    std::vector<std::vector<TxBuffer>> slots_; // capacity kept across uses
    std::vector<bool> used_;
    // Free ids as a min-heap: the lowest comes out first, as idr_alloc gives it.
    std::priority_queue<std::uint16_t, std::vector<std::uint16_t>, std::greater<std::uint16_t>>
        free_;
    std::uint32_t count_ = 0;
    bool blocked_ = false;
};

// PKT_TYPE_TXRX_NOTIFY, as the firmware sends it on an RX ring: many MSDU ids per event.
struct TxFreeEvent {
    std::vector<std::uint16_t> tokens;
};

struct TxFreeResult {
    unsigned freed = 0;    // tokens released (packets whose skb napi_consume_skb frees)
    unsigned unmapped = 0; // dma_unmap_single calls
    unsigned unknown = 0;  // ids not in use: skipped, as mt7921_mac_tx_free does
    bool wake = false;
};

// mt7921_mac_tx_free: per id mt76_token_release -> mt7921_txwi_free -> mt76_connac_txp_skb_unmap,
// calling unmap(const TxBuffer&) once per buffer (the caller's dma_unmap_single).
template <class UnmapFn>
TxFreeResult process_tx_free(TokenTable& tokens, const TxFreeEvent& ev, UnmapFn&& unmap) {
    TxFreeResult r;
    for (std::uint16_t id : ev.tokens) {
        bool wake = false;
        const std::vector<TxBuffer>* bufs = tokens.release(id, &wake);
        r.wake = r.wake || wake;
        if (!bufs) {
            ++r.unknown;
            continue;
        }
        for (const TxBuffer& b : *bufs) {
            unmap(b);
            ++r.unmapped;
        }
        ++r.freed;
    }
    return r;
}

// An RX fragment: page_pool_get_dma_addr(page) + offset, as mt76_get_page_pool_buf returns it.
struct RxBuf {
    std::uint32_t page = 0; // pool-local page id
    std::uint32_t offset = 0;
    std::uint64_t dma = 0;
};

// page_pool with PP_FLAG_DMA_MAP as mt76_create_page_pool sets it up: a fresh page is mapped once
// (map callback) and several fragments of frag_size are cut from it (page_pool_alloc_frag); a page
// whose fragments are all freed is recycled into the pool's ring (up to pool_size pages) and
// reused without a new mapping; only a page that finds the ring full is unmapped and released
// (page_pool_return_page). The NAPI-local alloc cache is folded into the ring.
class RxPagePool {
public:
    using MapFn = std::function<std::uint64_t(std::uint32_t page)>; // -> DMA address
    using UnmapFn = std::function<void(std::uint32_t page, std::uint64_t dma)>;

    struct Params {
        std::uint32_t pool_size = 256;  // mt76: 256 for the MAIN/BAND rings, 16 for others
        std::uint32_t page_size = 4096; // max_len = PAGE_SIZE
        std::uint32_t frag_size = 2048; // q->buf_size, MT_RX_BUF_SIZE
    };

    // Throws std::invalid_argument if frag_size is 0 or above page_size, or pool_size is 0.
    RxPagePool(const Params& p, MapFn map, UnmapFn unmap);

    RxBuf alloc_frag();             // mt76_get_page_pool_buf
    void free_frag(const RxBuf& b); // the skb's page reference dropped (recycling allowed)
    // page_pool_destroy: unmaps the idle pages now and each page in flight when its last fragment
    // is freed.
    void destroy();

    std::uint32_t frags_per_page() const { return p_.page_size / p_.frag_size; }
    std::uint64_t maps() const { return maps_; }     // pages DMA-mapped (fresh pages)
    std::uint64_t unmaps() const { return unmaps_; } // pages unmapped (left the pool)
    std::uint64_t recycled() const { return recycled_; }
    std::uint64_t frags_allocated() const { return frags_; }
    std::uint32_t cached_pages() const { return static_cast<std::uint32_t>(ring_.size()); }
    std::uint32_t pages_in_flight() const; // mapped, holding fragments out

private:
    struct Page {
        std::uint64_t dma = 0;
        std::uint32_t out = 0; // fragments handed out and not yet freed
        bool mapped = false;
    };
    std::uint32_t take_page();
    void release_if_idle(std::uint32_t page);

    Params p_;
    MapFn map_;
    UnmapFn unmap_;
    std::vector<Page> pages_;
    std::deque<std::uint32_t> ring_;         // recycled, mapped, idle pages
    std::optional<std::uint32_t> frag_page_; // page being cut (pool->frag_page)
    std::uint32_t frag_offset_ = 0;
    std::vector<std::uint32_t> spare_ids_; // Page slots of unmapped pages
    bool destroyed_ = false;
    std::uint64_t maps_ = 0, unmaps_ = 0, recycled_ = 0, frags_ = 0;
};

} // namespace iosim
