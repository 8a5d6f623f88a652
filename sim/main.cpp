// sim: the command-line front end (DESIGN.md, "The `sim` command").
//   sim CONFIG.yaml [OVERLAY.yaml ...] [-o DIR] [--set KEY=VALUE]... [--seed N] [--duration TIME]
//       [--validate] [--print-config] [--list-params [--format md]] [-q|-v] [--progress] [-j N]
// Exit status: 0 ok, 1 simulation or internal error, 2 usage or configuration error.
// A config with a `compare:` section runs each variant as its own process (SystemC elaborates
// once per process), up to -j at a time, and prints the comparison.
#include "models/common/trace.h"
#include "sim/config/config.h"
#include "sim/config/units.h"
#include "sim/outputs.h"
#include "sim/platform.h"
#include "sim/run.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IOSIM_GIT_REVISION
#define IOSIM_GIT_REVISION "unknown"
#endif
#ifndef IOSIM_VERSION
#define IOSIM_VERSION "0.1.0"
#endif

namespace {

constexpr int kExitOk = 0, kExitSim = 1, kExitUsage = 2;

struct Cli {
    std::vector<std::string> files;
    std::string out_dir;
    std::vector<std::string> sets;
    std::string seed, duration;
    std::string topology; // --topology FILE ("-": stdout)
    std::string stacks;   // --stacks FILE ("-": stdout)
    std::string stacks_probe = "iommu_iova_to_phys";
    std::string trace;                // --trace FILE
    std::string trace_window = "1ms"; // --trace-window SPEC
    bool validate = false, print_config = false, list_params = false;
    std::string format = "text";
    bool quiet = false, verbose = false, progress = false;
    unsigned jobs = 0;
};

std::string command_line(int argc, char** argv) {
    std::string s;
    for (int i = 0; i < argc; ++i) {
        if (i) s += ' ';
        s += argv[i];
    }
    return s;
}

nlohmann::json manifest_base(int argc, char** argv, const iosim::cfg::Config& c) {
    nlohmann::json m;
    m["command_line"] = command_line(argc, argv);
    m["config_files"] = c.sources;
    m["seed"] = c.integer("sim.seed");
    m["git_revision"] = IOSIM_GIT_REVISION;
    m["versions"] = {{"iommu-sim", IOSIM_VERSION},
                     {"systemc", sc_core::sc_version()},
                     {"compiler", __VERSION__}};
    return m;
}

// ------------------------------------------------------------------ --trace-window

// The part of the run --trace writes, in times from the end of warm-up (where the measured window
// and the statistics start): `DURATION` is [0, DURATION], `START:END` and `START:` (to the end of
// the run, drain included) say where it starts, `all` is the whole run from time 0, warm-up and
// drain included. The default, 1ms, keeps a trace of the headline config to a few tens of MB.
struct TraceWindow {
    bool all = false;
    iosim::Time start = 0, end = iosim::kNever; // from the end of warm-up
};

// Throws iosim::cfg::ValueError with what is wrong.
TraceWindow parse_trace_window(const std::string& spec) {
    TraceWindow w;
    if (spec == "all") {
        w.all = true;
        return w;
    }
    const auto colon = spec.find(':');
    if (colon == std::string::npos) {
        w.end = iosim::cfg::parse_time(spec);
        if (w.end == 0) throw iosim::cfg::ValueError("an empty window writes nothing");
        return w;
    }
    if (spec.find(':', colon + 1) != std::string::npos)
        throw iosim::cfg::ValueError("more than one ':'");
    w.start = iosim::cfg::parse_time(spec.substr(0, colon));
    if (colon + 1 < spec.size()) {
        w.end = iosim::cfg::parse_time(spec.substr(colon + 1));
        if (w.end <= w.start) throw iosim::cfg::ValueError("the end is not after the start");
    }
    return w;
}

// FILE with the variant's name before its extension: t.json -> t.strict.json.
std::string trace_file_of_variant(const std::string& file, const std::string& variant) {
    const std::filesystem::path p(file);
    std::filesystem::path out = p.parent_path() / p.stem();
    out += "." + variant + p.extension().string();
    return out.string();
}

// ------------------------------------------------------------------ one run

int run_one(const Cli& cli, const iosim::cfg::Config& c, int argc, char** argv) {
    nlohmann::json manifest = manifest_base(argc, argv, c);
    try {
        iosim::Platform platform(c);
        // --stacks: the probe is checked and the file opened before the run, so that a mistake
        // costs no simulation.
        std::unique_ptr<iosim::StackRecorder> stacks;
        std::ofstream stacks_file;
        if (!cli.stacks.empty()) {
            // "all": every leaf call (StackRecorder::kAllLeaves).
            iosim::Fn probe = iosim::Fn::kCount;
            bool found = cli.stacks_probe == "all";
            for (std::size_t i = 0; i < iosim::kFnCount && !found; ++i)
                if (iosim::fn_name(static_cast<iosim::Fn>(i)) == cli.stacks_probe) {
                    probe = static_cast<iosim::Fn>(i);
                    found = true;
                }
            if (!found) {
                std::cerr << "sim: error: --stacks-probe " << cli.stacks_probe
                          << ": not a modelled kernel function (stats.json's "
                             "cpu.calls_by_function lists them; or all, for every leaf call)\n";
                return kExitUsage;
            }
            if (probe != iosim::Fn::kCount && iosim::StackRecorder::user_space(probe)) {
                std::cerr << "sim: error: --stacks-probe " << cli.stacks_probe
                          << ": runs in user space; a kernel stack probe needs a kernel "
                             "function\n";
                return kExitUsage;
            }
            if (cli.stacks != "-") {
                stacks_file.open(cli.stacks);
                if (!stacks_file) {
                    std::cerr << "sim: error: --stacks " << cli.stacks
                              << ": cannot write: " << std::strerror(errno) << '\n';
                    return kExitUsage;
                }
            }
            stacks = std::make_unique<iosim::StackRecorder>(probe);
            platform.cpu().set_stack_recorder(stacks.get());
        }
        // --trace: the file is opened before the run, so that a mistake costs no simulation.
        std::unique_ptr<iosim::TraceWriter> trace;
        if (!cli.trace.empty()) {
            const TraceWindow w = parse_trace_window(cli.trace_window); // checked in sc_main
            const iosim::Time warmup = c.time("sim.warmup");
            const iosim::Time begin = w.all ? 0 : warmup + w.start;
            const iosim::Time end =
                w.all || w.end == iosim::kNever ? iosim::kNever : warmup + w.end;
            try {
                trace = std::make_unique<iosim::TraceWriter>(cli.trace, begin, end);
            } catch (const std::runtime_error& e) {
                std::cerr << "sim: error: --trace " << e.what() << '\n';
                return kExitUsage;
            }
            platform.set_trace(trace.get());
        }
        iosim::RunOptions ro;
        ro.progress = cli.progress;
        ro.progress_auto = !cli.quiet;
        iosim::RunResult r = iosim::run_simulation(platform, c, ro);
        manifest["performance"] = r.performance;
        manifest["exit_status"] = kExitOk;
        if (!cli.out_dir.empty()) {
            iosim::write_run_outputs(cli.out_dir, r.stats, c.dump_yaml(), manifest);
            std::ofstream faults(std::filesystem::path(cli.out_dir) / "faults.json");
            faults << platform.fault_log().dump(2) << '\n';
        }
        if (trace) {
            platform.set_trace(nullptr);
            trace->close();
            if (!cli.quiet) {
                const iosim::Time now = sc_core::sc_time_stamp().value();
                const iosim::Time warmup = c.time("sim.warmup");
                const iosim::Time b = std::min(trace->begin(), now);
                const iosim::Time e = std::min(trace->end(), now);
                auto rel = [&](iosim::Time t) {
                    return t >= warmup ? iosim::cfg::format_time(t - warmup)
                                       : "-" + iosim::cfg::format_time(warmup - t);
                };
                std::cerr << "sim: trace: " << cli.trace << ": " << trace->events() << " events, "
                          << trace->bytes() << " bytes, for " << rel(b) << " to " << rel(e)
                          << " after the warm-up (--trace-window " << cli.trace_window << ")\n";
            }
        }
        if (stacks) {
            // Counted over the whole run (warm-up, window, drain), like a bpftrace session
            // around it.
            (cli.stacks == "-" ? std::cout : stacks_file) << stacks->to_bpftrace() << std::flush;
        }
        if (!cli.quiet) iosim::print_summary(std::cout, r.stats);
        if (cli.verbose) std::cerr << "[sim] " << r.performance.dump() << '\n';
        return kExitOk;
    } catch (const iosim::cfg::ConfigError& e) {
        std::cerr << "sim: " << e.what() << '\n';
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "sim: error: simulation failed: " << e.what() << '\n';
        if (!cli.out_dir.empty()) {
            manifest["exit_status"] = kExitSim;
            manifest["error"] = e.what();
            std::filesystem::create_directories(cli.out_dir);
            std::ofstream(std::filesystem::path(cli.out_dir) / "manifest.json")
                << manifest.dump(2) << '\n';
        }
        return kExitSim;
    }
}

// ------------------------------------------------------------------ compare: one process each

std::string variant_folder(const std::string& name) {
    std::string s;
    for (char ch : name)
        s += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_' ||
              ch == '=' || ch == ',')
                 ? ch
                 : '_';
    return s;
}

