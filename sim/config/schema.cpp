#include "sim/config/schema.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/config/units.h"

namespace iosim::cfg {
namespace {

std::string quoted(std::string_view s) {
    return fmt::format("'{}'", s);
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += sep;
        out += v[i];
    }
    return out;
}

bool parse_int(const std::string& s, std::int64_t& out, bool& overflow) {
    const char* b = s.data();
    const char* e = b + s.size();
    if (b != e && *b == '+') ++b; // from_chars rejects '+'; "+5" is a fine integer
    auto r = std::from_chars(b, e, out);
    overflow = r.ec == std::errc::result_out_of_range && r.ptr == e;
    return r.ec == std::errc() && r.ptr == e && b != e;
}

std::int64_t to_int(const std::string& s) {
    std::int64_t v = 0;
    bool overflow = false;
    parse_int(s, v, overflow);
    return v;
}

bool parse_float(const std::string& s, double& out) {
    const char* b = s.data();
    const char* e = b + s.size();
    if (b != e && *b == '+') ++b;
    auto r = std::from_chars(b, e, out);
    return r.ec == std::errc() && r.ptr == e && b != e && std::isfinite(out);
}

double to_float(const std::string& s) {
    double v = 0;
    parse_float(s, v);
    return v;
}

// A comparable number for range checks: integers exactly, reals as doubles.
struct Number {
    bool is_real;
    long double v;
};

// Parses a value already known to have the right syntax (or throws ValueError for unit types).
Number number_of(const Param& p, const std::string& s) {
    switch (p.type) {
    case Type::Int:
        return {false, static_cast<long double>(to_int(s))};
    case Type::Float:
        return {true, to_float(s)};
    case Type::Time:
        return {false, static_cast<long double>(parse_time(s))};
    case Type::Size:
        return {false, static_cast<long double>(parse_size(s))};
    case Type::Cycles:
        return {false, static_cast<long double>(parse_cycles(s))};
    case Type::Freq:
        return {true, parse_freq(s)};
    case Type::Bandwidth:
        return {true, parse_bandwidth(s)};
    case Type::Rate:
        return {true, parse_rate(s)};
    case Type::Bool:
    case Type::Enum:
    case Type::Str:
        break;
    }
    return {false, 0};
}

bool ranged(Type t) {
    return t != Type::Bool && t != Type::Enum && t != Type::Str;
}

// Exact comparison for 64-bit integers (long double has a 64-bit mantissa on x86; compare the
// integers themselves to be portable).
int compare(const Param& p, const std::string& a, const std::string& b) {
    switch (p.type) {
    case Type::Int: {
        auto x = to_int(a), y = to_int(b);
        return x < y ? -1 : x > y;
    }
    case Type::Time:
    case Type::Size:
    case Type::Cycles: {
        std::uint64_t x = 0, y = 0;
        if (p.type == Type::Time) x = parse_time(a), y = parse_time(b);
        if (p.type == Type::Size) x = parse_size(a), y = parse_size(b);
        if (p.type == Type::Cycles) x = parse_cycles(a), y = parse_cycles(b);
        return x < y ? -1 : x > y;
    }
    default: {
        auto x = number_of(p, a).v, y = number_of(p, b).v;
        return x < y ? -1 : x > y;
    }
    }
}

std::vector<std::string> split_key(std::string_view key) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        auto dot = key.find('.', start);
        out.emplace_back(key.substr(start, dot - start));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return out;
}

} // namespace

const char* type_name(Type t) {
    switch (t) {
    case Type::Int:
        return "int";
    case Type::Float:
        return "float";
    case Type::Bool:
        return "bool";
    case Type::Enum:
        return "enum";
    case Type::Str:
        return "string";
    case Type::Time:
        return "time";
    case Type::Size:
        return "size";
    case Type::Freq:
        return "frequency";
    case Type::Bandwidth:
        return "bandwidth";
    case Type::Rate:
        return "rate";
    case Type::Cycles:
        return "cycles";
    }
    return "?";
}

const Param* find_param(std::string_view key) {
    const auto segs = split_key(key);
    for (const Param& p : schema()) {
        const auto pat = split_key(p.key);
        if (pat.size() != segs.size()) continue;
        bool ok = true;
        for (std::size_t i = 0; i < pat.size() && ok; ++i)
            ok = pat[i] == segs[i] || (pat[i] == "*" && !segs[i].empty());
        if (ok) return &p;
    }
    return nullptr;
}

