#include "sim/config/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace iosim::cfg {
namespace {

__extension__ typedef unsigned __int128 u128;

enum class Kind { Time, Size, Freq, Bandwidth, Rate, Cycles };

// value in base units = number * mult * 10^exp10 / div. mult is 1 or a power of two (binary
// prefixes), div is 1 or 8 (bits), so double arithmetic on the decimal part stays exact.
struct Unit {
    std::string_view name;
    Kind kind;
    std::uint64_t mult;
    int exp10;
    unsigned div;
    bool formattable; // format_* may choose it (not the bit units)
};

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kMi = kKi * kKi;
constexpr std::uint64_t kGi = kMi * kKi;
constexpr std::uint64_t kTi = kGi * kKi;
constexpr std::uint64_t kPi = kTi * kKi;

constexpr Unit kUnits[] = {
    {"ps", Kind::Time, 1, 0, 1, true},           {"ns", Kind::Time, 1, 3, 1, true},
    {"us", Kind::Time, 1, 6, 1, true},           {"ms", Kind::Time, 1, 9, 1, true},
    {"s", Kind::Time, 1, 12, 1, true},           {"B", Kind::Size, 1, 0, 1, true},
    {"KiB", Kind::Size, kKi, 0, 1, true},        {"MiB", Kind::Size, kMi, 0, 1, true},
    {"GiB", Kind::Size, kGi, 0, 1, true},        {"TiB", Kind::Size, kTi, 0, 1, true},
    {"PiB", Kind::Size, kPi, 0, 1, true},        {"kB", Kind::Size, 1, 3, 1, true},
    {"MB", Kind::Size, 1, 6, 1, true},           {"GB", Kind::Size, 1, 9, 1, true},
    {"TB", Kind::Size, 1, 12, 1, true},          {"PB", Kind::Size, 1, 15, 1, true},
    {"Hz", Kind::Freq, 1, 0, 1, true},           {"kHz", Kind::Freq, 1, 3, 1, true},
    {"MHz", Kind::Freq, 1, 6, 1, true},          {"GHz", Kind::Freq, 1, 9, 1, true},
    {"B/s", Kind::Bandwidth, 1, 0, 1, true},     {"kB/s", Kind::Bandwidth, 1, 3, 1, true},
    {"MB/s", Kind::Bandwidth, 1, 6, 1, true},    {"GB/s", Kind::Bandwidth, 1, 9, 1, true},
    {"TB/s", Kind::Bandwidth, 1, 12, 1, true},   {"KiB/s", Kind::Bandwidth, kKi, 0, 1, true},
    {"MiB/s", Kind::Bandwidth, kMi, 0, 1, true}, {"GiB/s", Kind::Bandwidth, kGi, 0, 1, true},
    {"TiB/s", Kind::Bandwidth, kTi, 0, 1, true}, {"kb/s", Kind::Bandwidth, 1, 3, 8, false},
    {"Mb/s", Kind::Bandwidth, 1, 6, 8, false},   {"Gb/s", Kind::Bandwidth, 1, 9, 8, false},
    {"Tb/s", Kind::Bandwidth, 1, 12, 8, false},  {"MT/s", Kind::Rate, 1, 6, 1, true},
    {"GT/s", Kind::Rate, 1, 9, 1, true},         {"cycles", Kind::Cycles, 1, 0, 1, true},
    {"cycle", Kind::Cycles, 1, 0, 1, false},
};

struct KindInfo {
    const char* name;    // with article, for "is not a time"
    const char* example; // unit for "expected a time like '90ns'"
    const char* base;    // "picoseconds", for "not a whole number of"
    const char* zero;    // how 0 is printed
};

KindInfo info(Kind k) {
    switch (k) {
    case Kind::Time:
        return {"a time", "ns", "picoseconds", "0ns"};
    case Kind::Size:
        return {"a size", "B", "bytes", "0B"};
    case Kind::Freq:
        return {"a frequency", "GHz", "Hz", "0Hz"};
    case Kind::Bandwidth:
        return {"a bandwidth", "GB/s", "bytes/s", "0B/s"};
    case Kind::Rate:
        return {"a transfer rate", "GT/s", "transfers/s", "0GT/s"};
    case Kind::Cycles:
        return {"a cycle count", " cycles", "cycles", "0"};
    }
    return {"a value", "", "", "0"};
}

const char* unit_kind_name(Kind k) {
    switch (k) {
    case Kind::Time:
        return "time";
    case Kind::Size:
        return "size";
    case Kind::Freq:
        return "frequency";
    case Kind::Bandwidth:
        return "bandwidth";
    case Kind::Rate:
        return "transfer rate";
    case Kind::Cycles:
        return "cycle";
    }
    return "";
}

// "ps, ns, us, ms or s"
std::string unit_list(Kind k) {
    std::vector<std::string_view> names;
    for (const Unit& u : kUnits)
        if (u.kind == k && (u.formattable || u.div != 1)) names.push_back(u.name);
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i) out += (i + 1 == names.size()) ? " or " : ", ";
        out += names[i];
    }
    return out;
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// "1.50 ms" -> {int "1", frac "5" (trailing zeros dropped), unit "ms"}.
struct Split {
    bool negative = false;
    std::string int_digits;  // leading zeros dropped
    std::string frac_digits; // trailing zeros dropped
    std::string number;      // as written, for messages
    std::string unit;
};