int run_compare(const Cli& cli, const iosim::cfg::Config& c, const char* self) {
    namespace fs = std::filesystem;
    // Cartesian product of the compare axes, in file order. An axis whose key the command line
    // sets (--set KEY=V) is pinned to that value: `--set platform.iommu.mode=strict` runs strict.
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    for (const auto& axis : c.compare()) {
        bool pinned = false;
        for (const auto& s : cli.sets)
            pinned |= s.compare(0, axis.first.size() + 1, axis.first + "=") == 0;
        if (!pinned) axes.push_back(axis);
    }
    if (axes.empty()) return -1; // every axis pinned: a single run
    if (!cli.stacks.empty()) {
        std::cerr << "sim: error: --stacks writes the stacks of one run; pin the compared keys "
                     "with --set KEY=VALUE or run the config as it is with --no-compare\n";
        return kExitUsage;
    }
    std::vector<iosim::Variant> variants(1);
    for (const auto& [key, values] : axes) {
        std::vector<iosim::Variant> next;
        for (const auto& v : variants)
            for (const auto& val : values) {
                iosim::Variant n = v;
                n.settings.emplace_back(key, val);
                next.push_back(std::move(n));
            }
        variants.swap(next);
    }
    const bool single_axis = axes.size() == 1;
    for (auto& v : variants) {
        for (const auto& [k, val] : v.settings) {
            if (!v.name.empty()) v.name += ',';
            v.name += single_axis ? val : k.substr(k.rfind('.') + 1) + "=" + val;
        }
    }

    // Every variant's configuration is checked before any starts, so a bad value fails at once.
    for (const auto& v : variants) {
        std::vector<std::string> sets = cli.sets;
        if (!cli.seed.empty()) sets.push_back("sim.seed=" + cli.seed);
        if (!cli.duration.empty()) sets.push_back("sim.duration=" + cli.duration);
        for (const auto& [k, val] : v.settings)
            sets.push_back(k + "=" + val);
        try {
            (void)iosim::cfg::Config::load(cli.files, sets);
        } catch (const iosim::cfg::ConfigError& e) {
            std::cerr << "sim: variant '" << v.name << "': " << e.what() << '\n';
            return kExitUsage;
        }
    }

    std::string base = cli.out_dir;
    bool temp = false;
    if (base.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "iommu-sim.XXXXXX").string();
        if (!mkdtemp(tmpl.data())) {
            std::cerr << "sim: error: cannot create a temporary folder: " << std::strerror(errno)
                      << '\n';
            return kExitSim;
        }
        base = tmpl;
        temp = true;
    }
    fs::create_directories(base);

    unsigned parallel = cli.jobs ? cli.jobs : std::max(1u, std::thread::hardware_concurrency());
    std::vector<pid_t> pids(variants.size(), -1);
    std::vector<int> status(variants.size(), -1);
    std::size_t next = 0, running = 0, done = 0;
    const bool show = cli.progress || (!cli.quiet && isatty(STDERR_FILENO));
    auto launch = [&](std::size_t i) {
        std::vector<std::string> args{self};
        for (const auto& f : cli.files)
            args.push_back(f);
        for (const auto& s : cli.sets)
            args.insert(args.end(), {"--set", s});
        if (!cli.seed.empty()) args.insert(args.end(), {"--seed", cli.seed});
        if (!cli.duration.empty()) args.insert(args.end(), {"--duration", cli.duration});
        if (!cli.trace.empty())
            args.insert(args.end(),
                        {"--trace",
                         trace_file_of_variant(cli.trace, variant_folder(variants[i].name)),
                         "--trace-window", cli.trace_window});
        for (const auto& [k, val] : variants[i].settings)
            args.insert(args.end(), {"--set", k + "=" + val});
        args.insert(args.end(), {"--no-compare", "-q", "-o",
                                 (fs::path(base) / variant_folder(variants[i].name)).string()});
        std::vector<char*> av;
        for (auto& a : args)
            av.push_back(a.data());
        av.push_back(nullptr);
        // The child's stderr goes to a file the parent prints from once all are done, so that an
        // error every variant hits is shown once, not once per variant.
        const fs::path dir = fs::path(base) / variant_folder(variants[i].name);
        fs::create_directories(dir);
        const std::string err_path = (dir / "stderr.txt").string();
        pid_t pid = fork();
        if (pid == 0) {
            const int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) dup2(fd, STDERR_FILENO);
            execv("/proc/self/exe", av.data());
            std::perror("sim: exec");
            _exit(kExitSim);
        }
        pids[i] = pid;
        ++running;
    };
    while (done < variants.size()) {
        while (running < parallel && next < variants.size())
            launch(next++);
        int st = 0;
        pid_t pid = wait(&st);
        if (pid < 0) break;
        for (std::size_t i = 0; i < pids.size(); ++i)
            if (pids[i] == pid) status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : kExitSim;
        --running;
        ++done;
        if (show)
            std::cerr << "\r[sim] variants done: " << done << "/" << variants.size() << std::flush;
    }
    if (show) std::cerr << '\n';

    // What the variants wrote on stderr, each distinct text once, in variant order.
    std::vector<std::string> seen;
    for (const auto& v : variants) {
        const fs::path p = fs::path(base) / variant_folder(v.name) / "stderr.txt";
        std::ifstream f(p);
        std::stringstream text;
        text << f.rdbuf();
        f.close();
        fs::remove(p);
        if (!text.str().empty() && std::find(seen.begin(), seen.end(), text.str()) == seen.end()) {
            seen.push_back(text.str());
            std::cerr << text.str();
        }
    }
    int worst = kExitOk;
    std::vector<iosim::Variant> ok;
    for (std::size_t i = 0; i < variants.size(); ++i) {
        if (status[i] != kExitOk) {
            std::cerr << "sim: variant '" << variants[i].name << "' failed with exit status "
                      << status[i] << '\n';
            worst = std::max(worst, status[i] == kExitUsage ? kExitUsage : kExitSim);
            continue;
        }
        std::ifstream f(fs::path(base) / variant_folder(variants[i].name) / "stats.json");
        variants[i].stats = nlohmann::json::parse(f);
        ok.push_back(variants[i]);
    }
    if (!cli.trace.empty() && !cli.quiet)
        for (const auto& v : ok)
            std::cerr << "sim: trace of variant '" << v.name
                      << "': " << trace_file_of_variant(cli.trace, variant_folder(v.name)) << '\n';
    if (!ok.empty()) {
        if (!cli.quiet) iosim::print_comparison(std::cout, ok);
        if (!temp) iosim::write_comparison_csv((fs::path(base) / "comparison.csv").string(), ok);
    }
    if (temp) fs::remove_all(base);
    return worst;
}

} // namespace

