#include "sim/run.h"

#include "models/common/event_queue.h"
#include "models/workload/vm.h"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace iosim {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

class Progress {
public:
    Progress(const RunOptions& o, Time total)
        : force_(o.progress), auto_(o.progress_auto && isatty(STDERR_FILENO)), total_(total),
          t0_(Clock::now()) {}

    void update(Time done, std::uint64_t ios) {
        const double wall = seconds_since(t0_);
        if (!force_ && !(auto_ && wall > 3.0)) return;
        if (wall - last_ < 1.0) return;
        last_ = wall;
        shown_ = true;
        const double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
        const double eta = frac > 0 ? wall * (1.0 - frac) / frac : 0.0;
        std::fprintf(
            stderr, "\r[sim] %.2f/%.2f ms simulated (%3.0f%%)  %llu I/Os  %.1f s wall  ETA %.1f s ",
            to_ns(done) / 1e6, to_ns(total_) / 1e6, 100.0 * frac,
            static_cast<unsigned long long>(ios), wall, eta);
        std::fflush(stderr);
    }
    void finish() {
        if (shown_) std::fputc('\n', stderr);
    }

private:
    bool force_, auto_;
    Time total_;
    Clock::time_point t0_;
    double last_ = -1.0;
    bool shown_ = false;
};

} // namespace

