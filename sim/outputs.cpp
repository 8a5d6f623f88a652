#include "sim/outputs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "models/common/stats.h"

namespace iosim {

namespace {

const nlohmann::json kNull;

double num(const nlohmann::json& j, const std::string& path) {
    const auto& v = at_path(j, path);
    return v.is_number() ? v.get<double>() : 0.0;
}

std::string grouped(double v) {
    auto s = fmt::format("{:.0f}", v);
    std::string out;
    int n = 0;
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
        if (n && n % 3 == 0 && *it != '-') out.push_back(',');
        out.push_back(*it);
        ++n;
    }
    return {out.rbegin(), out.rend()};
}

// Exclusive CPU time per function, largest first, functions with no time left out.
std::vector<std::pair<std::string, double>> top_functions(const nlohmann::json& s, std::size_t n) {
    std::vector<std::pair<std::string, double>> v;
    const auto& f = at_path(s, "cpu.busy_ns_by_function");
    if (f.is_object())
        for (auto it = f.begin(); it != f.end(); ++it)
            if (it.value().is_number() && it.value().get<double>() > 0)
                v.emplace_back(it.key(), it.value().get<double>());
    std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    if (v.size() > n) v.resize(n);
    return v;
}

// 65536 -> "64KiB": the largest binary unit that divides the value.
std::string binary_size(double bytes) {
    auto b = static_cast<std::uint64_t>(bytes);
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        ++u;
    }
    return std::to_string(b) + units[u];
}

double total_ios(const nlohmann::json& s) {
    double n = 0;
    const auto& w = at_path(s, "workloads");
    if (w.is_object())
        for (auto it = w.begin(); it != w.end(); ++it)
            n += num(it.value(), "completed");
    return n;
}

} // namespace

const nlohmann::json& at_path(const nlohmann::json& j, const std::string& dotted) {
    const nlohmann::json* node = &j;
    std::size_t pos = 0;
    while (pos <= dotted.size()) {
        std::size_t dot = dotted.find('.', pos);
        std::string key =
            dotted.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        if (!node->is_object()) return kNull;
        auto it = node->find(key);
        if (it == node->end()) return kNull;
        node = &*it;
        if (dot == std::string::npos) break;
        pos = dot + 1;
    }
    return *node;
}

