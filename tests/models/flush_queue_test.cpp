// FlushQueue: 255 usable slots, release only after a flush that started after queueing has
// finished, in-order freeing, one timer arm, and the timeout's sweep over every CPU.
#include "models/kernel/flush_queue.h"

#include <gtest/gtest.h>

#include <vector>

using namespace iosim;

namespace {

struct Freed {
    std::vector<FqEntry> v;
    auto fn() {
        return [this](const FqEntry& e) { v.push_back(e); };
    }
};

} // namespace

TEST(FlushQueue, DefaultRingHas255UsableSlots) {
    FlushQueue fq(1);
    EXPECT_EQ(fq.capacity(), 255u);
    for (unsigned i = 0; i < 255; ++i) {
        ASSERT_FALSE(fq.full(0)) << i;
        fq.push(0, 0x1000 + i, 1, i * kNs);
    }
    EXPECT_TRUE(fq.full(0));
    EXPECT_EQ(fq.queued(0), 255u);
    Freed f;
    EXPECT_EQ(fq.free_ready(0, f.fn()), 0u); // no flush yet: nothing may go

    // queue_iova's full path for the 256th unmap: flush synchronously, free, then append.
    fq.flush_start();
    fq.flush_finish();
    EXPECT_EQ(fq.free_ready(0, f.fn()), 255u);
    EXPECT_FALSE(fq.full(0));
    fq.push(0, 0x2000, 1, 300 * kNs);
    EXPECT_EQ(fq.queued(0), 1u);
    ASSERT_EQ(f.v.size(), 255u);
    EXPECT_EQ(f.v.front().iova_pfn, 0x1000u); // in queueing order
    EXPECT_EQ(f.v.back().iova_pfn, 0x1000u + 254);
    EXPECT_EQ(f.v.back().queued_at, 254 * kNs);
}

TEST(FlushQueue, FreedOnlyAfterAFlushStartedAfterQueueingFinishes) {
    FlushQueue fq(1, 8);
    Freed f;
    fq.push(0, 0xa, 1, 0);                   // counter 0
    fq.flush_start();                        // flush #1 in flight
    fq.push(0, 0xb, 2, 0);                   // counter 1: flush #1 may have missed its PTE clear
    EXPECT_EQ(fq.free_ready(0, f.fn()), 0u); // #1 has not finished
    fq.flush_finish();
    EXPECT_EQ(fq.free_ready(0, f.fn()), 1u);
    ASSERT_EQ(f.v.size(), 1u);
    EXPECT_EQ(f.v[0].iova_pfn, 0xau);
    EXPECT_EQ(fq.queued(0), 1u);

    fq.flush_start();
    EXPECT_EQ(fq.free_ready(0, f.fn()), 0u);
    fq.flush_finish();
    EXPECT_EQ(fq.free_ready(0, f.fn()), 1u);
    EXPECT_EQ(f.v[1].iova_pfn, 0xbu);
    EXPECT_EQ(f.v[1].pages, 2u);
    EXPECT_EQ(f.v[1].counter, 1u);
    EXPECT_EQ(fq.queued_total(), 0u);
}

TEST(FlushQueue, FreeingStopsAtTheFirstEntryNotReady) {
    FlushQueue fq(1, 16);
    Freed f;
    fq.push(0, 1, 1, 0);
    fq.flush_start();
    fq.push(0, 2, 1, 0);
    fq.flush_finish();
    fq.push(0, 3, 1, 0); // counter 1, behind the not-ready 2
    EXPECT_EQ(fq.free_ready(0, f.fn()), 1u);
    EXPECT_EQ(fq.queued(0), 2u);
}

TEST(FlushQueue, TimerArmsOnce) {
    FlushQueue fq(2);
    EXPECT_FALSE(fq.timer_armed());
    EXPECT_TRUE(fq.arm_timer());
    EXPECT_TRUE(fq.timer_armed());
    EXPECT_FALSE(fq.arm_timer());
    EXPECT_FALSE(fq.arm_timer());
    fq.timer_fired();
    EXPECT_FALSE(fq.timer_armed());
    EXPECT_TRUE(fq.arm_timer());
}

TEST(FlushQueue, TimeoutSweepsEveryCpu) {
    FlushQueue fq(4);
    for (unsigned c = 0; c < 4; ++c)
        for (unsigned i = 0; i <= c; ++i)
            fq.push(c, 100 * c + i, 1 + i, (10 * c + i) * kUs);
    EXPECT_EQ(fq.queued_total(), 10u);
    EXPECT_EQ(fq.queued(3), 4u);
    ASSERT_TRUE(fq.arm_timer());
    // fq_flush_timeout
    fq.timer_fired();
    fq.flush_start();
    fq.flush_finish();
    Freed f;
    EXPECT_EQ(fq.free_all_ready(f.fn()), 10u);
    EXPECT_EQ(fq.queued_total(), 0u);
    ASSERT_EQ(f.v.size(), 10u);
    EXPECT_EQ(f.v[9].iova_pfn, 303u);
    EXPECT_EQ(f.v[9].pages, 4u);
    EXPECT_EQ(f.v[9].queued_at, 33 * kUs);
}

TEST(FlushQueue, QueueIovaProtocolFlushesEvery255Unmaps) {
    // queue_iova without the timer: a synchronous flush whenever the ring is full.
    FlushQueue fq(1);
    Freed f;
    unsigned flushes = 0;
    for (unsigned i = 0; i < 1000; ++i) {
        fq.free_ready(0, f.fn());
        if (fq.full(0)) {
            fq.flush_start();
            ++flushes;
            fq.flush_finish();
            fq.free_ready(0, f.fn());
        }
        fq.push(0, i, 1, 0);
    }
    EXPECT_EQ(flushes, 3u); // at unmaps 256, 511 and 766
    EXPECT_EQ(f.v.size(), 3u * 255);
    EXPECT_EQ(fq.queued(0), 1000u - 3 * 255);
    for (std::size_t i = 0; i < f.v.size(); ++i)
        ASSERT_EQ(f.v[i].iova_pfn, i);
}

// Safety's lazy window: after a flush, exactly the entries queued since the previous flush started
// (on every CPU) are visited, once, with the unmap time they were queued with; entries an earlier
// flush covered but not yet freed are not visited again.
TEST(FlushQueue, NewlyCoveredEntriesAreThoseQueuedSinceThePreviousFlush) {
    FlushQueue fq(2, 8);
    Freed f;
    fq.for_each_newly_covered(f.fn()); // no flush yet: nothing
    EXPECT_TRUE(f.v.empty());
    fq.push(0, 0x10, 1, 5 * kNs, 2 * kNs);
    fq.push(1, 0x20, 1, 6 * kNs); // unmapped_at defaults to the queueing time
    fq.flush_start();
    fq.flush_finish();
    fq.for_each_newly_covered(f.fn());
    ASSERT_EQ(f.v.size(), 2u);
    EXPECT_EQ(f.v[0].iova_pfn, 0x10u);
    EXPECT_EQ(f.v[0].unmapped_at, 2 * kNs);
    EXPECT_EQ(f.v[1].iova_pfn, 0x20u);
    EXPECT_EQ(f.v[1].unmapped_at, 6 * kNs);
    // Not freed yet (nobody called free_ready); a second flush covers only the new entry.
    fq.push(0, 0x11, 1, 7 * kNs);
    fq.flush_start();
    fq.flush_finish();
    f.v.clear();
    fq.for_each_newly_covered(f.fn());
    ASSERT_EQ(f.v.size(), 1u);
    EXPECT_EQ(f.v[0].iova_pfn, 0x11u);
}
