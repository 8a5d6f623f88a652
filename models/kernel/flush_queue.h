// Lazy-mode flush queue of one DMA domain: dma-iommu.c's per-CPU `struct iova_fq` rings plus the
// cookie's fq_flush_start_cnt / fq_flush_finish_cnt and fq_timer_on. Functional only: the timing
// shell composes the calls exactly as the kernel does, and owns the flush and the timer:
//   queue_iova:       free_ready(cpu); if full(cpu) { flush_start(); <flush_iotlb_all>;
//                     flush_finish(); free_ready(cpu); } push(cpu, ...); if arm_timer() <schedule
//                     fq_flush_timeout after kDefaultTimeout>
//   fq_flush_timeout: timer_fired(); flush_start(); <flush_iotlb_all>; flush_finish();
//                     free_all_ready(...)
// An entry is freed only after a flush that *started* after it was queued has *finished*: it
// records the start count at push and is released once the finish count exceeds that.
#pragma once
#include "models/common/time.h"

#include <cassert>
#include <cstdint>
#include <vector>

namespace iosim {

struct FqEntry {
    std::uint64_t iova_pfn;
    std::uint64_t pages;
    std::uint64_t counter; // fq_flush_start_cnt when queued
    Time queued_at;
    Time unmapped_at; // when iommu_unmap_fast cleared the PTEs (safety: the lazy window's start)
};

class FlushQueue {
public:
    static constexpr unsigned kDefaultSize = 256;     // IOVA_DEFAULT_FQ_SIZE (255 usable)
    static constexpr Time kDefaultTimeout = 10 * kMs; // IOVA_DEFAULT_FQ_TIMEOUT, jiffy-rounded

    // `size` must be a power of two: the ring indexes with mod_mask = size - 1.
    explicit FlushQueue(unsigned cpus, unsigned size = kDefaultSize);

    // fq_ring_free_locked: frees from the head, in order, every entry whose counter is below the
    // finish count, calling fn(const FqEntry&) (the caller's free_iova_fast). Returns how many.
    template <class FreeFn> unsigned free_ready(unsigned cpu, FreeFn&& fn) {
        Ring& r = rings_[cpu];
        unsigned n = 0;
        while (r.head != r.tail) {
            const FqEntry& e = slot(cpu, r.head);
            if (e.counter >= finish_cnt_) break;
            fn(e);
            r.head = (r.head + 1) & mask_;
            ++n;
        }
        return n;
    }
    // fq_full: ((tail + 1) & mod_mask) == head, so one slot always stays empty.
    bool full(unsigned cpu) const { return ((rings_[cpu].tail + 1) & mask_) == rings_[cpu].head; }
    void flush_start() { ++start_cnt_; }
    void flush_finish() {
        ++finish_cnt_;
        assert(finish_cnt_ <= start_cnt_);
    }
    // queue_iova's append; the ring must not be full.
    // `unmapped_at`: when the range's PTEs were cleared (defaults to `now`).
    void push(unsigned cpu, std::uint64_t pfn, std::uint64_t pages, Time now,
              Time unmapped_at = ~Time{0});

    // After flush_finish(): fn(const FqEntry&) on every entry that flush covered and no earlier
    // one did (queued since the previous flush started), on every CPU. They sit at the rings'
    // tails (counters only grow along a ring), so this walks only them.
    template <class Fn> void for_each_newly_covered(Fn&& fn) {
        if (finish_cnt_ == 0) return;
        for (unsigned c = 0; c < cpus(); ++c) {
            const Ring& r = rings_[c];
            for (unsigned i = r.tail; i != r.head;) {
                i = (i - 1) & mask_;
                const FqEntry& e = slot(c, i);
                if (e.counter != finish_cnt_ - 1) break;
                fn(e);
            }
        }
    }

    // queue_iova: `!fq_timer_on && !xchg(fq_timer_on, 1)`. True: the caller mod_timer()s now.
    bool arm_timer() {
        if (timer_on_) return false;
        timer_on_ = true;
        return true;
    }
    void timer_fired() { timer_on_ = false; } // fq_flush_timeout's atomic_set(&fq_timer_on, 0)
    bool timer_armed() const { return timer_on_; }

    // fq_flush_timeout's fq_ring_free over every possible CPU.
    template <class FreeFn> unsigned free_all_ready(FreeFn&& fn) {
        unsigned n = 0;
        for (unsigned c = 0; c < cpus(); ++c)
            n += free_ready(c, fn);
        return n;
    }

    unsigned queued(unsigned cpu) const { return (rings_[cpu].tail - rings_[cpu].head) & mask_; }
    std::uint64_t queued_total() const;
    unsigned cpus() const { return static_cast<unsigned>(rings_.size()); }
    unsigned capacity() const { return mask_; } // usable slots per CPU
    std::uint64_t flush_start_count() const { return start_cnt_; }
    std::uint64_t flush_finish_count() const { return finish_cnt_; }

private:
    struct Ring {
        unsigned head = 0, tail = 0;
    };
    FqEntry& slot(unsigned cpu, unsigned i) {
        return entries_[static_cast<std::size_t>(cpu) * (mask_ + 1) + i];
    }

    unsigned mask_;
    std::vector<Ring> rings_;
    std::vector<FqEntry> entries_; // cpus x size, allocated once
    std::uint64_t start_cnt_ = 0, finish_cnt_ = 0;
    bool timer_on_ = false;
};

} // namespace iosim
