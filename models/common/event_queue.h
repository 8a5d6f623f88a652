// A timed callback queue driven by one SC_METHOD. Models schedule plain function callbacks at
// absolute times; the queue keeps a binary heap and one sc_event armed for its earliest item, so
// many pending actions cost one SystemC event each and no thread switches (DESIGN.md principle 7).
// Callbacks are a function pointer plus an object and an argument: nothing allocates per event
// once the heap has grown to its working size.
#pragma once
#include "models/common/time.h"

#include <cstdint>
#include <vector>

#include <systemc>

namespace iosim {

// SystemC time while an EventQueue callback runs: every model runs inside one, and SystemC time
// does not move during an activation, so the queue caches it (sc_time_stamp() is an out-of-line
// library call, a few percent of a run). Outside callbacks (elaboration, test threads) it asks
// SystemC.
struct SimClock {
    static Time now;
    static bool valid;
};
inline Time sim_now() {
    return SimClock::valid ? SimClock::now : sc_core::sc_time_stamp().value();
}
inline sc_core::sc_time to_sc(Time t) {
    return sc_core::sc_time::from_value(t);
}

class EventQueue : public sc_core::sc_module {
public:
    using Fn = void (*)(void* obj, std::uint64_t arg);

    explicit EventQueue(const sc_core::sc_module_name& name);

    // Run fn(obj, arg) at absolute time `at` (clamped to now). Items at the same time run in the
    // order they were scheduled.
    void schedule(Time at, Fn fn, void* obj, std::uint64_t arg = 0);

    // schedule<&Class::method>(at, this, arg) calls this->method(arg).
    template <auto Method, class T> void schedule(Time at, T* obj, std::uint64_t arg = 0) {
        schedule(
            at, [](void* o, std::uint64_t a) { (static_cast<T*>(o)->*Method)(a); }, obj, arg);
    }

    std::size_t pending() const { return heap_.size(); }

    // Process-wide counts for sim.events (one simulation per process).
    static std::uint64_t sc_events; // SystemC method activations
    static std::uint64_t callbacks; // callbacks executed

private:
    struct Item {
        Time at;
        std::uint64_t seq;
        Fn fn;
        void* obj;
        std::uint64_t arg;
        bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    void run();
    void arm();

    std::vector<Item> heap_;
    std::uint64_t seq_ = 0;
    Time armed_at_ = kNever;
    bool running_ = false;
    sc_core::sc_event ev_;
};

} // namespace iosim