void print_summary(std::ostream& os, const nlohmann::json& s) {
    const std::string mode =
        at_path(s, "iommu.mode").is_string() ? at_path(s, "iommu.mode").get<std::string>() : "?";
    os << fmt::format("iommu-sim: IOMMU {}, {:.3f} ms simulated after {:.3f} ms warm-up\n\n", mode,
                      num(s, "sim.simulated_ns") / 1e6, num(s, "sim.warmup_ns") / 1e6);
    os << fmt::format("{:<16} {:>12} {:>10} {:>9} {:>9} {:>9} {:>7}\n", "workload", "IOPS", "MB/s",
                      "p50 us", "p99 us", "p99.9 us", "errors");
    const auto& w = at_path(s, "workloads");
    if (w.is_object()) {
        for (auto it = w.begin(); it != w.end(); ++it) {
            const auto& j = it.value();
            os << fmt::format("{:<16} {:>12} {:>10.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>7}\n",
                              it.key(), grouped(num(j, "iops")), num(j, "bytes_per_s") / 1e6,
                              num(j, "latency_ns.p50") / 1e3, num(j, "latency_ns.p99") / 1e3,
                              num(j, "latency_ns.p999") / 1e3, grouped(num(j, "errors")));
        }
    }
    const double ios = std::max(1.0, total_ios(s));
    os << '\n';
    os << fmt::format("IOMMU  IOTLB {} lookups, hit rate {:.2f} %, {} walks ({} memory reads), "
                      "{} faults\n",
                      grouped(num(s, "iommu.iotlb.lookups")), 100 * num(s, "iommu.iotlb.hit_rate"),
                      grouped(num(s, "iommu.walk.walks")),
                      grouped(num(s, "iommu.walk.memory_reads")), grouped(num(s, "iommu.faults")));
    os << fmt::format("       {} invalidation commands, {} completion waits, {:.0f} ns waited and "
                      "{:.0f} ns lock spin per I/O\n",
                      grouped(num(s, "iommu.invalidation.commands")),
                      grouped(num(s, "iommu.invalidation.completion_waits")),
                      num(s, "iommu.invalidation.wait_ns") / ios,
                      num(s, "iommu.invalidation.lock_spin_ns") / ios);
    // Hardware-style counters (iommu.pmu), as perf's amd_iommu and Intel's IIO uncore name them.
    if (at_path(s, "iommu.pmu.amd").is_object()) {
        const std::string a = "iommu.pmu.amd.", i = "iommu.pmu.intel.";
        os << fmt::format("PMU    amd_iommu: tlb_pte_hit {} tlb_pte_mis {} tlb_pde_hit {} "
                          "tlb_pde_mis {} page_tbl_read_tot {}\n",
                          grouped(num(s, a + "mem_iommu_tlb_pte_hit")),
                          grouped(num(s, a + "mem_iommu_tlb_pte_mis")),
                          grouped(num(s, a + "mem_iommu_tlb_pde_hit")),
                          grouped(num(s, a + "mem_iommu_tlb_pde_mis")),
                          grouped(num(s, a + "page_tbl_read_tot")));
        os << fmt::format("       unc_iio_iommu: FIRST_LOOKUPS {} 4K_HITS {} 2M_HITS {} MISSES {} "
                          "NUM_MEM_ACCESSES {}\n",
                          grouped(num(s, i + "UNC_IIO_IOMMU0.FIRST_LOOKUPS")),
                          grouped(num(s, i + "UNC_IIO_IOMMU0.4K_HITS")),
                          grouped(num(s, i + "UNC_IIO_IOMMU0.2M_HITS")),
                          grouped(num(s, i + "UNC_IIO_IOMMU0.MISSES")),
                          grouped(num(s, i + "UNC_IIO_IOMMU1.NUM_MEM_ACCESSES")));
    }
    // The DMA benchmark engine (models/dmabench), when fitted.
    if (at_path(s, "devices.dmabench0").is_object()) {
        const auto text = [&s](const char* key) {
            const auto& v = at_path(s, std::string("devices.dmabench0.") + key);
            return v.is_string() ? v.get<std::string>() : std::string("?");
        };
        const std::string page = text("page_size");
        os << fmt::format("DMA    dmabench0 ({}, {}): {} transfers, {} requests, {} "
                          "errors, {} stray; {} IOTLB misses\n",
                          text("mode"),
                          page == "none" ? text("addresses") + " addresses" : page + " pages",
                          grouped(num(s, "devices.dmabench0.transfers")),
                          grouped(num(s, "devices.dmabench0.requests")),
                          grouped(num(s, "devices.dmabench0.dma_errors")),
                          grouped(num(s, "devices.dmabench0.stray_dmas")),
                          grouped(num(s, "iommu.pmu.by_device.dmabench0.misses")));
    }
    os << fmt::format("CPU    {} cores, utilization {:.1f} %, {:.2f} us CPU per I/O\n",
                      num(s, "cpu.cores"), 100 * num(s, "cpu.utilization"),
                      num(s, "cpu.ns_per_io") / 1e3);
    // DMA safety (issue 4)
    os << fmt::format("Safety {} faults (not present {}, no domain {}, permission {}; {} not "
                      "logged), {} stale IOTLB hits\n",
                      grouped(num(s, "safety.faults.total")),
                      grouped(num(s, "safety.faults.by_reason.not_present")),
                      grouped(num(s, "safety.faults.by_reason.no_domain")),
                      grouped(num(s, "safety.faults.by_reason.permission")),
                      grouped(num(s, "safety.faults.dropped")),
                      grouped(num(s, "safety.stale_iotlb_hits")));
    if (num(s, "safety.stray.issued") > 0)
        os << fmt::format(
            "       stray DMAs {}: {} blocked, {} reached memory ({} via stale IOTLB "
            "entries, {} via a live mapping, {})\n",
            grouped(num(s, "safety.stray.issued")), grouped(num(s, "safety.stray.blocked")),
            grouped(num(s, "safety.stray.reached_memory")),
            grouped(num(s, "safety.stray.via_stale_iotlb")),
            grouped(num(s, "safety.stray.via_mapping")),
            num(s, "safety.reuse_tracked") > 0
                ? grouped(num(s, "safety.stray.corrupted_reused_memory")) + " into reused memory"
                : std::string("reuse not tracked without the backing store"));
    if (num(s, "safety.unprotected") > 0)
        os << "       unprotected: no translation, unmapped memory stays reachable by DMA\n";
    else if (num(s, "safety.lazy_window_ns.count") > 0)
        os << fmt::format("       unmap-to-invalidation window p50 {:.1f} us, p99 {:.1f} us, max "
                          "{:.1f} us ({} unmaps)\n",
                          num(s, "safety.lazy_window_ns.p50") / 1e3,
                          num(s, "safety.lazy_window_ns.p99") / 1e3,
                          num(s, "safety.lazy_window_ns.max") / 1e3,
                          grouped(num(s, "safety.lazy_window_ns.count")));
    // VFIO (models/vfio): present when a workload has nvme0 assigned (ioengine spdk, type vm).
    if (at_path(s, "vfio").is_object()) {
        const bool noiommu = at_path(s, "vfio.mode").is_string() &&
                             at_path(s, "vfio.mode").get<std::string>().rfind("no-IOMMU", 0) == 0;
        os << fmt::format("VFIO   nvme0 assigned to '{}' ({}); iommu.strict does not apply "
                          "({})\n",
                          at_path(s, "vfio.owner").is_string()
                              ? at_path(s, "vfio.owner").get<std::string>()
                              : std::string("?"),
                          noiommu ? "no-IOMMU mode: physical addresses, nothing mapped"
                                  : "type1 container, its own translated domain",
                          noiommu ? "no IOMMU" : "VFIO domains are unmanaged");
        os << fmt::format("       {} MAP_DMA ({} pages pinned, {:.3f} ms), {} UNMAP_DMA ({:.3f} "
                          "ms, {} iommu_iova_to_phys, {} IOTLB syncs)\n",
                          grouped(num(s, "vfio.map_dma_calls")),
                          grouped(num(s, "vfio.pages_pinned")), num(s, "vfio.map_ns") / 1e6,
                          grouped(num(s, "vfio.unmap_dma_calls")), num(s, "vfio.unmap_ns") / 1e6,
                          grouped(num(s, "vfio.iova_to_phys_calls")),
                          grouped(num(s, "vfio.iotlb_syncs")));
    }
    // Ranked by exclusive time (the function's own work), with its inclusive time (its callees
    // too) beside it; entry glue (syscall, IRQ and softirq entry, the block layer's plug) has no
    // exclusive time and so stays out of the table.
    const double busy = std::max(1.0, num(s, "cpu.busy_ns"));
    // Per I/O when there are I/Os; a run without any (a VM's set-up) shows the totals.
    const bool per_io = total_ios(s) > 0;
    const double div = per_io ? ios : 1.0;
    os << fmt::format("\nTop kernel functions, by exclusive CPU time ({}):\n",
                      per_io ? "per I/O" : "totals, no I/Os");
    os << fmt::format("  {:<34} {:>12} {:>12} {:>10} {:>7}\n", "function",
                      per_io ? "excl ns/IO" : "excl ns", per_io ? "incl ns/IO" : "incl ns",
                      per_io ? "calls/IO" : "calls", "% CPU");
    for (const auto& [name, ns] : top_functions(s, 10))
        os << fmt::format("  {:<34} {:>12.0f} {:>12.0f} {:>10.{}f} {:>6.1f}%\n", name, ns / div,
                          num(s, "cpu.inclusive_ns_by_function." + name) / div,
                          num(s, "cpu.calls_by_function." + name) / div, per_io ? 2 : 0,
                          100 * ns / busy);
}