std::optional<Split> split(std::string_view text) {
    std::string_view s = trim(text);
    Split out;
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) out.negative = s[i++] == '-';
    std::size_t int_begin = i;
    while (i < s.size() && is_digit(s[i]))
        ++i;
    std::string_view int_part = s.substr(int_begin, i - int_begin);
    std::string_view frac_part;
    if (i < s.size() && s[i] == '.') {
        std::size_t frac_begin = ++i;
        while (i < s.size() && is_digit(s[i]))
            ++i;
        frac_part = s.substr(frac_begin, i - frac_begin);
    }
    if (int_part.empty() && frac_part.empty()) return std::nullopt;
    out.number = std::string(s.substr(0, i));
    while (!int_part.empty() && int_part.front() == '0')
        int_part.remove_prefix(1);
    while (!frac_part.empty() && frac_part.back() == '0')
        frac_part.remove_suffix(1);
    out.int_digits = std::string(int_part);
    out.frac_digits = std::string(frac_part);
    while (i < s.size() && is_space(s[i]))
        ++i;
    out.unit = std::string(s.substr(i));
    return out;
}

std::string quoted(std::string_view s) {
    return fmt::format("'{}'", s);
}

// Split `text`, find its unit among `kind`'s, and report every way that can fail.
std::pair<Split, const Unit*> parse_parts(std::string_view text, Kind kind) {
    const KindInfo ki = info(kind);
    const std::string t = quoted(trim(text));
    auto sp = split(text);
    if (!sp && kind == Kind::Cycles)
        throw ValueError(fmt::format("{} is not a cycle count; expected an integer like '300' or "
                                     "'300 cycles'",
                                     t));
    if (!sp)
        throw ValueError(fmt::format("{} is not {}; expected a number with a unit, like '90{}'", t,
                                     ki.name, ki.example));
    if (sp->negative && !(sp->int_digits.empty() && sp->frac_digits.empty()))
        throw ValueError(fmt::format("{} is negative; {} cannot be negative", t, ki.name));
    if (sp->unit.empty()) {
        if (kind == Kind::Cycles) return {*sp, &kUnits[std::size(kUnits) - 1]};
        throw ValueError(fmt::format("{} has no unit; expected {} like '{}{}'", t, ki.name,
                                     sp->number, ki.example));
    }
    const Unit* found = nullptr;
    for (const Unit& u : kUnits)
        if (u.name == sp->unit) found = &u;
    if (found && found->kind != kind) {
        if (kind == Kind::Cycles)
            throw ValueError(fmt::format("{} is not a cycle count: {} is a {} unit; write an "
                                         "integer like '{}' or '{} cycles'",
                                         t, sp->unit, unit_kind_name(found->kind), sp->number,
                                         sp->number));
        throw ValueError(fmt::format("{} is not {}: {} is a {} unit; use {}", t, ki.name, sp->unit,
                                     unit_kind_name(found->kind), unit_list(kind)));
    }
    if (!found) {
        auto lower = [](std::string_view s) {
            std::string r(s);
            for (char& c : r)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return r;
        };
        for (const Unit& u : kUnits)
            if (u.kind == kind && lower(u.name) == lower(sp->unit))
                throw ValueError(fmt::format("{} has an unknown unit '{}'; did you mean '{}{}{}'?",
                                             t, sp->unit, sp->number,
                                             kind == Kind::Cycles ? " " : "", u.name));
        if (kind == Kind::Cycles)
            throw ValueError(
                fmt::format("{} is not a cycle count; write an integer like '{}' or '{} cycles'", t,
                            sp->number, sp->number));
        throw ValueError(
            fmt::format("{} has an unknown unit '{}'; use {}", t, sp->unit, unit_list(kind)));
    }
    return {*sp, found};
}

