// The resolved configuration of one run: YAML files layered in order, then --set overrides, checked
// against the schema (schema.h) and completed with its defaults.
//
// A user mistake is a ConfigError, raised before anything is elaborated, whose message is complete:
//   FILE:LINE:COL: error: KEY: WHAT        (LINE and COL 1-based)
//   FILE: error: WHAT                      (the file cannot be read)
//   --set 'KEY=VALUE': error: KEY: WHAT
// A getter asked for a key the schema does not have, or with the wrong type, is a simulator bug and
// throws std::logic_error.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/common/time.h"
#include "sim/config/schema.h"

namespace iosim::cfg {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Config {
public:
    // `sets` are "KEY=VALUE" with VALUE a YAML scalar or flow sequence/mapping; "compare.KEY=[a,
    // b]" sets one compare entry. Later files and sets win over earlier ones.
    static Config load(const std::vector<std::string>& files, const std::vector<std::string>& sets);

    // Typed getters; `key` is concrete and dotted ("workloads.randread.iodepth"). Each call is a
    // map look-up and a parse: read values once at elaboration, never on the hot path.
    std::int64_t integer(const std::string& key) const; // Int
    double real(const std::string& key) const;          // Float
    bool flag(const std::string& key) const;            // Bool
    std::string str(const std::string& key) const;      // Enum, Str
    Time time(const std::string& key) const;            // Time, in ps
    std::uint64_t bytes(const std::string& key) const;  // Size
    double hz(const std::string& key) const;            // Freq
    double bytes_per_s(const std::string& key) const;   // Bandwidth
    double rate(const std::string& key) const;          // Rate, transfers/s
    std::uint64_t cycles(const std::string& key) const; // Cycles

    // Where the value of `key` in force was set: "FILE:LINE:COL", "--set 'K=V'", or
    // "(default of KEY)".
    std::string where(const std::string& key) const;
    // True if a file or --set gave `key` a value (false: the schema default is in force).
    bool is_set(const std::string& key) const;
    // A user error that involves more than one key (found at elaboration): throws ConfigError
    // "WHERE-OF-KEY: error: KEY: WHAT", so that it reads like the loader's own messages.
    [[noreturn]] void fail(const std::string& key, const std::string& what) const;

    // Instance names under a "*" section, in the order they first appear ("workloads").
    std::vector<std::string> names(const std::string& prefix) const;

    // Every key with its value (defaults included), nested, in schema order, quantities in their
    // most natural unit. Loading it again gives the same Config. `compare` is not included.
    std::string dump_yaml() const;

    // The `compare:` section: dotted key -> values as written, in file order (later layers replace
    // an entry with the same key). Each value has been checked against the key's type and range.
    const std::vector<std::pair<std::string, std::vector<std::string>>>& compare() const {
        return compare_;
    }

    std::vector<std::string> sources; // the files loaded, in order (for the manifest)

private:
    Config() = default;

    struct Entry {
        const Param* param;
        std::string value;  // as written; valid for param
        std::string origin; // "FILE:LINE:COL" or "--set 'K=V'" of the value in force; "" = default
    };
    const Entry& get(const std::string& key, Type type, const char* getter) const;

    std::map<std::string, Entry> values_;                       // concrete key -> value
    std::map<std::string, std::vector<std::string>> instances_; // concrete "*" parent -> names
    std::vector<std::pair<std::string, std::vector<std::string>>> compare_;
};

} // namespace iosim::cfg
