// The shared harness for tests that drive SystemC models through their sockets (STYLE.md habit 8).
//
// Every such test program links iosim_test_harness, whose main() (sc_gtest_main.cpp) sets the
// time resolution to 1 ps, installs a report handler that records every SystemC warning, error
// and fatal, and runs each test in a process of its own (SystemC elaborates once per process).
//
// A test derives its fixture from ScTest, builds and binds its modules, then calls run() once
// with the stimulus: the body runs as an SC_THREAD (so it may wait()), and run() returns when the
// simulation has nothing left to do. TearDown fails the test if SystemC reported a warning or
// worse while it ran.
#pragma once
#include "models/common/event_queue.h"
#include "models/common/time.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <systemc>

namespace iosim::test {

// SystemC reports of severity SC_WARNING and above since the last take_sc_reports(), formatted
// "SEVERITY msg_type: message (file:line)".
const std::vector<std::string>& sc_reports();
std::vector<std::string> take_sc_reports();
// Installs the recording handler (sc_gtest_main does this before any test runs).
void install_sc_report_handler();

// The stimulus of a test, as a thread of its own.
class TestThread : public sc_core::sc_module {
public:
    TestThread(const sc_core::sc_module_name& name, std::function<void()> body)
        : sc_core::sc_module(name), body_(std::move(body)) {
        SC_HAS_PROCESS(TestThread);
        SC_THREAD(main);
    }
    bool finished() const { return finished_; }

private:
    void main() {
        body_();
        finished_ = true;
    }
    std::function<void()> body_;
    bool finished_ = false;
};

class ScTest : public ::testing::Test {
protected:
    // Elaborates (the modules built so far plus the test thread) and simulates until no event is
    // left, or until `limit` of simulated time. Call at most once per test: a process elaborates
    // only once.
    void run(std::function<void()> body, Time limit = kNever) {
        ASSERT_FALSE(thread_) << "run() called twice: SystemC elaborates once per process";
        thread_ = std::make_unique<TestThread>("test_thread", std::move(body));
        if (limit == kNever) {
            sc_core::sc_start();
        } else {
            sc_core::sc_start(to_sc(limit));
        }
        EXPECT_TRUE(thread_->finished()) << "the test thread did not run to its end";
    }
    // Simulated time inside the test thread, as iosim::Time.
    static Time now() { return sim_now(); }
    // Advance the test thread to absolute time `t` (no-op if already there).
    static void wait_until(Time t) {
        if (t > sim_now()) sc_core::wait(to_sc(t - sim_now()));
    }

    void TearDown() override {
        auto reports = take_sc_reports();
        for (const auto& r : reports)
            ADD_FAILURE() << "SystemC reported: " << r;
    }

private:
    std::unique_ptr<TestThread> thread_;
};

} // namespace iosim::test