std::string range_text(const Param& p) {
    if (p.type == Type::Enum || !p.choices.empty()) return join(p.choices, ", ");
    if (!ranged(p.type)) return "";
    std::string lo = p.min.empty() ? "" : canonical(p, p.min);
    std::string hi = p.max.empty() ? "" : canonical(p, p.max);
    if (!lo.empty() && !hi.empty()) return fmt::format("[{}, {}]", lo, hi);
    if (!lo.empty()) return ">= " + lo;
    if (!hi.empty()) return "<= " + hi;
    return "";
}

void check_value(const Param& p, const std::string& s) {
    switch (p.type) {
    case Type::Int: {
        std::int64_t v = 0;
        bool overflow = false;
        if (!parse_int(s, v, overflow) && !overflow)
            throw ValueError(fmt::format("expected an integer, got {}", quoted(s)));
        if (overflow && range_text(p).empty())
            throw ValueError(fmt::format("{} does not fit in a 64-bit integer", s));
        if (overflow) throw ValueError(fmt::format("{} is out of range {}", s, range_text(p)));
        break;
    }
    case Type::Float: {
        double v = 0;
        if (!parse_float(s, v))
            throw ValueError(fmt::format("expected a number, got {}", quoted(s)));
        break;
    }
    case Type::Bool:
        if (s != "true" && s != "false")
            throw ValueError(fmt::format("expected true or false, got {}", quoted(s)));
        return;
    case Type::Enum: {
        if (std::find(p.choices.begin(), p.choices.end(), s) != p.choices.end()) return;
        std::string msg = fmt::format("{} is not one of {}", quoted(s), join(p.choices, ", "));
        std::string near = closest(s, p.choices);
        if (!near.empty()) msg += fmt::format("; did you mean {}?", quoted(near));
        throw ValueError(msg);
    }
    case Type::Str:
        return;
    case Type::Time:
    case Type::Size:
    case Type::Freq:
    case Type::Bandwidth:
    case Type::Rate:
    case Type::Cycles:
        number_of(p, s);
        break; // throws ValueError on a malformed quantity
    }
    // Numeric: choices, then range.
    if (!p.choices.empty()) {
        for (const auto& c : p.choices)
            if (compare(p, s, c) == 0) return;
        throw ValueError(fmt::format("{} is not one of {}", s, join(p.choices, ", ")));
    }
    bool low = !p.min.empty() && compare(p, s, p.min) < 0;
    bool high = !p.max.empty() && compare(p, s, p.max) > 0;
    if (low || high) throw ValueError(fmt::format("{} is out of range {}", s, range_text(p)));
}

std::string canonical(const Param& p, const std::string& s) {
    switch (p.type) {
    case Type::Int:
        return std::to_string(to_int(s));
    case Type::Float:
        return fmt::format("{}", to_float(s));
    case Type::Bool:
    case Type::Enum:
    case Type::Str:
        return s;
    case Type::Time:
        return format_time(parse_time(s));
    case Type::Size:
        return format_size(parse_size(s));
    case Type::Freq:
        return format_freq(parse_freq(s));
    case Type::Bandwidth:
        return format_bandwidth(parse_bandwidth(s));
    case Type::Rate:
        return format_rate(parse_rate(s));
    case Type::Cycles:
        return format_cycles(parse_cycles(s));
    }
    return s;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t n = a.size(), m = b.size();
    std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
    for (std::size_t i = 0; i <= n; ++i)
        d[i][0] = i;
    for (std::size_t j = 0; j <= m; ++j)
        d[0][j] = j;
    for (std::size_t i = 1; i <= n; ++i)
        for (std::size_t j = 1; j <= m; ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[n][m];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates,
                    std::size_t max_distance) {
    // One edit in three characters: "mdoe" -> "mode", "iodpeth" -> "iodepth", but not "foo" ->
    // "off".
    if (max_distance == 0) max_distance = std::max<std::size_t>(1, (word.size() + 1) / 3);
    std::string best;
    std::size_t best_d = max_distance + 1;
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (d < best_d && d < c.size()) best = c, best_d = d;
    }
    return best;
}

