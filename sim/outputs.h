// What `sim` writes: the human summary and comparison tables (stdout) and the files of an output
// folder (stats.json, stats.csv, config.yaml, manifest.json, comparison.csv).
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iosim {

void print_summary(std::ostream& os, const nlohmann::json& stats);

struct Variant {
    std::string name;
    std::vector<std::pair<std::string, std::string>> settings; // key, value
    nlohmann::json stats;
};
void print_comparison(std::ostream& os, const std::vector<Variant>& variants);
void write_comparison_csv(const std::string& path, const std::vector<Variant>& variants);

void write_run_outputs(const std::string& dir, const nlohmann::json& stats,
                       const std::string& config_yaml, const nlohmann::json& manifest);

// The value at a dotted path, or null.
const nlohmann::json& at_path(const nlohmann::json& j, const std::string& dotted);

} // namespace iosim