void print_comparison(std::ostream& os, const std::vector<Variant>& vs) {
    std::vector<std::string> workloads;
    for (const auto& v : vs) {
        const auto& w = at_path(v.stats, "workloads");
        if (w.is_object())
            for (auto it = w.begin(); it != w.end(); ++it)
                if (std::find(workloads.begin(), workloads.end(), it.key()) == workloads.end())
                    workloads.push_back(it.key());
    }
    std::size_t width = 14;
    for (const auto& v : vs)
        width = std::max(width, v.name.size() + 2);
    // The table is collected first and printed in blocks of as many variants as fit in
    // kMaxLine columns (a sweep of 18 windows wraps as pandas wraps a wide frame).
    std::vector<std::pair<std::string, std::vector<std::string>>> table;
    auto row = [&](const std::string& label, auto cell) {
        std::vector<std::string> cells;
        for (const auto& v : vs)
            cells.push_back(cell(v.stats));
        table.emplace_back(label, std::move(cells));
    };
    auto print_table = [&] {
        constexpr std::size_t kMaxLine = 160;
        const std::size_t per_block = std::max<std::size_t>(1, (kMaxLine - 36) / width);
        for (std::size_t first = 0; first < vs.size(); first += per_block) {
            const std::size_t last = std::min(vs.size(), first + per_block);
            if (first > 0) os << '\n';
            os << fmt::format("{:<36}", "");
            for (std::size_t i = first; i < last; ++i)
                os << fmt::format("{:>{}}", vs[i].name, width);
            os << '\n';
            for (const auto& [label, cells] : table) {
                std::string line = fmt::format("{:<36}", label);
                for (std::size_t i = first; i < last; ++i)
                    line += fmt::format("{:>{}}", cells[i], width);
                line.erase(line.find_last_not_of(' ') + 1); // a heading row has no cells
                os << line << '\n';
            }
        }
        table.clear();
    };
    for (const auto& wl : workloads) {
        const std::string k = "workloads." + wl + ".";
        const std::string tag = workloads.size() > 1 ? " (" + wl + ")" : "";
        row("IOPS" + tag, [&](const auto& s) { return grouped(num(s, k + "iops")); });
        row("bandwidth MB/s" + tag,
            [&](const auto& s) { return fmt::format("{:.1f}", num(s, k + "bytes_per_s") / 1e6); });
        for (auto [p, name] : {std::pair{"p50", "latency p50 us"},
                               {"p99", "latency p99 us"},
                               {"p999", "latency p99.9 us"}})
            row(name + tag, [&, p = std::string(p)](const auto& s) {
                return fmt::format("{:.1f}", num(s, k + "latency_ns." + p) / 1e3);
            });
    }
    row("CPU utilization %",
        [](const auto& s) { return fmt::format("{:.1f}", 100 * num(s, "cpu.utilization")); });
    row("CPU us per I/O",
        [](const auto& s) { return fmt::format("{:.2f}", num(s, "cpu.ns_per_io") / 1e3); });
    row("IOTLB hit rate %", [](const auto& s) {
        return num(s, "iommu.iotlb.lookups") > 0
                   ? fmt::format("{:.2f}", 100 * num(s, "iommu.iotlb.hit_rate"))
                   : std::string("-");
    });
    row("IOTLB lookups", [](const auto& s) { return grouped(num(s, "iommu.iotlb.lookups")); });
    row("page walks", [](const auto& s) { return grouped(num(s, "iommu.walk.walks")); });
    row("invalidation commands",
        [](const auto& s) { return grouped(num(s, "iommu.invalidation.commands")); });
    row("completion waits",
        [](const auto& s) { return grouped(num(s, "iommu.invalidation.completion_waits")); });
    row("lazy flushes",
        [](const auto& s) { return grouped(num(s, "kernel.flush_queue.flushes")); });
    row("faults", [](const auto& s) { return grouped(num(s, "iommu.faults")); });
    row("DMA API map calls", [](const auto& s) { return grouped(num(s, "kernel.dma.map_calls")); });
    // DMA safety (issue 4)
    row("stale IOTLB hits",
        [](const auto& s) { return grouped(num(s, "safety.stale_iotlb_hits")); });
    if (std::any_of(vs.begin(), vs.end(),
                    [](const Variant& v) { return num(v.stats, "safety.stray.issued") > 0; })) {
        for (auto [key, label] : {std::pair{"issued", "stray DMAs issued"},
                                  {"blocked", "stray DMAs blocked"},
                                  {"reached_memory", "stray DMAs reached memory"},
                                  {"via_stale_iotlb", "  via stale IOTLB entries"},
                                  {"corrupted_reused_memory", "  into reused memory"}})
            row(label, [k = std::string("safety.stray.") + key](const auto& s) {
                if (k == "safety.stray.corrupted_reused_memory" &&
                    num(s, "safety.reuse_tracked") == 0)
                    return std::string("-"); // needs the backing store
                return grouped(num(s, k));
            });
    }
    for (auto [p, label] : {std::pair{"p50", "unmap window p50 us"},
                            {"p99", "unmap window p99 us"},
                            {"max", "unmap window max us"}})
        row(label, [k = std::string("safety.lazy_window_ns.") + p](const auto& s) {
            if (num(s, "safety.unprotected") > 0) return std::string("unprot.");
            return num(s, "safety.lazy_window_ns.count") > 0
                       ? fmt::format("{:.1f}", num(s, k) / 1e3)
                       : std::string("-");
        });
    // VFIO rows, when a variant has a device assigned (totals of the run, set-up included).
    if (std::any_of(vs.begin(), vs.end(),
                    [](const auto& v) { return at_path(v.stats, "vfio").is_object(); })) {
        auto vfio = [](const std::string& key, auto fmt_fn) {
            return [key, fmt_fn](const auto& s) {
                return at_path(s, "vfio").is_object() ? fmt_fn(num(s, key)) : std::string("-");
            };
        };
        auto count = [](double v) { return grouped(v); };
        auto ms = [](double v) { return fmt::format("{:.3f}", v / 1e6); };
        row("VFIO MAP_DMA calls", vfio("vfio.map_dma_calls", count));
        row("VFIO pages pinned", vfio("vfio.pages_pinned", count));
        row("VFIO map ms", vfio("vfio.map_ns", ms));
        row("VFIO unmap ms", vfio("vfio.unmap_ns", ms));
        row("VFIO iommu_iova_to_phys calls", vfio("vfio.iova_to_phys_calls", count));
        row("VFIO IOTLB syncs", vfio("vfio.iotlb_syncs", count));
    }

    // The DMA benchmark engine (models/dmabench): one row per variant, so that a sweep of the
    // window reads as a table of bandwidth and latency against the window.
    std::vector<std::string> bench;
    for (const auto& wl : workloads)
        if (std::any_of(vs.begin(), vs.end(), [&wl](const Variant& v) {
                return at_path(v.stats, "workloads." + wl + ".transfer_bytes").is_number();
            }))
            bench.push_back(wl);
    if (!bench.empty()) print_table(); // the rows so far, then the engine's own table
    for (const auto& wl : bench) {
        const std::string k = "workloads." + wl + ".";
        os << fmt::format("DMA benchmark '{}', one row per variant:\n", wl);
        os << fmt::format("  {:<{}} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>12} {:>12}\n",
                          "variant", width, "window", "page", "MB/s", "p50 ns", "p99 ns",
                          "p99.9 ns", "max ns", "misses/xfer", "walk rd/xfer");
        for (const auto& v : vs) {
            const auto& st = v.stats;
            if (!at_path(st, k + "transfer_bytes").is_number()) continue;
            const double n = std::max(1.0, num(st, k + "completed"));
            const auto& page = at_path(st, "devices.dmabench0.page_size");
            std::string pg = page.is_string() ? page.get<std::string>() : "-";
            if (pg == "none") pg = "-";
            os << fmt::format(
                "  {:<{}} {:>9} {:>9} {:>10.1f} {:>9.0f} {:>9.0f} {:>9.0f} {:>9.0f} {:>12.3f} "
                "{:>12.3f}\n",
                v.name, width, binary_size(num(st, k + "window_bytes")), pg,
                num(st, k + "bytes_per_s") / 1e6, num(st, k + "latency_ns.p50"),
                num(st, k + "latency_ns.p99"), num(st, k + "latency_ns.p999"),
                num(st, k + "latency_ns.max"), num(st, k + "iotlb.misses") / n,
                num(st, k + "iotlb.walk_reads") / n);
        }
    }

    // Top kernel functions: the union of each variant's top 6, in ns of CPU per I/O.
    std::vector<std::string> fns;
    for (const auto& v : vs)
        for (const auto& [name, ns] : top_functions(v.stats, 6))
            if (std::find(fns.begin(), fns.end(), name) == fns.end()) fns.push_back(name);
    // Per I/O; variants without any I/O (a VM's set-up) show totals, and the header says so.
    const bool any_io =
        std::any_of(vs.begin(), vs.end(), [](const Variant& v) { return total_ios(v.stats) > 0; });
    if (fns.empty()) return; // no variant ran kernel code (a DMA engine on its own)
    table.emplace_back(any_io ? "top kernel functions, CPU ns per I/O, exclusive / inclusive:"
                              : "top kernel functions, CPU ns in total (no I/Os), exclusive / "
                                "inclusive:",
                       std::vector<std::string>(vs.size()));
    for (const auto& fn : fns)
        row("  " + fn, [&](const auto& s) {
            const double d = std::max(1.0, total_ios(s));
            return fmt::format("{:.0f} / {:.0f}", num(s, "cpu.busy_ns_by_function." + fn) / d,
                               num(s, "cpu.inclusive_ns_by_function." + fn) / d);
        });
    print_table();
}

