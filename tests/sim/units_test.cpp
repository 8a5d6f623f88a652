// Units: every unit, exactness (no silent rounding), error messages, and format/parse round trips.
#include "sim/config/units.h"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

namespace iosim::cfg {
namespace {

template <class F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const ValueError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Units, TimeEveryUnit) {
    EXPECT_EQ(parse_time("1ps"), 1u);
    EXPECT_EQ(parse_time("1ns"), kNs);
    EXPECT_EQ(parse_time("80us"), 80 * kUs);
    EXPECT_EQ(parse_time("1.5ms"), 1500 * kUs);
    EXPECT_EQ(parse_time("2s"), 2 * kSec);
    EXPECT_EQ(parse_time("0ns"), 0u);
    EXPECT_EQ(parse_time("90 ns"), 90 * kNs);  // space between number and unit
    EXPECT_EQ(parse_time("  7us\t"), 7 * kUs); // surrounding whitespace
    EXPECT_EQ(parse_time("0.001ns"), 1u);      // exactly one picosecond
    EXPECT_EQ(parse_time(".5us"), 500 * kNs);
    EXPECT_EQ(parse_time("1.000ms"), kMs); // trailing zeros are not extra precision
    EXPECT_EQ(parse_time("0010ns"), 10 * kNs);
    EXPECT_EQ(parse_time("18446744073709551615ps"), ~Time{0});
}

TEST(Units, SizeEveryUnit) {
    EXPECT_EQ(parse_size("512B"), 512u);
    EXPECT_EQ(parse_size("4KiB"), 4096u);
    EXPECT_EQ(parse_size("2MiB"), 2u << 20);
    EXPECT_EQ(parse_size("16GiB"), 16ull << 30);
    EXPECT_EQ(parse_size("1TiB"), 1ull << 40);
    EXPECT_EQ(parse_size("1PiB"), 1ull << 50);
    EXPECT_EQ(parse_size("1kB"), 1000u);
    EXPECT_EQ(parse_size("3MB"), 3000000u);
    EXPECT_EQ(parse_size("2GB"), 2000000000u);
    EXPECT_EQ(parse_size("1TB"), 1000000000000u);
    EXPECT_EQ(parse_size("1PB"), 1000000000000000u);
    EXPECT_EQ(parse_size("1.5KiB"), 1536u);
    EXPECT_EQ(parse_size("4 KiB"), 4096u);
    EXPECT_EQ(parse_size("0.5MiB"), 512u * 1024);
}

TEST(Units, FrequencyBandwidthRate) {
    EXPECT_EQ(parse_freq("50Hz"), 50.0);
    EXPECT_EQ(parse_freq("100kHz"), 1e5);
    EXPECT_EQ(parse_freq("800MHz"), 8e8);
    EXPECT_EQ(parse_freq("3GHz"), 3e9);
    EXPECT_EQ(parse_freq("1.2GHz"), 1.2e9); // one rounding, as strtod("1.2e9")
    EXPECT_EQ(parse_freq("2.45 GHz"), 2.45e9);

    EXPECT_EQ(parse_bandwidth("100B/s"), 100.0);
    EXPECT_EQ(parse_bandwidth("1kB/s"), 1e3);
    EXPECT_EQ(parse_bandwidth("100MB/s"), 1e8);
    EXPECT_EQ(parse_bandwidth("51.2GB/s"), 51.2e9);
    EXPECT_EQ(parse_bandwidth("10TB/s"), 1e13);
    EXPECT_EQ(parse_bandwidth("1KiB/s"), 1024.0);
    EXPECT_EQ(parse_bandwidth("1MiB/s"), 1048576.0);
    EXPECT_EQ(parse_bandwidth("1.5GiB/s"), 1.5 * 1073741824.0);
    EXPECT_EQ(parse_bandwidth("1TiB/s"), 1099511627776.0);
    EXPECT_EQ(parse_bandwidth("8kb/s"), 1e3); // bits
    EXPECT_EQ(parse_bandwidth("100Mb/s"), 12.5e6);
    EXPECT_EQ(parse_bandwidth("200Gb/s"), 25e9);
    EXPECT_EQ(parse_bandwidth("1.6Tb/s"), 2e11);

    EXPECT_EQ(parse_rate("16GT/s"), 16e9);
    EXPECT_EQ(parse_rate("2.5GT/s"), 2.5e9);
    EXPECT_EQ(parse_rate("1200MT/s"), 1.2e9);
}

TEST(Units, Cycles) {
    EXPECT_EQ(parse_cycles("300"), 300u);
    EXPECT_EQ(parse_cycles("300 cycles"), 300u);
    EXPECT_EQ(parse_cycles("300cycles"), 300u);
    EXPECT_EQ(parse_cycles("1 cycle"), 1u);
    EXPECT_EQ(parse_cycles("0"), 0u);
}

TEST(Units, Errors) {
    EXPECT_EQ(error_of([] { parse_time("90"); }), "'90' has no unit; expected a time like '90ns'");
    EXPECT_EQ(error_of([] { parse_time("0"); }), "'0' has no unit; expected a time like '0ns'");
    EXPECT_EQ(error_of([] { parse_size("4096"); }),
              "'4096' has no unit; expected a size like '4096B'");
    EXPECT_EQ(error_of([] { parse_freq("3"); }),
              "'3' has no unit; expected a frequency like '3GHz'");
    EXPECT_EQ(error_of([] { parse_bandwidth("10"); }),
              "'10' has no unit; expected a bandwidth like '10GB/s'");
    EXPECT_EQ(error_of([] { parse_rate("16"); }),
              "'16' has no unit; expected a transfer rate like '16GT/s'");

    EXPECT_EQ(error_of([] { parse_time("4GHz"); }),
              "'4GHz' is not a time: GHz is a frequency unit; use ps, ns, us, ms or s");
    EXPECT_EQ(error_of([] { parse_size("4ns"); }),
              "'4ns' is not a size: ns is a time unit; use B, KiB, MiB, GiB, TiB, PiB, kB, MB, "
              "GB, TB or PB");
    EXPECT_EQ(error_of([] { parse_bandwidth("4GB"); }),
              "'4GB' is not a bandwidth: GB is a size unit; use B/s, kB/s, MB/s, GB/s, TB/s, "
              "KiB/s, MiB/s, GiB/s, TiB/s, kb/s, Mb/s, Gb/s or Tb/s");
    EXPECT_EQ(error_of([] { parse_rate("16GHz"); }),
              "'16GHz' is not a transfer rate: GHz is a frequency unit; use MT/s or GT/s");
    EXPECT_EQ(error_of([] { parse_freq("3 GT/s"); }),
              "'3 GT/s' is not a frequency: GT/s is a transfer rate unit; use Hz, kHz, MHz or GHz");

    EXPECT_EQ(error_of([] { parse_time("4 nsec"); }),
              "'4 nsec' has an unknown unit 'nsec'; use ps, ns, us, ms or s");
    EXPECT_EQ(error_of([] { parse_size("4kib"); }),
              "'4kib' has an unknown unit 'kib'; did you mean '4KiB'?");
    EXPECT_EQ(error_of([] { parse_freq("3ghz"); }),
              "'3ghz' has an unknown unit 'ghz'; did you mean '3GHz'?");
    EXPECT_EQ(error_of([] { parse_time("fast"); }),
              "'fast' is not a time; expected a number with a unit, like '90ns'");
    EXPECT_EQ(error_of([] { parse_time(""); }),
              "'' is not a time; expected a number with a unit, like '90ns'");
    EXPECT_EQ(error_of([] { parse_time("-5ns"); }),
              "'-5ns' is negative; a time cannot be negative");
    EXPECT_EQ(error_of([] { parse_time("1e3ns"); }),
              "'1e3ns' has an unknown unit 'e3ns'; use ps, ns, us, ms or s");

    // Exactness: never round silently.
    EXPECT_EQ(error_of([] { parse_time("0.5ps"); }),
              "'0.5ps' is not a whole number of picoseconds");
    EXPECT_EQ(error_of([] { parse_time("1.0005ns"); }),
              "'1.0005ns' is not a whole number of picoseconds");
    EXPECT_EQ(error_of([] { parse_size("1.3B"); }), "'1.3B' is not a whole number of bytes");
    EXPECT_EQ(error_of([] { parse_size("0.1KiB"); }), "'0.1KiB' is not a whole number of bytes");
    EXPECT_EQ(error_of([] { parse_time("18446744073709551616ps"); }),
              "'18446744073709551616ps' is too large");
    EXPECT_EQ(error_of([] { parse_time("20000000s"); }), "'20000000s' is too large");
    EXPECT_EQ(error_of([] { parse_size("100000PiB"); }), "'100000PiB' is too large");

    EXPECT_EQ(error_of([] { parse_cycles("1.5"); }), "'1.5' is not a whole number of cycles");
    EXPECT_EQ(error_of([] { parse_cycles("many"); }),
              "'many' is not a cycle count; expected an integer like '300' or '300 cycles'");
    EXPECT_EQ(error_of([] { parse_cycles("300ns"); }),
              "'300ns' is not a cycle count: ns is a time unit; write an integer like '300' or "
              "'300 cycles'");
    EXPECT_EQ(error_of([] { parse_cycles("300 cyc"); }),
              "'300 cyc' is not a cycle count; write an integer like '300' or '300 cycles'");
    EXPECT_EQ(error_of([] { parse_cycles("-1"); }),
              "'-1' is negative; a cycle count cannot be negative");
}

TEST(Units, FormatNaturalUnit) {
    EXPECT_EQ(format_time(0), "0ns");
    EXPECT_EQ(format_time(1), "1ps");
    EXPECT_EQ(format_time(999), "999ps");
    EXPECT_EQ(format_time(1500), "1.5ns");
    EXPECT_EQ(format_time(90 * kNs), "90ns");
    EXPECT_EQ(format_time(1500 * kNs), "1.5us");
    EXPECT_EQ(format_time(20 * kMs), "20ms");
    EXPECT_EQ(format_time(1000 * kSec), "1000s");
    EXPECT_EQ(format_time(1234567), "1234.567ns"); // at most three decimals
    EXPECT_EQ(format_time(kMs + kNs), "1000.001us");
    EXPECT_EQ(format_time(kMs + 1), "1000000.001ns");

    EXPECT_EQ(format_size(0), "0B");
    EXPECT_EQ(format_size(24), "24B");
    EXPECT_EQ(format_size(1023), "1023B");
    EXPECT_EQ(format_size(4096), "4KiB");
    EXPECT_EQ(format_size(1536), "1536B"); // sizes print as whole numbers
    EXPECT_EQ(format_size(1536ull << 20), "1536MiB");
    EXPECT_EQ(format_size(1000), "1kB");
    EXPECT_EQ(format_size(1000000), "1MB");
    EXPECT_EQ(format_size(512000), "500KiB"); // KiB is larger than kB
    EXPECT_EQ(format_size(16ull << 30), "16GiB");
    EXPECT_EQ(format_size(1ull << 50), "1PiB");
    EXPECT_EQ(format_size(1000000000000ull), "1TB");

    EXPECT_EQ(format_freq(0), "0Hz");
    EXPECT_EQ(format_freq(3e9), "3GHz");
    EXPECT_EQ(format_freq(1.2e9), "1.2GHz");
    EXPECT_EQ(format_freq(100e6), "100MHz");
    EXPECT_EQ(format_freq(1234567), "1234.567kHz");
    EXPECT_EQ(format_freq(0.5), "0.5Hz");

    EXPECT_EQ(format_bandwidth(51.2e9), "51.2GB/s");
    EXPECT_EQ(format_bandwidth(1.2e9), "1.2GB/s");
    EXPECT_EQ(format_bandwidth(1073741824.0), "1GiB/s");
    EXPECT_EQ(format_bandwidth(1e13), "10TB/s");
    EXPECT_EQ(format_bandwidth(25e9), "25GB/s"); // bits are accepted, bytes are printed

    EXPECT_EQ(format_rate(16e9), "16GT/s");
    EXPECT_EQ(format_rate(1.2e9), "1.2GT/s");
    EXPECT_EQ(format_rate(2.5e8), "250MT/s");

    EXPECT_EQ(format_cycles(300), "300");
}

// Deterministic pseudo-random values of every magnitude.
std::uint64_t next(std::uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

TEST(Units, RoundTripExactly) {
    std::uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 5000; ++i) {
        std::uint64_t v = next(s) >> (next(s) % 64);
        ASSERT_EQ(parse_time(format_time(v)), v) << format_time(v);
        ASSERT_EQ(parse_size(format_size(v)), v) << format_size(v);
        ASSERT_EQ(parse_cycles(format_cycles(v)), v);
        // Sizes that are multiples of binary units are the common case.
        std::uint64_t aligned = (v >> 20) << 20;
        ASSERT_EQ(parse_size(format_size(aligned)), aligned) << format_size(aligned);

        double d = static_cast<double>(next(s) >> 11) / static_cast<double>(1ull << (next(s) % 53));
        ASSERT_EQ(parse_freq(format_freq(d)), d) << format_freq(d);
        ASSERT_EQ(parse_bandwidth(format_bandwidth(d)), d) << format_bandwidth(d);
        ASSERT_EQ(parse_rate(format_rate(d)), d) << format_rate(d);
        double r = static_cast<double>(next(s) % 100000) * 1e6 / 1000.0; // "12.345GB/s" style
        ASSERT_EQ(parse_bandwidth(format_bandwidth(r)), r) << format_bandwidth(r);
    }
}

} // namespace
} // namespace iosim::cfg
