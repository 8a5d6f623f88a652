#include "models/wifi/ring.h"

#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>

namespace iosim {

DmaRing::DmaRing(std::uint32_t ndesc, std::uint64_t desc_dma) : desc_(ndesc), desc_dma_(desc_dma) {
    if (ndesc < 2)
        throw std::invalid_argument("wifi: a DMA ring needs at least 2 descriptors, got " +
                                    std::to_string(ndesc));
}

std::uint32_t DmaRing::push(const DmaDesc& d) {
    assert(!full());
    const std::uint32_t slot = cpu_idx_;
    desc_[slot] = d;
    desc_[slot].done = false;
    cpu_idx_ = next(cpu_idx_);
    ++queued_;
    return slot;
}

std::optional<std::uint32_t> DmaRing::reap(DmaDesc* out) {
    if (queued_ == 0 || !desc_[tail_].done) return std::nullopt;
    const std::uint32_t slot = tail_;
    if (out) *out = desc_[slot];
    desc_[slot].done = false;
    tail_ = next(tail_);
    --queued_;
    return slot;
}

void DmaRing::doorbell(std::uint32_t cpu_idx) {
    assert(cpu_idx < ndesc());
    doorbell_ = cpu_idx;
}

std::optional<std::uint32_t> DmaRing::fetch_next() {
    if (!has_work()) return std::nullopt;
    const std::uint32_t slot = fetch_idx_;
    fetch_idx_ = next(fetch_idx_);
    return slot;
}

std::uint32_t DmaRing::complete(std::optional<std::uint32_t> token) {
    assert(dma_idx_ != fetch_idx_ && "complete() without a fetched descriptor");
    const std::uint32_t slot = dma_idx_;
    if (token) desc_[slot].token = *token;
    desc_[slot].done = true;
    dma_idx_ = next(dma_idx_);
    return slot;
}

TokenTable::TokenTable(std::uint32_t size) : slots_(size), used_(size, false) {
    if (size <= kFreeThreshold || size > 65536)
        throw std::invalid_argument("wifi: token table size must be in (" +
                                    std::to_string(kFreeThreshold) + ", 65536], got " +
                                    std::to_string(size));
    for (std::uint32_t i = 0; i < size; ++i)
        free_.push(static_cast<std::uint16_t>(i));
}

std::optional<std::uint16_t> TokenTable::take() {
    if (free_.empty()) return std::nullopt;
    const std::uint16_t id = free_.top(); // idr_alloc(&dev->token, txwi, 0, token_size)
    free_.pop();
    used_[id] = true;
    ++count_;
    if (count_ >= size() - kFreeThreshold) blocked_ = true;
    return id;
}

std::optional<std::uint16_t> TokenTable::token_get(std::vector<TxBuffer> bufs) {
    const auto id = take();
    if (id) slots_[*id] = std::move(bufs);
    return id;
}

std::optional<std::uint16_t> TokenTable::token_get_one(const TxBuffer& buf) {
    const auto id = take();
    if (id) slots_[*id].assign(1, buf);
    return id;
}

const std::vector<TxBuffer>* TokenTable::release(std::uint16_t token, bool* wake) {
    if (wake) *wake = false;
    if (token >= size() || !used_[token]) return nullptr;
    used_[token] = false;
    free_.push(token);
    --count_;
    if (blocked_ && count_ < size() - kFreeThreshold) {
        blocked_ = false;
        if (wake) *wake = true;
    }
    return &slots_[token];
}

std::optional<std::vector<TxBuffer>> TokenTable::token_release(std::uint16_t token, bool* wake) {
    const std::vector<TxBuffer>* b = release(token, wake);
    if (!b) return std::nullopt;
    return *b;
}

RxPagePool::RxPagePool(const Params& p, MapFn map, UnmapFn unmap)
    : p_(p), map_(std::move(map)), unmap_(std::move(unmap)) {
    if (p_.frag_size == 0 || p_.frag_size > p_.page_size)
        throw std::invalid_argument("wifi: page_pool frag_size must be in [1, page_size " +
                                    std::to_string(p_.page_size) + "], got " +
                                    std::to_string(p_.frag_size));
    if (p_.pool_size == 0) throw std::invalid_argument("wifi: page_pool pool_size must be >= 1");
}

std::uint32_t RxPagePool::take_page() {
    if (!ring_.empty()) { // page_pool_alloc_pages fast path: no mapping
        const std::uint32_t id = ring_.front();
        ring_.pop_front();
        ++recycled_;
        return id;
    }
    std::uint32_t id;
    if (!spare_ids_.empty()) {
        id = spare_ids_.back();
        spare_ids_.pop_back();
    } else {
        id = static_cast<std::uint32_t>(pages_.size());
        pages_.emplace_back();
    }
    Page& pg = pages_[id]; // __page_pool_alloc_pages_slow -> page_pool_dma_map
    pg.dma = map_ ? map_(id) : 0;
    pg.mapped = true;
    pg.out = 0;
    ++maps_;
    return id;
}

RxBuf RxPagePool::alloc_frag() {
    assert(!destroyed_);
    if (frag_page_ && frag_offset_ + p_.frag_size > p_.page_size) {
        const std::uint32_t old = *frag_page_;
        frag_page_.reset();
        release_if_idle(old);
    }
    if (!frag_page_) {
        frag_page_ = take_page();
        frag_offset_ = 0;
    }
    Page& pg = pages_[*frag_page_];
    RxBuf b{*frag_page_, frag_offset_, pg.dma + frag_offset_};
    ++pg.out;
    frag_offset_ += p_.frag_size;
    ++frags_;
    return b;
}

void RxPagePool::free_frag(const RxBuf& b) {
    assert(b.page < pages_.size() && pages_[b.page].out > 0);
    --pages_[b.page].out;
    release_if_idle(b.page);
}

void RxPagePool::release_if_idle(std::uint32_t id) {
    Page& pg = pages_[id];
    if (pg.out > 0 || (frag_page_ && *frag_page_ == id)) return;
    if (!destroyed_ && ring_.size() < p_.pool_size) { // page_pool_recycle_in_ring
        ring_.push_back(id);
        return;
    }
    if (unmap_) unmap_(id, pg.dma); // page_pool_return_page -> page_pool_release_page_dma
    pg.mapped = false;
    ++unmaps_;
    spare_ids_.push_back(id);
}

void RxPagePool::destroy() {
    destroyed_ = true;
    if (frag_page_) {
        const std::uint32_t id = *frag_page_;
        frag_page_.reset();
        release_if_idle(id);
    }
    while (!ring_.empty()) {
        const std::uint32_t id = ring_.front();
        ring_.pop_front();
        release_if_idle(id);
    }
}

std::uint32_t RxPagePool::pages_in_flight() const {
    std::uint32_t n = 0;
    for (const Page& pg : pages_)
        n += pg.mapped ? 1 : 0;
    return n - cached_pages();
}

} // namespace iosim