// Exact integer parse: times and sizes (and cycles).
std::uint64_t parse_exact(std::string_view text, Kind kind) {
    auto [sp, unit] = parse_parts(text, kind);
    const std::string t = quoted(trim(text));
    const std::size_t f = sp.frac_digits.size();
    if (sp.int_digits.size() + f > 36) throw ValueError(fmt::format("{} is too large", t));
    u128 n = 0;
    for (char c : sp.int_digits + sp.frac_digits)
        n = n * 10 + static_cast<unsigned>(c - '0');
    u128 scaled = n;
    bool overflow = __builtin_mul_overflow(scaled, static_cast<u128>(unit->mult), &scaled);
    int shift = unit->exp10 - static_cast<int>(f);
    for (; shift > 0 && !overflow; --shift)
        overflow = __builtin_mul_overflow(scaled, 10, &scaled);
    if (overflow) throw ValueError(fmt::format("{} is too large", t));
    for (; shift < 0; ++shift) {
        if (scaled % 10 != 0)
            throw ValueError(fmt::format("{} is not a whole number of {}", t, info(kind).base));
        scaled /= 10;
    }
    if (scaled > static_cast<u128>(UINT64_MAX)) throw ValueError(fmt::format("{} is too large", t));
    return static_cast<std::uint64_t>(scaled);
}

// Nearest double: the decimal written is handed to from_chars whole ("1.2GB/s" -> "1.2e9"), so
// there is exactly one rounding; binary prefixes and bits then scale by powers of two (exact).
double parse_real(std::string_view text, Kind kind) {
    auto [sp, unit] = parse_parts(text, kind);
    std::string dec = fmt::format("{}.{}e{}", sp.int_digits.empty() ? "0" : sp.int_digits,
                                  sp.frac_digits.empty() ? "0" : sp.frac_digits, unit->exp10);
    double v = 0;
    auto r = std::from_chars(dec.data(), dec.data() + dec.size(), v);
    if (r.ec != std::errc() || !std::isfinite(v))
        throw ValueError(fmt::format("{} cannot be represented", quoted(trim(text))));
    v = v * static_cast<double>(unit->mult) / unit->div;
    if (!std::isfinite(v)) throw ValueError(fmt::format("{} is too large", quoted(trim(text))));
    return v;
}

// A decimal number 0.DIGITS x 10^point, printed plainly ("51.2", "1500", "0.004").
std::string plain(const std::string& digits, int point) {
    const int n = static_cast<int>(digits.size());
    std::string out;
    if (point <= 0)
        out = "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
    else if (point >= n)
        out = digits + std::string(static_cast<std::size_t>(point - n), '0');
    else
        out = digits.substr(0, static_cast<std::size_t>(point)) + "." +
              digits.substr(static_cast<std::size_t>(point));
    return out;
}

// Shortest round-trip decimal of a positive finite double: digits without leading/trailing
// zeros, and the position of the decimal point (value = 0.digits x 10^point).
std::pair<std::string, int> shortest(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf)); // "5.12e+10"
    auto e = s.find('e');
    std::string digits;
    for (char c : s.substr(0, e))
        if (is_digit(c)) digits += c;
    int exp = 0;
    std::string_view es = s.substr(e + 1);
    if (!es.empty() && es.front() == '+') es.remove_prefix(1);
    std::from_chars(es.data(), es.data() + es.size(), exp);
    while (digits.size() > 1 && digits.back() == '0')
        digits.pop_back();
    return {digits, exp + 1};
}