RunResult run_simulation(Platform& p, const cfg::Config& c, const RunOptions& o) {
    const auto t0 = Clock::now();
    const Time warmup = c.time("sim.warmup");
    const Time duration = c.time("sim.duration");
    const auto max_ios = static_cast<std::uint64_t>(c.integer("sim.max_ios"));
    tlm::tlm_global_quantum::instance().set(to_sc(c.time("sim.quantum")));

    for (auto& w : p.workloads())
        w->start(0);
    Progress progress(o, warmup + duration);

    // Warm-up, then every counter and histogram starts again.
    if (warmup) sc_core::sc_start(to_sc(warmup));
    const std::uint64_t warmup_ios = p.ios_completed();
    p.stats().reset();
    const std::uint64_t ev0 = EventQueue::sc_events, cb0 = EventQueue::callbacks;
    p.window_start = sim_now();

    // The measured window, in slices so that the loop can stop early and report progress.
    const Time end = p.window_start + duration;
    const Time slice = std::max<Time>(duration / 100, 10 * kUs);
    while (sim_now() < end) {
        sc_core::sc_start(to_sc(std::min(slice, end - sim_now())));
        progress.update(sim_now(), p.ios_completed());
        if (p.workloads_finished()) break;
        if (max_ios && p.ios_completed() >= max_ios) break;
    }
    progress.finish();
    p.window_end = sim_now();
    const double run_wall = seconds_since(t0);
    const std::uint64_t events = EventQueue::sc_events - ev0;
    const std::uint64_t callbacks = EventQueue::callbacks - cb0;

    RunResult r;
    r.stats = p.stats().to_json();
    r.stats["sim"]["simulated_ns"] =
        static_cast<std::uint64_t>(to_ns(p.window_end - p.window_start));
    r.stats["sim"]["warmup_ns"] = static_cast<std::uint64_t>(to_ns(warmup));
    r.stats["sim"]["events"] = events;
    r.stats["sim"]["callbacks"] = callbacks;
    r.stats["sim"]["seed"] = c.integer("sim.seed");
    // Speed counts every simulated I/O and the wall time of warm-up and window together.
    const std::uint64_t ios = warmup_ios + p.ios_completed();
    r.performance["wall_s"] = run_wall;
    r.performance["ios"] = ios;
    r.performance["ios_per_wall_s"] = run_wall > 0 ? ios / run_wall : 0.0;
    r.performance["events_per_wall_s"] = run_wall > 0 ? EventQueue::sc_events / run_wall : 0.0;

    // Drain: no new I/O; what is in flight completes (and injected stray DMAs still scheduled,
    // at most safety.inject.*.delay = 100 ms away); the lazy flush timer empties the queues.
    for (auto& w : p.workloads())
        w->stop();
    // A VM's VFIO set-up and teardown (about 0.1 s of one core per GiB of fragmented guest) may
    // still be running: it gets as long as a guest of the largest memory would need.
    const Time drain = p.vfio() ? 1000 * kSec : kSec;
    const Time drain_limit = sim_now() + drain;
    while (p.ios_inflight() && sim_now() < drain_limit)
        sc_core::sc_start(to_sc(p.vfio() ? 10 * kMs : 100 * kUs));
    if (p.ios_inflight())
        throw std::runtime_error("the drain did not finish: " + std::to_string(p.ios_inflight()) +
                                 " I/Os (or VM set-ups and teardowns) still in flight " +
                                 std::to_string(drain / kSec) + " s after the end of the run");
    // VFIO: a VM torn down at the end of the run (workloads.*.hold 0) unmaps during the drain;
    // its figures and vfio.* (totals of the whole run) are read again once it is done.
    if (p.vfio()) {
        nlohmann::json now = p.stats().to_json();
        r.stats["vfio"] = now["vfio"];
        for (auto& w : p.workloads())
            if (dynamic_cast<VmWorkload*>(w.get()))
                r.stats["workloads"][w->name()] = now["workloads"][w->name()];
    }
    if (p.dma().mode() == IommuMode::Lazy)
        sc_core::sc_start(to_sc(c.time("kernel.flush_queue.timeout") + kMs));
    auto& e = r.stats["end"];
    e["inflight_ios"] = p.ios_inflight();
    e["iovas_outstanding"] = p.streaming_iovas_outstanding();
    e["ptes_mapped"] = p.streaming_ptes_mapped();
    std::uint64_t queued = 0;
    for (const auto& d : p.dma().domains())
        queued += d->fq.queued_total();
    e["flush_queue_entries"] = queued;
    // Totals since the warm-up reset with the drain included, where mechanisms balance exactly
    // (a Wi-Fi packet's unmap happens in the TX-free after the window).
    e["dma_map_calls"] = p.dma().map_calls;
    e["dma_unmap_calls"] = p.dma().unmap_calls;
    e["completion_waits"] = p.iommu().cmd_completion_waits;
    e["flushes"] = p.dma().fq_flushes;
    e["flushes_timer"] = p.dma().fq_flushes_timer;
    e["flushes_full"] = p.dma().fq_flushes_full;
    // Safety totals with the drain (stray DMAs after the last I/O, the last lazy flush).
    auto& sf = e["safety"];
    sf["unmap_windows"] = p.dma().lazy_window_ns.count(); // one per translated unmap
    sf["unmap_window_max_ns"] = p.dma().lazy_window_ns.max();
    sf["nvme0_stray_dmas"] = p.nvme().stray_issued;
    if (const Mt7921* w = p.wifi()) sf["wifi0_stray_dmas"] = w->stray_issued;
    sf["stray_blocked"] = p.iommu().stray_blocked;
    sf["stray_reached_memory"] =
        p.iommu().mode() == IommuMode::Off ? p.memory().stray_reached : p.iommu().stray_reached;
    sf["stray_via_stale_iotlb"] = p.iommu().stray_via_stale;
    sf["stray_via_mapping"] = p.iommu().stray_via_mapping;
    sf["stray_corrupted_reused_memory"] = p.memory().stray_corrupted_reused;
    sf["stale_iotlb_hits"] = p.iommu().stale_iotlb_hits;
    if (const Mt7921* w = p.wifi()) {
        e["wifi0_tx_packets"] = w->tx_packets;
        e["wifi0_tx_free_events"] = w->tx_free_events;
        // page_pool pages stay mapped while the pool lives (in end.ptes_mapped when translated)
        const RxPagePool& pool = p.wifi_driver()->page_pool();
        e["wifi0_page_pool_pages_mapped"] = pool.maps() - pool.unmaps();
    }
    r.performance["total_wall_s"] = seconds_since(t0);
    return r;
}

} // namespace iosim
