// Quantities with units, as written in config files and on the command line: "80us", "4KiB",
// "3GHz", "51.2GB/s", "16GT/s", "300 cycles".
//
// Times and sizes parse to exact integers (picoseconds, bytes): a value that is not a whole number
// of the base unit ("0.5ps", "1.3B") is an error, never silently rounded. Frequencies, bandwidths
// and transfer rates parse to the double nearest the decimal written ("1.2GB/s" == 1.2e9 exactly as
// strtod would give it). The format_* functions print the most natural unit (the largest one in
// which the value has at most three decimals; for sizes, none) and parse back to the identical
// value.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "models/common/time.h"

namespace iosim::cfg {

// A malformed value. what() is the problem only ("'90' has no unit; expected a time like '90ns'"):
// the caller knows the key and where it was written, and adds them (see ConfigError).
class ValueError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

Time parse_time(std::string_view s);            // ps ns us ms s               -> picoseconds
std::uint64_t parse_size(std::string_view s);   // B KiB..PiB, kB..PB          -> bytes
double parse_freq(std::string_view s);          // Hz kHz MHz GHz              -> Hz
double parse_bandwidth(std::string_view s);     // B/s kB/s..TB/s, KiB/s..TiB/s, kb/s..Tb/s (bits)
                                                //                             -> bytes/s
double parse_rate(std::string_view s);          // MT/s GT/s                   -> transfers/s
std::uint64_t parse_cycles(std::string_view s); // "300" or "300 cycles"

std::string format_time(Time ps);                 // 1500000 -> "1.5us", 0 -> "0ns"
std::string format_size(std::uint64_t bytes);     // 4096 -> "4KiB", 1000 -> "1kB", 1536 -> "1536B"
std::string format_freq(double hz);               // 3e9 -> "3GHz"
std::string format_bandwidth(double bytes_per_s); // 51.2e9 -> "51.2GB/s"
std::string format_rate(double per_s);            // 16e9 -> "16GT/s"
std::string format_cycles(std::uint64_t cycles);  // 300 -> "300"

} // namespace iosim::cfg
