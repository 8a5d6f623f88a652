// The one table of every configuration key (params.cpp): type, default, range, description and the
// source of the default. Validation, --print-config, --list-params and the README's parameter table
// are all derived from it, so they cannot drift apart.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace iosim::cfg {

enum class Type { Int, Float, Bool, Enum, Str, Time, Size, Freq, Bandwidth, Rate, Cycles };

// One key. `key` is dotted; a "*" segment stands for a user-chosen instance name
// ("workloads.*.rw"). def/min/max are written as in a config file, with units ("1ns"); an empty
// min or max is unbounded. `choices` lists the values of an Enum (or restricts an Int).
struct Param {
    std::string key;
    Type type;
    std::string def;
    std::string min;
    std::string max;
    std::vector<std::string> choices;
    std::string description;
    std::string source; // where the default comes from
};

const std::vector<Param>& schema(); // in params.cpp, in documentation order

// --list-params: an aligned text table (key, type, default, range, description), or a Markdown
// table (key | type | default | range | description | source) for the README.
std::string list_params(bool markdown);

const char* type_name(Type t); // "int", "time", ...

// The schema row for a concrete dotted key ("workloads.randread.rw"), or nullptr.
const Param* find_param(std::string_view key);

// Checks a value as written (a YAML scalar) against p's type, range and choices. Throws ValueError
// whose message says what is wrong ("64 is out of range [1, 32]").
void check_value(const Param& p, const std::string& value);

// A valid value in its canonical spelling: the most natural unit ("1500ns" -> "1.5us"), plain
// integers. Parsing the result gives back exactly the same value.
std::string canonical(const Param& p, const std::string& value);

// "[1us, 1000s]", ">= 1", "off, passthrough, strict, lazy", or "" (unbounded).
std::string range_text(const Param& p);

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is within `max_distance` edits (0: a default that grows
// with the length of `word`), or "" if none is close. Ties go to the earlier candidate.
std::string closest(std::string_view word, const std::vector<std::string>& candidates,
                    std::size_t max_distance = 0);

// Throws std::logic_error if the table is inconsistent (bad default, min > max, a key that is both
// a parameter and a section, ...). Config::load calls it once; a unit test too.
void check_schema();

} // namespace iosim::cfg
