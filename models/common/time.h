// Simulated time as integer picoseconds. SystemC runs with a 1 ps resolution (set by sim/), so
// converting to and from sc_time is a copy of the raw value, not a floating-point multiply.
#pragma once
#include <cstdint>

namespace iosim {

using Time = std::uint64_t; // picoseconds

constexpr Time kPs = 1;
constexpr Time kNs = 1000;
constexpr Time kUs = 1000 * kNs;
constexpr Time kMs = 1000 * kUs;
constexpr Time kSec = 1000 * kMs;
constexpr Time kNever = ~Time{0};

constexpr double to_ns(Time t) {
    return static_cast<double>(t) / 1e3;
}
constexpr double to_s(Time t) {
    return static_cast<double>(t) / 1e12;
}

// Time to move `bytes` at `bytes_per_s`, rounded up to whole picoseconds.
inline Time transfer_time(std::uint64_t bytes, double bytes_per_s) {
    if (bytes_per_s <= 0) return 0;
    double ps = static_cast<double>(bytes) * 1e12 / bytes_per_s;
    auto t = static_cast<Time>(ps);
    return (static_cast<double>(t) < ps) ? t + 1 : t;
}

// Cycles at `hz`, as time.
inline Time cycles_to_time(std::uint64_t cycles, double hz) {
    return static_cast<Time>(static_cast<double>(cycles) * 1e12 / hz + 0.5);
}

} // namespace iosim
