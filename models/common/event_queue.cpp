#include "models/common/event_queue.h"

#include <algorithm>
#include <functional>

namespace iosim {

Time SimClock::now = 0;
bool SimClock::valid = false;

std::uint64_t EventQueue::sc_events = 0;
std::uint64_t EventQueue::callbacks = 0;

EventQueue::EventQueue(const sc_core::sc_module_name& name) : sc_core::sc_module(name) {
    heap_.reserve(1024);
    SC_HAS_PROCESS(EventQueue);
    SC_METHOD(run);
    sensitive << ev_;
    dont_initialize();
}

void EventQueue::schedule(Time at, Fn fn, void* obj, std::uint64_t arg) {
    Time now = sim_now();
    if (at < now) at = now;
    heap_.push_back({at, seq_++, fn, obj, arg});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<Item>{});
    if (running_) return; // run() arms the event once, for the earliest item, when it is done
    if (at < armed_at_) {
        armed_at_ = at;
        ev_.cancel();
        ev_.notify(to_sc(at - now));
    }
}

void EventQueue::arm() {
    if (heap_.empty()) {
        armed_at_ = kNever;
        return;
    }
    armed_at_ = heap_.front().at;
    ev_.notify(to_sc(armed_at_ - sim_now()));
}

void EventQueue::run() {
    ++sc_events;
    const Time now = sc_core::sc_time_stamp().value();
    SimClock::now = now;
    SimClock::valid = true;
    // The notification that woke us is consumed. Items the callbacks schedule only join the heap
    // (no notify each, which would leave cancelled entries in SystemC's timed queue); the event
    // is armed once below for the earliest item, whoever scheduled it.
    running_ = true;
    while (!heap_.empty() && heap_.front().at <= now) {
        std::pop_heap(heap_.begin(), heap_.end(), std::greater<Item>{});
        Item it = heap_.back();
        heap_.pop_back();
        ++callbacks;
        it.fn(it.obj, it.arg);
    }
    running_ = false;
    arm();
    SimClock::valid = false;
}

} // namespace iosim