void write_comparison_csv(const std::string& path, const std::vector<Variant>& vs) {
    std::ofstream f(path);
    if (!f) throw std::runtime_error("cannot write " + path);
    f.precision(17); // round-trip doubles: the default 6 digits turn 5123276800 into 5.12328e+09
    std::vector<std::string> keys;
    for (const auto& v : vs)
        for (const auto& [k, val] : v.settings)
            if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    static const char* metrics[] = {"cpu.utilization",
                                    "cpu.ns_per_io",
                                    "iommu.iotlb.lookups",
                                    "iommu.iotlb.hit_rate",
                                    "iommu.walk.walks",
                                    "iommu.walk.memory_reads",
                                    "iommu.invalidation.commands",
                                    "iommu.invalidation.completion_waits",
                                    "iommu.invalidation.wait_ns",
                                    "kernel.flush_queue.flushes",
                                    "iommu.faults",
                                    "safety.stray.issued",
                                    "safety.stray.blocked",
                                    "safety.stray.reached_memory",
                                    "safety.stale_iotlb_hits",
                                    "safety.lazy_window_ns.p50",
                                    "safety.lazy_window_ns.p99",
                                    "safety.lazy_window_ns.max",
                                    "sim.simulated_ns"};
    f << "variant";
    for (const auto& k : keys)
        f << ',' << k;
    f << ",workload,iops,bytes_per_s,latency_p50_ns,latency_p99_ns,latency_p999_ns";
    for (const char* m : metrics)
        f << ',' << m;
    f << '\n';
    for (const auto& v : vs) {
        const auto& w = at_path(v.stats, "workloads");
        if (!w.is_object()) continue;
        for (auto it = w.begin(); it != w.end(); ++it) {
            f << v.name;
            for (const auto& k : keys) {
                std::string val;
                for (const auto& [sk, sv] : v.settings)
                    if (sk == k) val = sv;
                f << ',' << val;
            }
            const auto& j = it.value();
            f << ',' << it.key() << ',' << num(j, "iops") << ',' << num(j, "bytes_per_s") << ','
              << num(j, "latency_ns.p50") << ',' << num(j, "latency_ns.p99") << ','
              << num(j, "latency_ns.p999");
            for (const char* m : metrics)
                f << ',' << at_path(v.stats, m).dump();
            f << '\n';
        }
    }
}

void write_run_outputs(const std::string& dir, const nlohmann::json& stats,
                       const std::string& config_yaml, const nlohmann::json& manifest) {
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    auto open = [&](const char* name) {
        std::ofstream f(fs::path(dir) / name);
        if (!f) throw std::runtime_error("cannot write " + (fs::path(dir) / name).string());
        return f;
    };
    {
        auto f = open("stats.json");
        f << stats.dump(2) << '\n';
    }
    {
        auto f = open("stats.csv");
        Stats::write_csv(stats, f);
    }
    {
        auto f = open("config.yaml");
        f << config_yaml;
    }
    {
        auto f = open("manifest.json");
        f << manifest.dump(2) << '\n';
    }
}

} // namespace iosim
