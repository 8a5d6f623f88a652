// The run loop of one simulation: warm-up, statistics reset, the measured window (until
// sim.duration, sim.max_ios or every job's `ios`), a stats snapshot, then a drain that lets every
// in-flight I/O complete and the lazy flush queues empty, so that the end state (IOVAs, mappings)
// can be checked.
#pragma once
#include "sim/config/config.h"
#include "sim/platform.h"

#include <nlohmann/json.hpp>

namespace iosim {

struct RunOptions {
    bool progress = false;     // force the progress line on stderr
    bool progress_auto = true; // show it when stderr is a terminal and the run is long
};

struct RunResult {
    nlohmann::json stats;       // deterministic: byte-identical for the same config and seed
    nlohmann::json performance; // wall-clock figures (manifest.json)
};

RunResult run_simulation(Platform& p, const cfg::Config& c, const RunOptions& o);

} // namespace iosim
