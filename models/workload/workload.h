// What the run loop and the statistics need from any workload (fio-like block I/O, iperf-like
// network flows, VFIO userspace drivers, VM memory set-up): start and stop it, count what it has
// in flight and what it completed, and register its statistics under workloads.<name>.
// `completed` counts the workload's unit of work (I/Os, packets); `iops` in stats.json is
// completed per second of the window, whatever the unit (DESIGN.md's output contract).
#pragma once
#include "models/common/histogram.h"
#include "models/common/stats.h"
#include "models/common/time.h"

#include <cstdint>
#include <functional>
#include <string>

namespace iosim {

// The fio-like shape of a block I/O job, whichever driver runs it (the kernel's with libaio, or
// SPDK's in user space): workloads.<name>.{rw, bs, iodepth, jobs, first_cpu, size, ios}.
struct BlockJobParams {
    std::string name = "job";
    bool write = false;
    bool random = true;
    std::uint32_t bs = 4096;
    std::uint32_t iodepth = 32;
    unsigned jobs = 1;
    unsigned first_cpu = 0;
    std::uint64_t size = 1ull << 30;
    std::uint64_t ios = 0; // per job; 0 = unlimited
    std::uint64_t seed = 1;
};

class Workload {
public:
    explicit Workload(std::string name) : name_(std::move(name)) {}
    virtual ~Workload() = default;
    Workload(const Workload&) = delete;
    Workload& operator=(const Workload&) = delete;

    const std::string& name() const { return name_; }

    virtual void start(Time at) = 0;
    // Stop issuing new work (end of the run); what is in flight still completes.
    virtual void stop() = 0;
    virtual std::uint64_t inflight() const = 0;
    // The workload reached its own end (a count of I/Os, a finished set-up); never for those
    // that run until sim.duration.
    virtual bool finished() const = 0;

    // Registers workloads.<name>.{completed, bytes, iops, bytes_per_s, latency_ns} and calls
    // register_extra() for the workload's own counters. `window_s` gives the measured window in
    // seconds when the stats are read.
    void register_stats(Stats& s, const std::function<double()>& window_s);

    Histogram latency_ns;
    std::uint64_t completed = 0, bytes = 0;

protected:
    virtual void register_extra(Stats& s, const std::string& prefix) = 0;

private:
    std::string name_;
};

} // namespace iosim
