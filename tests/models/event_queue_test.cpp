// EventQueue, the callback scheduler under every model: callbacks run at their times, in
// scheduling order at equal times, past times clamp to now, and a callback that schedules a later
// item does not delay an earlier one already waiting.
#include "models/common/event_queue.h"
#include "tests/harness/sc_test.h"

#include <memory>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::test::ScTest;

namespace {

class EventQueueTest : public ScTest {
public: // callbacks, named by member pointer in the tests
    struct Fired {
        std::uint64_t arg;
        Time at;
    };
    void build() { q = std::make_unique<EventQueue>("events"); }
    void record(std::uint64_t arg) { fired.push_back({arg, now()}); }
    // A callback that, when it runs, schedules item `arg + 100` for `later` from now.
    void chain(std::uint64_t arg) {
        record(arg);
        q->schedule<&EventQueueTest::record>(now() + later, this, arg + 100);
    }

    std::unique_ptr<EventQueue> q;
    std::vector<Fired> fired;
    Time later = 0;
};

} // namespace

TEST_F(EventQueueTest, CallbacksRunAtTheirTimesInSchedulingOrderAtEqualTimes) {
    build();
    run([&] {
        q->schedule<&EventQueueTest::record>(300 * kNs, this, 3);
        q->schedule<&EventQueueTest::record>(100 * kNs, this, 1);
        q->schedule<&EventQueueTest::record>(300 * kNs, this, 4);
        q->schedule<&EventQueueTest::record>(200 * kNs, this, 2);
        wait_until(1 * kUs);
        q->schedule<&EventQueueTest::record>(10 * kNs, this, 5); // in the past: runs now
    });
    ASSERT_EQ(fired.size(), 5u);
    const Fired want[] = {
        {1, 100 * kNs}, {2, 200 * kNs}, {3, 300 * kNs}, {4, 300 * kNs}, {5, 1 * kUs}};
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(fired[i].arg, want[i].arg) << i;
        EXPECT_EQ(fired[i].at, want[i].at) << i;
    }
    EXPECT_EQ(q->pending(), 0u);
}

TEST_F(EventQueueTest, ACallbackSchedulingALaterItemDoesNotDelayAnEarlierOne) {
    build();
    later = 50 * kUs;
    run([&] {
        q->schedule<&EventQueueTest::record>(20 * kUs, this, 2); // already waiting
        q->schedule<&EventQueueTest::chain>(10 * kUs, this, 1);  // schedules 101 at 60 us
    });
    ASSERT_EQ(fired.size(), 3u);
    EXPECT_EQ(fired[0].arg, 1u);
    EXPECT_EQ(fired[0].at, 10 * kUs);
    EXPECT_EQ(fired[1].arg, 2u);
    EXPECT_EQ(fired[1].at, 20 * kUs);
    EXPECT_EQ(fired[2].arg, 101u);
    EXPECT_EQ(fired[2].at, 60 * kUs);
}

TEST_F(EventQueueTest, ACallbackSchedulingAnEarlierItemIsServedFirst) {
    build();
    later = 5 * kUs;
    run([&] {
        q->schedule<&EventQueueTest::record>(40 * kUs, this, 2);
        q->schedule<&EventQueueTest::chain>(10 * kUs, this, 1); // schedules 101 at 15 us
        q->schedule<&EventQueueTest::chain>(10 * kUs, this, 3); // and 103 at 15 us
    });
    ASSERT_EQ(fired.size(), 5u);
    EXPECT_EQ(fired[2].arg, 101u);
    EXPECT_EQ(fired[2].at, 15 * kUs);
    EXPECT_EQ(fired[3].arg, 103u);
    EXPECT_EQ(fired[3].at, 15 * kUs);
    EXPECT_EQ(fired[4].arg, 2u);
    EXPECT_EQ(fired[4].at, 40 * kUs);
}

TEST_F(EventQueueTest, ZeroDelayItemsFromACallbackRunInTheSameActivation) {
    build();
    later = 0;
    run([&] { q->schedule<&EventQueueTest::chain>(1 * kUs, this, 1); });
    ASSERT_EQ(fired.size(), 2u);
    EXPECT_EQ(fired[1].arg, 101u);
    EXPECT_EQ(fired[1].at, 1 * kUs);
    EXPECT_EQ(q->pending(), 0u);
}