int sc_main(int argc, char* argv[]) {
    // iosim::Time is integer picoseconds and converts to sc_time by its raw value.
    sc_core::sc_set_time_resolution(1, sc_core::SC_PS);
    Cli cli;
    bool no_compare = false;
    CLI::App app{"iommu-sim: a SystemC/TLM-2.0 simulator of the host DMA path", "sim"};
    app.add_option("config", cli.files, "YAML config files; later ones override earlier ones");
    app.add_option("-o,--output", cli.out_dir,
                   "write stats.json, stats.csv, config.yaml, manifest.json here");
    app.add_option("--set", cli.sets, "override one key: KEY=VALUE (repeatable)");
    app.add_option("--seed", cli.seed, "same as --set sim.seed=N");
    app.add_option("--duration", cli.duration, "same as --set sim.duration=TIME");
    app.add_flag("--validate", cli.validate, "check the configuration and exit");
    app.add_flag("--print-config", cli.print_config,
                 "print the resolved configuration (defaults included) and exit");
    app.add_option("--topology", cli.topology,
                   "write the PCIe topology as Graphviz DOT (IOMMU groups as clusters) to FILE, "
                   "or - for stdout, and exit");
    app.add_option("--stacks", cli.stacks,
                   "write the modelled kernel stacks into the probe function, with their counts, "
                   "in bpftrace's map format, to FILE (- for stdout)");
    app.add_option("--stacks-probe", cli.stacks_probe,
                   "the kernel function whose callers --stacks counts (default: "
                   "iommu_iova_to_phys), or all: the stack of every leaf call");
    app.add_option("--trace", cli.trace,
                   "write a Chrome/Perfetto trace-event JSON timeline (cores, kernel functions, "
                   "NVMe commands and DMAs, IOMMU walks and commands, counters) to FILE; a compare "
                   "writes one per variant, FILE with the variant's name inserted");
    auto* trace_window_opt =
        app.add_option("--trace-window", cli.trace_window,
                       "the part of the run --trace writes, in times from the end of warm-up: "
                       "DURATION, START:END, START: or all (default: 1ms)");
    app.add_flag("--list-params", cli.list_params, "print every configuration key and exit");
    app.add_option("--format", cli.format, "format of --list-params: text or md")
        ->check(CLI::IsMember({"text", "md"}));
    app.add_flag("-q,--quiet", cli.quiet, "print no summary");
    app.add_flag("-v,--verbose", cli.verbose, "print run performance on stderr");
    app.add_flag("--progress", cli.progress, "always show the progress line on stderr");
    app.add_option("-j,--jobs", cli.jobs, "variants run at once (default: the number of cores)");
    app.add_flag("--no-compare", no_compare, "ignore the config's compare section: run it as is");
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) { // --help
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "sim: error: " << e.what() << " (sim --help lists the options)\n";
        return kExitUsage;
    }

    if (cli.trace == "-") {
        std::cerr << "sim: error: --trace -: the trace is written to a file, not to stdout\n";
        return kExitUsage;
    }
    try {
        (void)parse_trace_window(cli.trace_window);
    } catch (const iosim::cfg::ValueError& e) {
        std::cerr << "sim: error: --trace-window '" << cli.trace_window << "': " << e.what()
                  << " (the option takes DURATION, START:END, START: or all, in times from the "
                     "end of warm-up, like 1ms or 200us:700us)\n";
        return kExitUsage;
    }
    if (trace_window_opt->count() && cli.trace.empty()) {
        std::cerr << "sim: error: --trace-window bounds the trace of --trace FILE, which is not "
                     "given\n";
        return kExitUsage;
    }
    if (cli.list_params) {
        std::cout << iosim::cfg::list_params(cli.format == "md");
        return kExitOk;
    }
    if (cli.files.empty()) {
        std::cerr << "sim: error: no config file given (try: sim configs/nvme_iommu.yaml)\n";
        return kExitUsage;
    }
    std::vector<std::string> sets = cli.sets;
    if (!cli.seed.empty()) sets.push_back("sim.seed=" + cli.seed);
    if (!cli.duration.empty()) sets.push_back("sim.duration=" + cli.duration);

    try {
        iosim::cfg::Config c = iosim::cfg::Config::load(cli.files, sets);
        if (cli.print_config) {
            std::cout << c.dump_yaml();
            return kExitOk;
        }
        if (!cli.topology.empty()) {
            // Only the topology: the graph is what explains errors elsewhere (a VFIO group that
            // cannot be assigned), so it must come out even then.
            const std::string dot = iosim::topology_from_config(c).topology.to_dot();
            if (cli.topology == "-") {
                std::cout << dot;
            } else {
                std::ofstream f(cli.topology);
                if (!(f << dot) || !(f.flush())) {
                    std::cerr << "sim: error: --topology " << cli.topology
                              << ": cannot write: " << std::strerror(errno) << '\n';
                    return kExitUsage;
                }
            }
            return kExitOk;
        }
        if (cli.validate) {
            iosim::Platform check(c); // cross-key checks happen at elaboration
            if (!cli.quiet) std::cout << "configuration is valid\n";
            return kExitOk;
        }
        if (!c.compare().empty() && !no_compare) {
            const int rc = run_compare(cli, c, argv[0]);
            if (rc >= 0) return rc;
        }
        return run_one(cli, c, argc, argv);
    } catch (const iosim::cfg::ConfigError& e) {
        std::cerr << "sim: " << e.what() << '\n';
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "sim: internal error: " << e.what() << '\n';
        return kExitSim;
    }
}

// Our own entry point, ahead of libsystemc's: SystemC prints its banner on stderr when the
// simulation context starts unless this variable is set, and a tool's stderr is for its messages.
int main(int argc, char* argv[]) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
    return sc_core::sc_elab_and_sim(argc, argv);
}