// Largest unit in which the value is >= 1 with at most three decimals (times: "1.5us") or none
// (sizes: "1536B", not "1.536kB" or "1.5KiB"); else the smallest unit.
std::string format_exact(std::uint64_t v, Kind kind) {
    const std::uint64_t scale = kind == Kind::Size ? 1 : 1000; // 10^(decimals allowed)
    if (v == 0) return info(kind).zero;
    const Unit* best = nullptr;
    std::uint64_t best_factor = 0;
    const Unit* smallest = nullptr;
    for (const Unit& u : kUnits) {
        if (u.kind != kind || !u.formattable) continue;
        std::uint64_t factor = u.mult;
        for (int i = 0; i < u.exp10; ++i)
            factor *= 10;
        if (!smallest || factor == 1) smallest = &u;
        if (v < factor || factor <= best_factor) continue;
        // r < factor <= 2^50, so r * 1000 cannot overflow.
        if ((v % factor) * scale % factor != 0) continue;
        best = &u;
        best_factor = factor;
    }
    if (!best) return fmt::format("{}{}", v, smallest->name);
    std::string out = std::to_string(v / best_factor);
    std::uint64_t frac = (v % best_factor) * 1000 / best_factor;
    if (frac) {
        std::string f = fmt::format("{:03}", frac);
        while (f.back() == '0')
            f.pop_back();
        out += "." + f;
    }
    return out + std::string(best->name);
}

std::string format_real(double v, Kind kind) {
    if (!std::isfinite(v)) return fmt::format("{}", v);
    if (v == 0) return info(kind).zero;
    if (v < 0) return "-" + format_real(-v, kind);
    struct Candidate {
        double factor;
        std::string text;
    };
    std::vector<Candidate> cands;
    for (const Unit& u : kUnits) {
        if (u.kind != kind || !u.formattable) continue;
        if (u.mult == 1) {
            auto [digits, point] = shortest(v);
            point -= u.exp10;
            cands.push_back({std::pow(10.0, u.exp10), plain(digits, point) + std::string(u.name)});
        } else {
            double q = v / static_cast<double>(u.mult); // exact: power of two
            auto [digits, point] = shortest(q);
            cands.push_back(
                {static_cast<double>(u.mult), plain(digits, point) + std::string(u.name)});
        }
    }
    std::sort(cands.begin(), cands.end(),
              [](const Candidate& a, const Candidate& b) { return a.factor > b.factor; });
    for (const Candidate& c : cands) {
        if (v < c.factor) continue;
        auto dot = c.text.find('.');
        if (dot == std::string::npos) return c.text;
        std::size_t end = dot + 1;
        while (end < c.text.size() && is_digit(c.text[end]))
            ++end;
        if (end - dot - 1 <= 3) return c.text;
    }
    return cands.back().text;
}

} // namespace

Time parse_time(std::string_view s) {
    return parse_exact(s, Kind::Time);
}
std::uint64_t parse_size(std::string_view s) {
    return parse_exact(s, Kind::Size);
}
std::uint64_t parse_cycles(std::string_view s) {
    return parse_exact(s, Kind::Cycles);
}
double parse_freq(std::string_view s) {
    return parse_real(s, Kind::Freq);
}
double parse_bandwidth(std::string_view s) {
    return parse_real(s, Kind::Bandwidth);
}
double parse_rate(std::string_view s) {
    return parse_real(s, Kind::Rate);
}

std::string format_time(Time ps) {
    return format_exact(ps, Kind::Time);
}
std::string format_size(std::uint64_t bytes) {
    return format_exact(bytes, Kind::Size);
}
std::string format_cycles(std::uint64_t cycles) {
    return std::to_string(cycles);
}
std::string format_freq(double hz) {
    return format_real(hz, Kind::Freq);
}
std::string format_bandwidth(double bytes_per_s) {
    return format_real(bytes_per_s, Kind::Bandwidth);
}
std::string format_rate(double per_s) {
    return format_real(per_s, Kind::Rate);
}

} // namespace iosim::cfg
