// Runs the real `sim` program as a child process, for the end-to-end, golden and CLI tests.
// SystemC elaborates once per process, so a process per run is the natural isolation; it also
// tests exactly what a user or a script sees: exit status, stdout, stderr and the files of -o.
// SIM_BINARY and SIM_SOURCE_DIR come from tests/CMakeLists.txt.
#pragma once
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SIM_BINARY
#error "SIM_BINARY must be defined to the path of the sim program"
#endif
#ifndef SIM_SOURCE_DIR
#error "SIM_SOURCE_DIR must be defined to the source tree"
#endif

namespace simtest {

namespace fs = std::filesystem;
using nlohmann::json;

inline std::string source_path(const std::string& rel) {
    return (fs::path(SIM_SOURCE_DIR) / rel).string();
}

inline std::string read_text(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

inline void write_text(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    if (!f) throw std::runtime_error("cannot write " + p.string());
    f << text;
}

// A folder of its own for one test, removed at the end. Unique per process and test, so that
// ctest -j can run tests side by side.
class TempDir {
public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "x";
        for (char& ch : name)
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.') ch = '_';
        path_ = fs::temp_directory_path() / ("iosim_" + std::to_string(::getpid()) + "_" + name +
                                             "_" + std::to_string(seq()++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        if (!std::getenv("SIM_TEST_KEEP")) fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }
    // A path inside the folder not used before ("<prefix>_<n>"), for one run's -o.
    std::string fresh(const std::string& prefix) const {
        return (path_ / (prefix + "_" + std::to_string(runs_++))).string();
    }
    std::string write(const std::string& name, const std::string& text) const {
        write_text(path_ / name, text);
        return (path_ / name).string();
    }

private:
    static unsigned& seq() {
        static unsigned n = 0;
        return n;
    }
    fs::path path_;
    mutable unsigned runs_ = 0;
};

struct SimRun {
    int status = -1; // exit status; 128 + signal if it was killed
    std::string out, err;
    std::string command; // for failure messages
};

// sim ARGS..., with stdout and stderr captured, in `cwd` (default: the source folder, as ctest
// runs it).
inline SimRun run_sim(const std::vector<std::string>& args, const std::string& cwd = "") {
    SimRun r;
    r.command = SIM_BINARY;
    for (const auto& a : args)
        r.command += " " + a;

    char out_tmpl[] = "/tmp/iosim_outXXXXXX";
    char err_tmpl[] = "/tmp/iosim_errXXXXXX";
    const int out_fd = mkstemp(out_tmpl);
    const int err_fd = mkstemp(err_tmpl);
    if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");

    std::vector<std::string> argv_s{SIM_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t pid = fork();
    if (pid == 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        const int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
        if (chdir(cwd.empty() ? SIM_SOURCE_DIR : cwd.c_str()) != 0) _exit(127);
        alarm(120); // a hung run fails as SIGALRM (status 142) instead of hanging the suite
        execv(SIM_BINARY, argv.data());
        std::perror("exec " SIM_BINARY);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) throw std::runtime_error("cannot run " SIM_BINARY);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    close(out_fd);
    close(err_fd);
    r.out = read_text(out_tmpl);
    r.err = read_text(err_tmpl);
    unlink(out_tmpl);
    unlink(err_tmpl);
    return r;
}

inline std::string describe(const SimRun& r) {
    return "command: " + r.command + "\nexit status: " + std::to_string(r.status) + "\nstderr:\n" +
           r.err;
}

inline json read_json(const fs::path& p) {
    return json::parse(read_text(p));
}

// The value at a dotted path ("iommu.iotlb.lookups"); throws, naming the path, if it is missing,
// so that a renamed statistic fails the test instead of reading as 0.
inline const json& at(const json& j, const std::string& dotted) {
    const json* node = &j;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t dot = dotted.find('.', pos);
        const std::string key = dotted.substr(pos, dot == std::string::npos ? dot : dot - pos);
        if (!node->is_object() || !node->contains(key))
            throw std::out_of_range("statistic '" + dotted + "' is missing");
        node = &(*node)[key];
        if (dot == std::string::npos) return *node;
        pos = dot + 1;
    }
}
inline double num(const json& j, const std::string& dotted) {
    const json& v = at(j, dotted);
    if (!v.is_number()) throw std::invalid_argument("statistic '" + dotted + "' is not a number");
    return v.get<double>();
}
inline std::uint64_t count(const json& j, const std::string& dotted) {
    const json& v = at(j, dotted);
    if (!v.is_number_unsigned() && !v.is_number_integer())
        throw std::invalid_argument("statistic '" + dotted + "' is not an integer");
    return v.get<std::uint64_t>();
}

// The four IOMMU modes, in the order the summary prints them.
inline const std::vector<std::string> kModes = {"off", "passthrough", "strict", "lazy"};

// A test config under tests/sim/configs/.
inline std::string config(const std::string& name) {
    return source_path("tests/sim/configs/" + name);
}

// Runs sim on `args` with -q -o `dir` and returns its stats.json; throws (failing the test with the
// command and stderr) if it does not exit 0.
inline json run_stats(const std::string& dir, std::vector<std::string> args) {
    args.insert(args.end(), {"-q", "-o", dir});
    const SimRun r = run_sim(args);
    if (r.status != 0) throw std::runtime_error("sim failed\n" + describe(r));
    return read_json(fs::path(dir) / "stats.json");
}

// Runs the test config `cfg` in IOMMU `mode` (plus `extra` arguments) into tmp/<mode>.
inline json run_mode(const TempDir& tmp, const std::string& cfg, const std::string& mode,
                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{config(cfg), "--set", "platform.iommu.mode=" + mode};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_stats(tmp.fresh(mode), args);
}

} // namespace simtest
