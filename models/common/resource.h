// Contended resources: turn an arrival time into a start time and a busy-until time.
// Queueing in the platform emerges from these objects (DESIGN.md, principle 3), never from
// hand-written queueing formulas. They are SystemC-free so that unit tests can drive them.
#pragma once
#include "models/common/time.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <vector>

namespace iosim {

// One server: a PCIe link direction, a lock, the IOMMU command processor, a flash die.
//
// Requests do not always arrive in time order: under temporal decoupling a core that runs a long
// work item reaches a resource at a local time ahead of another core's earlier request. So the
// resource keeps its busy intervals of the recent past (those ending less than kHorizon before the
// latest arrival it has seen, all of the booked future) and places a request in the first gap at
// or after its arrival that fits it, instead of queueing it behind every later booking. A request
// arriving more than kHorizon behind the latest one could find its interval forgotten; devices
// that book ahead (a NIC fetching an A-MPDU's data) stay well within it.
class Resource {
public:
    struct Grant {
        Time start; // when service begins (>= arrival)
        Time end;   // when this request's service ends
    };

    // Serve `service` in the first free gap at or after `arrival`.
    Grant acquire(Time arrival, Time service) {
        Grant g{arrival, arrival + service};
        latest_arrival_ = std::max(latest_arrival_, arrival);
        if (iv_.empty() || arrival > iv_.back().end) {
            append(g.start, g.end); // the common case: the resource is idle on arrival
        } else if (arrival == iv_.back().end) {
            iv_.back().end = g.end;
        } else {
            g = fit(arrival, service);
            insert(g.start, g.end);
        }
        busy_total_ += service;
        wait_total_ += g.start - arrival;
        ++grants_;
        return g;
    }
    // For a lock whose hold time is known only on release: the first instant >= arrival at which
    // it is free, then occupy(start, end) when the holder lets go.
    Time first_free(Time arrival) const {
        if (iv_.empty() || arrival >= iv_.back().end) return arrival;
        return fit(arrival, 0).start;
    }
    void occupy(Time start, Time end) {
        if (end <= start) return;
        insert(start, end);
        busy_total_ += end - start;
        ++grants_;
    }
    void add_wait(Time w) { wait_total_ += w; }

    Time busy_until() const { return iv_.empty() ? 0 : iv_.back().end; }
    Time busy_total() const { return busy_total_; }
    Time wait_total() const { return wait_total_; }
    std::uint64_t grants() const { return grants_; }

private:
    static constexpr Time kHorizon = 1000000000;  // 1 ms in ps
    static constexpr std::size_t kMinPrune = 128; // intervals kept before pruning is tried
    static constexpr unsigned kMaxScan = 8;
    struct Interval {
        Time start, end;
    };

    // Earliest [s, s+len) with s >= arrival that overlaps no interval (len 0: s not inside one).
    Grant fit(Time arrival, Time len) const {
        auto it = std::upper_bound(iv_.begin(), iv_.end(), arrival,
                                   [](Time t, const Interval& i) { return t < i.end; });
        Time s = arrival;
        // A bounded search: past kMaxScan busy intervals the request queues at the back, so a
        // saturated resource costs O(1) per request, not O(history).
        for (unsigned n = 0; it != iv_.end(); ++it, ++n) {
            if (n == kMaxScan) {
                s = std::max(s, iv_.back().end);
                break;
            }
            if (s + len <= it->start && (len > 0 || s < it->start)) break;
            s = std::max(s, it->end);
        }
        return {s, s + len};
    }
    void append(Time start, Time end) {
        if (end <= start) return;
        iv_.push_back({start, end});
        prune();
    }
    void insert(Time start, Time end) {
        if (end <= start) return;
        auto it = std::lower_bound(iv_.begin(), iv_.end(), start,
                                   [](const Interval& i, Time t) { return i.start < t; });
        it = iv_.insert(it, {start, end});
        // Merge with neighbours that touch or overlap (a lock held past a later booking).
        if (it != iv_.begin() && std::prev(it)->end >= it->start) {
            auto p = std::prev(it);
            p->end = std::max(p->end, it->end);
            it = iv_.erase(it);
            it = std::prev(it);
        }
        while (std::next(it) != iv_.end() && it->end >= std::next(it)->start) {
            it->end = std::max(it->end, std::next(it)->end);
            iv_.erase(std::next(it));
        }
        prune();
    }
    // Forget the intervals that ended more than kHorizon before the latest arrival, once there
    // are enough of them: amortised O(1) per booking, and never an interval a request within the
    // horizon could still overlap.
    void prune() {
        if (iv_.size() < prune_at_) return;
        const Time cut = latest_arrival_ > kHorizon ? latest_arrival_ - kHorizon : 0;
        auto keep = std::lower_bound(iv_.begin(), iv_.end(), cut,
                                     [](const Interval& i, Time t) { return i.end < t; });
        iv_.erase(iv_.begin(), keep);
        prune_at_ = std::max(kMinPrune, 2 * iv_.size());
    }

    std::vector<Interval> iv_;
    std::size_t prune_at_ = kMinPrune;
    Time latest_arrival_ = 0;
    Time busy_total_ = 0;
    Time wait_total_ = 0;
    std::uint64_t grants_ = 0;
};

// k identical servers (walker slots, flash dies of a pool, DRAM channels picked by the caller).
class MultiResource {
public:
    explicit MultiResource(unsigned servers = 1) : free_at_(servers ? servers : 1, 0) {}

    Resource::Grant acquire(Time arrival, Time service) {
        auto it = std::min_element(free_at_.begin(), free_at_.end());
        Time start = std::max(arrival, *it);
        *it = start + service;
        busy_total_ += service;
        wait_total_ += start - arrival;
        ++grants_;
        return {start, *it};
    }
    unsigned servers() const { return static_cast<unsigned>(free_at_.size()); }
    Time busy_total() const { return busy_total_; }
    Time wait_total() const { return wait_total_; }
    std::uint64_t grants() const { return grants_; }

private:
    std::vector<Time> free_at_;
    Time busy_total_ = 0;
    Time wait_total_ = 0;
    std::uint64_t grants_ = 0;
};

} // namespace iosim
