// gtest main for SystemC model tests.
//
// SystemC elaborates a design once per process (modules may only be built before the first
// sc_start), so every test needs a process of its own. ctest's gtest_discover_tests already runs
// one test per process (--gtest_filter=Suite.Name); for that case this main just runs it. Asked to
// run several tests (a developer running the binary directly), it forks a child per selected
// test, narrows the child's filter to that one test, and reports each child's exit status and a
// summary; the exit status is non-zero if any child failed.
//
// In the process that runs a test: SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1, a 1 ps time resolution
// (iosim::Time is integer picoseconds and converts to sc_time by its raw value), and a report
// handler that records every warning, error and fatal (ScTest::TearDown turns them into failures;
// main makes the exit status non-zero for any left over, from a fixture destructor say).
#include "tests/harness/sc_test.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <systemc>
#include <unistd.h>

namespace iosim::test {

namespace {

std::vector<std::string>& reports() {
    static std::vector<std::string> r;
    return r;
}

void report_handler(const sc_core::sc_report& rep, const sc_core::sc_actions& actions) {
    if (rep.get_severity() >= sc_core::SC_WARNING) {
        static const char* const sev[] = {"INFO", "WARNING", "ERROR", "FATAL"};
        std::ostringstream os;
        os << sev[rep.get_severity()] << ' ' << rep.get_msg_type() << ": " << rep.get_msg() << " ("
           << rep.get_file_name() << ':' << rep.get_line_number() << ')';
        reports().push_back(os.str());
    }
    // Keep SystemC's own actions: display, and throw on an error (gtest reports the exception).
    sc_core::sc_report_handler::default_handler(rep, actions);
}

} // namespace

const std::vector<std::string>& sc_reports() {
    return reports();
}

std::vector<std::string> take_sc_reports() {
    std::vector<std::string> r;
    r.swap(reports());
    return r;
}

void install_sc_report_handler() {
    sc_core::sc_report_handler::set_handler(&report_handler);
}

} // namespace iosim::test