void check_schema() {
    std::set<std::string> keys, sections;
    auto fail = [](const Param& p, const std::string& what) {
        throw std::logic_error(fmt::format("schema: {}: {}", p.key, what));
    };
    for (const Param& p : schema()) {
        if (!keys.insert(p.key).second) fail(p, "duplicate key");
        auto segs = split_key(p.key);
        if (segs.size() < 2) fail(p, "a parameter must be inside a section");
        if (segs.front() == "*" || segs.front() == "compare") fail(p, "bad top-level section");
        std::string prefix;
        for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
            prefix += (i ? "." : "") + segs[i];
            sections.insert(prefix);
        }
        for (const auto& s : segs)
            if (s.empty() || (s.find('*') != std::string::npos && s != "*")) fail(p, "bad segment");
        if (p.description.empty() || p.source.empty()) fail(p, "needs a description and a source");
        if (p.type == Type::Enum && p.choices.empty()) fail(p, "enum without choices");
        try {
            check_value(p, p.def);
            if (!p.min.empty()) number_of(p, p.min);
            if (!p.max.empty()) number_of(p, p.max);
            if (!p.min.empty() && !p.max.empty() && compare(p, p.min, p.max) > 0)
                fail(p, "min > max");
            if (ranged(p.type))
                for (const auto& c : p.choices)
                    check_value(Param{p.key, p.type, "", p.min, p.max, {}, "", ""}, c);
        } catch (const ValueError& e) {
            fail(p, std::string("bad default, bound or choice: ") + e.what());
        }
    }
    for (const auto& k : keys)
        if (sections.count(k))
            throw std::logic_error("schema: " + k + " is a parameter and a section");
    // A section may not have both a "*" child and a named child: names would be ambiguous.
    for (const auto& s : sections) {
        bool star = sections.count(s + ".*") || keys.count(s + ".*");
        if (!star) continue;
        for (const auto& k : keys)
            if (k.rfind(s + ".", 0) == 0 && k.compare(s.size() + 1, 1, "*") != 0)
                throw std::logic_error("schema: " + s + " has both named and '*' children");
    }
}

std::string list_params(bool markdown) {
    struct Row {
        std::string cells[6];
    };
    std::vector<Row> rows;
    auto md_escape = [](std::string s) {
        std::string out;
        for (char c : s) {
            if (c == '|') out += '\\';
            out += c;
        }
        return out;
    };
    auto code = [](const std::string& s) { return s.empty() ? s : "`" + s + "`"; };
    for (const Param& p : schema()) {
        Row r;
        std::string range = range_text(p);
        if (markdown) {
            if (p.type == Type::Enum || !p.choices.empty()) {
                std::vector<std::string> cs;
                for (const auto& c : p.choices)
                    cs.push_back(code(c));
                range = join(cs, ", ");
            }
            r = {{code(p.key), type_name(p.type), code(canonical(p, p.def)), md_escape(range),
                  md_escape(p.description), md_escape(p.source)}};
        } else {
            r = {{p.key, type_name(p.type), canonical(p, p.def), range, p.description, ""}};
        }
        rows.push_back(std::move(r));
    }
    // Pad by characters, not bytes: sources cite "§4.3".
    auto width_of = [](const std::string& s) {
        return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
            return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        }));
    };
    const Row header{{"key", "type", "default", "range", "description", "source"}};
    const std::size_t ncols = markdown ? 6 : 5;
    std::size_t width[6] = {};
    for (std::size_t c = 0; c < ncols; ++c) {
        width[c] = width_of(header.cells[c]);
        for (const auto& r : rows)
            width[c] = std::max(width[c], width_of(r.cells[c]));
    }
    std::string out;
    auto emit = [&](const Row& r) {
        std::string line = markdown ? "| " : "";
        for (std::size_t c = 0; c < ncols; ++c) {
            bool last = c + 1 == ncols;
            std::string cell = r.cells[c];
            if (markdown || !last) cell += std::string(width[c] - width_of(cell), ' ');
            line += cell;
            if (markdown)
                line += last ? " |" : " | ";
            else if (!last)
                line += "  ";
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    };
    if (markdown) {
        emit(header);
        Row rule;
        for (std::size_t c = 0; c < ncols; ++c)
            rule.cells[c] = std::string(width[c], '-');
        emit(rule);
    } else {
        Row h = header;
        for (auto& c : h.cells)
            for (char& ch : c)
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        emit(h);
    }
    for (const auto& r : rows)
        emit(r);
    return out;
}

} // namespace iosim::cfg
