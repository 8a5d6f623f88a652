// One stats registry per run (STYLE.md habit 6). Models register their counters once, at
// elaboration, under hierarchical names; nothing is looked up on the hot path. Derived values
// (rates, ratios) are computed when the registry is dumped. Names end in their unit where they
// have one (_ns, _bytes, _per_s), as DESIGN.md's output contract requires.
#pragma once
#include "models/common/histogram.h"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iosim {

class Stats {
public:
    void counter(std::string name, std::uint64_t* v);
    // A time a model accumulates in picoseconds, dumped in whole nanoseconds (name ends in _ns);
    // reset at the end of warm-up like a counter.
    void time_ns(std::string name, std::uint64_t* ps);
    // Zero every registered counter and histogram (end of warm-up). Values are gauges: untouched.
    void reset();
    // Run `fn` on reset too: for state a model keeps in arrays (time per function, per core).
    void on_reset(std::function<void()> fn) { resets_.push_back(std::move(fn)); }
    void value(std::string name, std::function<double()> fn);
    void text(std::string name, std::function<std::string()> fn);
    // Dumps NAME.{count,mean,p50,p90,p99,p999,max} from a histogram of integers.
    void histogram(std::string name, Histogram* h);

    // The whole tree, nested at '.', keys sorted (so the dump is byte-stable).
    nlohmann::json to_json() const;
    // One row per leaf: "key,value".
    static void write_csv(const nlohmann::json& tree, std::ostream& os);

private:
    struct Entry {
        std::string name;
        std::uint64_t* counter = nullptr;
        std::function<double()> fn;
        std::function<std::string()> str;
        Histogram* hist = nullptr;
        bool ps_to_ns = false; // counter holds picoseconds, dumped as nanoseconds
    };
    std::vector<Entry> entries_;
    std::vector<std::function<void()>> resets_;
};

} // namespace iosim