namespace {

// gtest's filter syntax: POSITIVE[:POSITIVE...][-NEGATIVE[:NEGATIVE...]], '*' and '?' wildcards.
bool glob(const char* p, const char* s) {
    if (*p == '\0') return *s == '\0';
    if (*p == '*') return glob(p + 1, s) || (*s != '\0' && glob(p, s + 1));
    if (*s == '\0') return false;
    return (*p == '?' || *p == *s) && glob(p + 1, s + 1);
}

bool any_matches(const std::string& patterns, const std::string& name) {
    std::size_t start = 0;
    while (start <= patterns.size()) {
        std::size_t end = patterns.find(':', start);
        if (end == std::string::npos) end = patterns.size();
        const std::string pat = patterns.substr(start, end - start);
        if (!pat.empty() && glob(pat.c_str(), name.c_str())) return true;
        start = end + 1;
    }
    return false;
}

bool filter_matches(const std::string& filter, const std::string& name) {
    const std::size_t dash = filter.find('-');
    std::string pos = filter.substr(0, dash);
    const std::string neg = dash == std::string::npos ? "" : filter.substr(dash + 1);
    if (pos.empty()) pos = "*";
    return any_matches(pos, name) && !any_matches(neg, name);
}

bool disabled(const std::string& suite, const std::string& name) {
    return suite.rfind("DISABLED_", 0) == 0 || name.rfind("DISABLED_", 0) == 0;
}

// The tests RUN_ALL_TESTS would run, in its order (sharding applied as gtest does: over the
// tests that pass the filter).
std::vector<std::string> selected_tests() {
    const std::string filter = GTEST_FLAG_GET(filter);
    const bool also_disabled = GTEST_FLAG_GET(also_run_disabled_tests);
    const char* total_env = std::getenv("GTEST_TOTAL_SHARDS");
    const char* index_env = std::getenv("GTEST_SHARD_INDEX");
    const long total = total_env ? std::atol(total_env) : 1;
    const long index = index_env ? std::atol(index_env) : 0;
    std::vector<std::string> out;
    long n = 0;
    const auto* ut = ::testing::UnitTest::GetInstance();
    for (int i = 0; i < ut->total_test_suite_count(); ++i) {
        const auto* suite = ut->GetTestSuite(i);
        for (int j = 0; j < suite->total_test_count(); ++j) {
            const auto* info = suite->GetTestInfo(j);
            const std::string full = std::string(suite->name()) + "." + info->name();
            if (!filter_matches(filter, full)) continue;
            if (!also_disabled && disabled(suite->name(), info->name())) continue;
            if (total > 1 && n++ % total != index) continue;
            out.push_back(full);
        }
    }
    return out;
}

// The process that runs tests (called as sc_main): SystemC set up before anything SystemC exists.
int run_here() {
    // IOSIM_TEST_KEEP_DEFAULT_RESOLUTION: only for the harness test that checks SystemC's default.
    if (!std::getenv("IOSIM_TEST_KEEP_DEFAULT_RESOLUTION"))
        sc_core::sc_set_time_resolution(1, sc_core::SC_PS);
    iosim::test::install_sc_report_handler();
    int rc = RUN_ALL_TESTS();
    const auto left = iosim::test::take_sc_reports();
    for (const auto& r : left)
        std::cerr << "SystemC reported outside a test: " << r << '\n';
    if (!left.empty()) rc = 1;
    return rc;
}

// Parent: runs each test in a child process and returns the overall exit status. In a child,
// returns at once with `child_test` set to the one test it must run (the child then runs it from
// main, as a single-test process would, and exits by returning from main).
int run_forked(const std::vector<std::string>& tests, std::string& child_test) {
    std::cout << "[==========] " << tests.size()
              << " tests, each in a process of its own (SystemC elaborates once per process)\n"
              << std::flush;
    std::vector<std::string> failed;
    for (const std::string& t : tests) {
        std::cout.flush();
        std::fflush(nullptr);
        const pid_t pid = fork();
        if (pid < 0) {
            std::perror("fork");
            return 1;
        }
        if (pid == 0) {
            child_test = t;
            return 0;
        }
        int status = 0;
        if (waitpid(pid, &status, 0) < 0) {
            std::perror("waitpid");
            return 1;
        }
        std::string verdict;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            verdict = "PASSED";
        } else if (WIFEXITED(status)) {
            verdict = "FAILED (exit status " + std::to_string(WEXITSTATUS(status)) + ")";
        } else if (WIFSIGNALED(status)) {
            verdict = "FAILED (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
        } else {
            verdict = "FAILED (status " + std::to_string(status) + ")";
        }
        if (verdict != "PASSED") failed.push_back(t + verdict.substr(6)); // " (exit status 1)"
        std::cout << "[ PROCESS  ] " << t << ": " << verdict << "\n" << std::flush;
    }
    std::cout << "[==========] " << tests.size() << " tests: " << tests.size() - failed.size()
              << " passed, " << failed.size() << " failed\n";
    for (const auto& f : failed)
        std::cout << "[  FAILED  ] " << f << '\n';
    std::cout << std::flush;
    return failed.empty() ? 0 : 1;
}

} // namespace

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer's exit-time scan faults at random on the stacks of SystemC threads (libsystemc
// switches coroutine stacks without telling the sanitizer) and fails passing tests. Address
// checking stays on; ASAN_OPTIONS=detect_leaks=1 turns leak checking back on.
extern "C" const char* __asan_default_options() {
    return "detect_leaks=0";
}
#endif

// libsystemc's entry point calls sc_main; ours reaches it through sc_elab_and_sim, in the process
// that runs the tests.
int sc_main(int, char*[]) {
    return run_here();
}

int main(int argc, char** argv) {
    // Before anything SystemC: the banner would otherwise go to stderr when the kernel starts.
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    ::testing::InitGoogleTest(&argc, argv);
    if (GTEST_FLAG_GET(list_tests)) return RUN_ALL_TESTS();
    const auto tests = selected_tests();
    if (tests.size() > 1) {
        std::string child_test;
        const int rc = run_forked(tests, child_test);
        if (child_test.empty()) return rc; // the parent
        GTEST_FLAG_SET(filter, child_test);
        // One XML report per process would overwrite the others; ctest runs one test per process
        // and can ask each for its own file.
        GTEST_FLAG_SET(output, "");
        unsetenv("GTEST_TOTAL_SHARDS");
        unsetenv("GTEST_SHARD_INDEX");
    }
    return sc_core::sc_elab_and_sim(argc, argv);
}
