// End-to-end: the real `sim` program on small configs (tests/sim/configs/), one process per run.
// Each test checks what the modelled mechanism must produce in stats.json, per IOMMU mode
// (kernel-dma-paths.md §1-3, §6.1), not calibrated figures: counts that must be equal, bounds that
// follow from the flush-queue and request-size rules, a clean state after the drain, data that
// lands where the driver mapped it, determinism, and the headline comparison's shape.
#include "tests/sim/sim_process.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

std::uint64_t calls(const json& s, const std::string& fn) {
    return count(s, "cpu.calls_by_function." + fn);
}

// Every function of the iommu-dma, IOVA, flush-queue, IOMMU page-table and command-queue paths
// (kernel-dma-paths.md §7). Under dma-direct none of them may run.
const std::vector<std::string> kIommuDmaFunctions = {
    "iommu_dma_map_page",
    "iommu_dma_unmap_page",
    "iommu_dma_map_sg",
    "iommu_dma_unmap_sg",
    "alloc_iova_fast",
    "alloc_iova",
    "__alloc_and_insert_iova_range",
    "free_iova_fast",
    "free_iova",
    "iova_magazine_free_pfns",
    "queue_iova",
    "fq_ring_free_locked",
    "fq_flush_iotlb",
    "fq_flush_timeout",
    "iommu_map",
    "iommu_v1_map_pages",
    "alloc_pte",
    "iommu_iova_to_phys",
    "iommu_unmap_fast",
    "iommu_v1_unmap_pages",
    "amd_iommu_iotlb_sync",
    "amd_iommu_flush_iotlb_all",
    "build_inv_iommu_pages",
    "build_completion_wait",
    "copy_cmd_to_buffer",
    "iommu_completion_wait",
    "wait_on_sem",
};

// ------------------------------------------------------------------ every mode

class EveryMode : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Modes, EveryMode, ::testing::ValuesIn(kModes),
                         [](const auto& info) { return info.param; });

// After the drain nothing is left behind: every streaming mapping is unmapped, every IOVA freed,
// every flush queue empty, every I/O complete. Small and large (map_sg) I/O.
TEST_P(EveryMode, DrainLeavesNothingBehind) {
    TempDir tmp;
    for (const char* cfg : {"small_4k.yaml", "large_io.yaml"}) {
        SCOPED_TRACE(cfg);
        const json s = run_mode(tmp, cfg, GetParam());
        EXPECT_EQ(count(s, "end.iovas_outstanding"), 0u);
        EXPECT_EQ(count(s, "end.ptes_mapped"), 0u);
        EXPECT_EQ(count(s, "end.inflight_ios"), 0u);
        EXPECT_EQ(count(s, "end.flush_queue_entries"), 0u);
        EXPECT_EQ(at(s, "iommu.mode"), GetParam());
        EXPECT_EQ(count(s, "iommu.faults"), 0u);
        EXPECT_EQ(count(s, "devices.nvme0.dma_errors"), 0u);
        for (auto it = at(s, "workloads").begin(); it != at(s, "workloads").end(); ++it) {
            SCOPED_TRACE(it.key());
            EXPECT_GT(count(it.value(), "completed"), 0u);
            EXPECT_EQ(count(it.value(), "errors"), 0u);
            // iops is completed / window, rounded.
            const double expect =
                count(it.value(), "completed") / (num(s, "sim.simulated_ns") / 1e9);
            EXPECT_LE(std::abs(num(it.value(), "iops") - expect), 0.5 + 1e-9 * expect);
        }
    }
}

// platform.memory.backing_store + verify: every block read carries its LBA's pattern at the
// pages the driver mapped, through map_page (4 KiB) and map_sg (64 KiB), in every mode.
TEST_P(EveryMode, ReadDataLandsWhereTheDriverMappedIt) {
    TempDir tmp;
    const json s = run_mode(tmp, "verify.yaml", GetParam());
    for (const auto& [name, bs] : {std::pair{"small", 4096u}, {"large", 65536u}}) {
        SCOPED_TRACE(name);
        const json& w = at(s, std::string("workloads.") + name);
        EXPECT_GT(count(w, "completed"), 0u);
        EXPECT_GT(count(w, "verify.bytes"), 0u);
        EXPECT_EQ(count(w, "verify.errors"), 0u);
        EXPECT_EQ(count(w, "errors"), 0u);
        // Every completed I/O was checked, all of it.
        EXPECT_EQ(count(w, "verify.bytes"), count(w, "completed") * bs);
    }
    EXPECT_GT(count(s, "kernel.dma.map_sg_calls"), 0u);
}

// Principle 6: the same config and seed give byte-identical stats; another seed does not.
TEST_P(EveryMode, SameSeedSameStatsOtherSeedOtherStats) {
    TempDir tmp;
    const std::vector<std::string> base{config("small_4k.yaml"), "--set",
                                        "platform.iommu.mode=" + GetParam(), "-q", "-o"};
    auto run = [&](const std::string& dir, const std::string& seed) {
        auto args = base;
        args.insert(args.end(), {tmp / dir, "--seed", seed});
        const SimRun r = run_sim(args);
        EXPECT_EQ(r.status, 0) << describe(r);
        return read_text(tmp.path() / dir / "stats.json");
    };
    const std::string a = run("a", "7"), b = run("b", "7"), c = run("c", "8");
    EXPECT_EQ(a, b) << "two runs with seed 7 differ";
    EXPECT_NE(a, c) << "seeds 7 and 8 give the same stats";
}

// Translation only adds work: strict and lazy run more kernel code per I/O than dma-direct and
// their DMAs pass the IOTLB, so on the same workload and seed they cannot be faster than off (lazy
// within noise, strict clearly slower), and passthrough, which does no lookup, is off exactly.
// (A lost core wake-up once made strict and lazy beat off on this config.)
TEST(Modes, TranslationNeverSpeedsUp) {
    TempDir tmp;
    std::map<std::string, json> s;
    for (const auto& m : kModes)
        s[m] = run_mode(tmp, "small_4k.yaml", m, {"--duration", "5ms"});
    const auto iops = [&](const std::string& m) { return num(s[m], "workloads.randread.iops"); };
    const auto cpu = [&](const std::string& m) { return num(s[m], "cpu.ns_per_io"); };
    const auto p50 = [&](const std::string& m) {
        return num(s[m], "workloads.randread.latency_ns.p50");
    };
    EXPECT_LT(iops("strict"), iops("off"));
    EXPECT_GT(p50("strict"), p50("off"));
    EXPECT_GT(cpu("strict"), cpu("lazy"));
    EXPECT_LE(iops("lazy"), 1.02 * iops("off"));
    EXPECT_GT(cpu("lazy"), cpu("off"));
    EXPECT_EQ(at(s["passthrough"], "workloads"), at(s["off"], "workloads"));
    EXPECT_EQ(at(s["passthrough"], "cpu"), at(s["off"], "cpu"));
}

// fio's libaio engine gets completions with io_getevents, a syscall that returns at most iodepth
// events; events that complete after it returned need another call. So a job reaping `completed`
// I/Os in the window makes at least (completed - iodepth) / iodepth calls in it (the first call
// may predate the window), also when its core is saturated (one job of iodepth 32 on one core).
TEST(Workload, EveryReapedEventComesFromAnIoGetevents) {
    TempDir tmp;
    const json s =
        run_mode(tmp, "small_4k.yaml", "off",
                 {"--set", "workloads.randread.jobs=1", "--set", "workloads.randread.iodepth=32"});
    const std::uint64_t completed = count(s, "workloads.randread.completed");
    ASSERT_GT(completed, 64u);
    EXPECT_GE(calls(s, "__x64_sys_io_getevents"), (completed - 32) / 32)
        << "completed " << completed << ", core 0 utilization " << num(s, "cpu.core.0.utilization");
}

// ------------------------------------------------------------------ dma-direct: off, passthrough

class DmaDirect : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Modes, DmaDirect, ::testing::Values("off", "passthrough"),
                         [](const auto& info) { return info.param; });

// §1.1-1.2: dma-direct, so no iommu-dma function runs and nothing is translated or invalidated.
// Passthrough DMA goes through the IOMMU's identity domain; with off the IOMMU is not in the path.
TEST_P(DmaDirect, NoIommuWorkAndDmaDirectOnly) {
    TempDir tmp;
    for (const char* cfg : {"small_4k.yaml", "large_io.yaml"}) {
        SCOPED_TRACE(cfg);
        const json s = run_mode(tmp, cfg, GetParam());
        EXPECT_EQ(count(s, "iommu.iotlb.lookups"), 0u);
        EXPECT_EQ(count(s, "iommu.translations"), 0u);
        EXPECT_EQ(count(s, "iommu.walk.walks"), 0u);
        EXPECT_EQ(count(s, "iommu.walk.memory_reads"), 0u);
        EXPECT_EQ(count(s, "iommu.invalidation.commands"), 0u);
        EXPECT_EQ(count(s, "iommu.invalidation.completion_waits"), 0u);
        EXPECT_EQ(count(s, "kernel.flush_queue.flushes"), 0u);
        EXPECT_EQ(count(s, "kernel.dma.ptes_mapped"), 0u);
        for (const auto& fn : kIommuDmaFunctions) {
            EXPECT_EQ(calls(s, fn), 0u) << fn;
            EXPECT_EQ(num(s, "cpu.busy_ns_by_function." + fn), 0.0) << fn;
        }
        EXPECT_GT(calls(s, "dma_direct_map_page"), 0u);
        EXPECT_GT(calls(s, "dma_direct_unmap_page"), 0u);
        if (GetParam() == "passthrough")
            EXPECT_GT(count(s, "iommu.passthrough"), 0u);
        else
            EXPECT_EQ(count(s, "iommu.passthrough"), 0u);
    }
}

// ------------------------------------------------------------------ strict

// §1.3: every unmap clears its PTEs, then one INVALIDATE_IOMMU_PAGES and one COMPLETION_WAIT
// whose semaphore the core spins on (wait_on_sem) before the IOVA is freed.
TEST(Strict, OneInvalidationAndCompletionWaitPerUnmap) {
    TempDir tmp;
    const json s = run_mode(tmp, "small_4k.yaml", "strict");
    const std::uint64_t unmaps = count(s, "kernel.dma.unmap_calls");
    ASSERT_GT(unmaps, 0u);
    EXPECT_EQ(count(s, "iommu.invalidation.completion_waits"), unmaps);
    EXPECT_EQ(count(s, "iommu.invalidation.invalidate_pages"), unmaps);
    EXPECT_EQ(count(s, "iommu.invalidation.invalidate_all"), 0u);
    EXPECT_EQ(count(s, "iommu.invalidation.commands"), 2 * unmaps);
    EXPECT_EQ(calls(s, "amd_iommu_iotlb_sync"), unmaps);
    EXPECT_GT(num(s, "iommu.invalidation.wait_ns"), 0.0);
    EXPECT_GT(num(s, "cpu.busy_ns_by_function.wait_on_sem"), 0.0);
    // Both measure the polling over the same window (both reset at the end of warm-up), and
    // every wait is whole udelay(1) polls.
    EXPECT_EQ(count(s, "iommu.invalidation.wait_ns"),
              count(s, "cpu.busy_ns_by_function.wait_on_sem"));
    EXPECT_EQ(count(s, "iommu.invalidation.wait_ns") % 1000, 0u);
    EXPECT_EQ(count(s, "kernel.flush_queue.flushes"), 0u);
    EXPECT_EQ(calls(s, "queue_iova"), 0u);
    // 4 KiB within one page: nvme_setup_prp_simple -> map_page; unmap_page walks for the phys.
    EXPECT_EQ(count(s, "kernel.dma.map_sg_calls"), 0u);
    EXPECT_EQ(calls(s, "iommu_iova_to_phys"), unmaps);
    EXPECT_GT(count(s, "iommu.iotlb.lookups"), 0u);
    EXPECT_EQ(count(s, "iommu.passthrough"), 0u);
    EXPECT_EQ(calls(s, "dma_direct_map_page"), 0u);
}

// §6.1: a 128 KiB read of scattered pages is one map_sg and one unmap_sg, which does not call
// iommu_iova_to_phys, and still one completion wait per unmap.
TEST(Strict, LargeReadsTakeTheMapSgPath) {
    TempDir tmp;
    const json s =
        run_mode(tmp, "large_io.yaml", "strict", {"--set", "workloads.seqread.bs=128KiB"});
    const std::uint64_t unmaps = count(s, "kernel.dma.unmap_calls");
    ASSERT_GT(unmaps, 0u);
    EXPECT_GT(count(s, "kernel.dma.map_sg_calls"), 0u);
    EXPECT_EQ(count(s, "kernel.dma.map_sg_calls"), count(s, "kernel.dma.map_calls"));
    EXPECT_EQ(count(s, "kernel.dma.unmap_sg_calls"), unmaps);
    EXPECT_EQ(calls(s, "iommu_iova_to_phys"), 0u);
    EXPECT_EQ(calls(s, "iommu_dma_map_page"), 0u);
    EXPECT_EQ(count(s, "iommu.invalidation.completion_waits"), unmaps);
    EXPECT_EQ(count(s, "iommu.invalidation.invalidate_pages"), unmaps);
    // 128 KiB is the request limit under an IOMMU DMA domain: one request per I/O.
    EXPECT_EQ(count(s, "workloads.seqread.requests"), count(s, "workloads.seqread.completed"));
}

// §6.1 max transfer size: dma_opt_mapping_size = iova_rcache_range = 128 KiB under iommu-dma,
// 8 MiB (NVME_MAX_KB_SZ) under dma-direct. With a warm-up the closed loop submits exactly one I/O
// per completion inside the window, so requests = completed x requests per I/O.
TEST(RequestSize, SplitAt128KiBOnlyUnderIommuDma) {
    TempDir tmp;
    const std::vector<std::string> bs256{"--set", "workloads.seqread.bs=256KiB"};
    for (const char* mode : {"off", "passthrough"}) {
        SCOPED_TRACE(mode);
        const json s = run_mode(tmp, "large_io.yaml", mode, bs256);
        ASSERT_GT(count(s, "workloads.seqread.completed"), 0u);
        EXPECT_EQ(count(s, "workloads.seqread.requests"), count(s, "workloads.seqread.completed"));
    }
    for (const char* mode : {"strict", "lazy"}) {
        SCOPED_TRACE(mode);
        const json s = run_mode(tmp, "large_io.yaml", mode, bs256);
        ASSERT_GT(count(s, "workloads.seqread.completed"), 0u);
        EXPECT_EQ(count(s, "workloads.seqread.requests"),
                  2 * count(s, "workloads.seqread.completed"));
        EXPECT_EQ(count(s, "kernel.dma.map_calls"), count(s, "workloads.seqread.requests"));
    }
}

// ------------------------------------------------------------------ lazy

// §1.4: no per-unmap invalidation; each flush (full queue or timer) is one domain-wide
// invalidation and one completion wait.
void expect_lazy_accounting(const json& s) {
    const std::uint64_t flushes = count(s, "kernel.flush_queue.flushes");
    EXPECT_EQ(count(s, "iommu.invalidation.invalidate_pages"), 0u);
    EXPECT_EQ(calls(s, "amd_iommu_iotlb_sync"), 0u);
    EXPECT_EQ(flushes, count(s, "kernel.flush_queue.flushes_full") +
                           count(s, "kernel.flush_queue.flushes_timer"));
    EXPECT_EQ(count(s, "iommu.invalidation.completion_waits"), flushes);
    EXPECT_EQ(count(s, "iommu.invalidation.invalidate_all"), flushes);
    EXPECT_EQ(calls(s, "amd_iommu_flush_iotlb_all"), flushes);
    EXPECT_EQ(calls(s, "fq_flush_timeout"), count(s, "kernel.flush_queue.flushes_timer"));
    EXPECT_EQ(count(s, "kernel.flush_queue.entries"), count(s, "kernel.dma.unmap_calls"));
    EXPECT_EQ(calls(s, "queue_iova"), count(s, "kernel.dma.unmap_calls"));
}

// Two queues, with a warm-up. A full flush on CPU c happens only when c's ring still holds 255
// entries after freeing everything a finished flush released, i.e. 255 entries c queued since the
// last flush (of any CPU). So within the window c has at most floor((carry_c + u_c) / 255) full
// flushes, where carry_c <= 254 is what c's ring held when the warm-up ended; summed over the
// cores that is at most floor(unmaps / 255) + cores.
TEST(Lazy, FlushAccountingWithTwoQueues) {
    TempDir tmp;
    const json s = run_mode(tmp, "small_4k.yaml", "lazy");
    expect_lazy_accounting(s);
    const std::uint64_t unmaps = count(s, "kernel.dma.unmap_calls");
    ASSERT_GT(unmaps, 255u) << "the config must fill a queue to test the bound";
    EXPECT_GE(count(s, "kernel.flush_queue.flushes_full"), 1u);
    EXPECT_LE(count(s, "kernel.flush_queue.flushes_full"), unmaps / 255 + count(s, "cpu.cores"));
    EXPECT_EQ(count(s, "kernel.flush_queue.flushes_timer"), 0u); // 2 ms < 10 ms timeout
}

// The same without a warm-up (no carry): sum_c floor(u_c / 255) <= floor(unmaps / 255), for any
// number of queues.
TEST(Lazy, FullFlushBoundWithoutWarmup) {
    TempDir tmp;
    const json s = run_mode(tmp, "small_4k.yaml", "lazy", {"--set", "sim.warmup=0ps"});
    expect_lazy_accounting(s);
    const std::uint64_t unmaps = count(s, "kernel.dma.unmap_calls");
    ASSERT_GT(unmaps, 255u);
    EXPECT_LE(count(s, "kernel.flush_queue.flushes_full"), unmaps / 255);
}

// One job on core 0, no warm-up, no timer flush in 3 ms: the ring fills after 255 unmaps and the
// 256th flushes synchronously (queue_iova's fq_full), then frees all 255. So the count is exact.
TEST(Lazy, OneQueueFlushesEvery255Unmaps) {
    TempDir tmp;
    const json s = run_stats(tmp / "run", {config("lazy_one_queue.yaml")});
    expect_lazy_accounting(s);
    const std::uint64_t unmaps = count(s, "kernel.dma.unmap_calls");
    ASSERT_GT(unmaps, 2 * 255u);
    EXPECT_EQ(count(s, "kernel.flush_queue.flushes_timer"), 0u);
    EXPECT_EQ(count(s, "kernel.flush_queue.flushes_full"), (unmaps - 1) / 255);
    EXPECT_LE(count(s, "kernel.flush_queue.flushes_full"), unmaps / 255);
    EXPECT_EQ(count(s, "kernel.flush_queue.freed"),
              255 * count(s, "kernel.flush_queue.flushes_full"));
}

// One I/O in flight for 25 ms, timeout 10 ms. Each I/O takes at least the 45 us flash read, so
// fewer than 223 unmaps fit between two flushes: the 255-entry queue never fills and only the
// timer flushes. It is armed by the first unmap (< 0.1 ms in) and re-armed by the first unmap after
// it fires, so it fires twice in 25 ms (at about 10 and 20 ms), never three times.
TEST(Lazy, TimerFlushesALightlyLoadedQueue) {
    TempDir tmp;
    const json s = run_stats(tmp / "run", {config("lazy_timer.yaml")});
    expect_lazy_accounting(s);
    EXPECT_EQ(count(s, "kernel.flush_queue.flushes_full"), 0u);
    EXPECT_EQ(count(s, "kernel.flush_queue.flushes_timer"), 2u);
}

// ------------------------------------------------------------------ the headline comparison

// configs/nvme_iommu.yaml with its compare section, shortened to 5 ms: the four variants in their
// folders, comparison.csv, and the shape of the result (published-figures.md): passthrough costs
// nothing, lazy little, strict a lot of IOPS and CPU per I/O.
TEST(Headline, CompareShape) {
    TempDir tmp;
    const SimRun r = run_sim({source_path("configs/nvme_iommu.yaml"), "--duration", "5ms", "-o",
                              tmp / "cmp", "-j2", "-q"});
    ASSERT_EQ(r.status, 0) << describe(r);

    std::map<std::string, json> st;
    for (const auto& m : kModes) {
        SCOPED_TRACE(m);
        const fs::path d = tmp.path() / "cmp" / m;
        for (const char* f : {"stats.json", "stats.csv", "config.yaml", "manifest.json"})
            EXPECT_TRUE(fs::is_regular_file(d / f)) << (d / f);
        st[m] = read_json(d / "stats.json");
        EXPECT_EQ(at(st[m], "iommu.mode"), m);
        EXPECT_EQ(num(st[m], "sim.simulated_ns"), 5e6);
        const json man = read_json(d / "manifest.json");
        EXPECT_EQ(at(man, "exit_status"), 0);
        EXPECT_EQ(at(man, "seed"), 1);
    }

    // comparison.csv: a header and one row per variant, with the variants' own figures.
    const std::string csv = read_text(tmp.path() / "cmp" / "comparison.csv");
    std::vector<std::vector<std::string>> rows;
    std::istringstream lines(csv);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> cells;
        std::istringstream cs(line);
        for (std::string c; std::getline(cs, c, ',');)
            cells.push_back(c);
        rows.push_back(cells);
    }
    ASSERT_EQ(rows.size(), 5u) << csv;
    const auto& head = rows[0];
    const auto col = [&](const std::string& name) {
        const auto it = std::find(head.begin(), head.end(), name);
        if (it == head.end()) throw std::out_of_range("comparison.csv has no column " + name);
        return static_cast<std::size_t>(it - head.begin());
    };
    for (std::size_t i = 1; i < rows.size(); ++i) {
        const std::string& v = rows[i][col("variant")];
        SCOPED_TRACE("comparison.csv row " + v);
        EXPECT_EQ(v, kModes[i - 1]);
        ASSERT_TRUE(st.count(v));
        EXPECT_EQ(std::stod(rows[i][col("iops")]), num(st[v], "workloads.randread.iops"));
        EXPECT_EQ(std::stod(rows[i][col("bytes_per_s")]),
                  num(st[v], "workloads.randread.bytes_per_s"));
        EXPECT_EQ(std::stod(rows[i][col("latency_p99_ns")]),
                  num(st[v], "workloads.randread.latency_ns.p99"));
        EXPECT_EQ(std::stod(rows[i][col("cpu.ns_per_io")]), num(st[v], "cpu.ns_per_io"));
    }

    const auto iops = [&](const std::string& m) { return num(st[m], "workloads.randread.iops"); };
    const auto cpu = [&](const std::string& m) { return num(st[m], "cpu.ns_per_io"); };
    const double off = iops("off");
    std::ostringstream figures;
    figures << std::fixed << std::setprecision(0);
    figures << "IOPS off " << off << ", passthrough " << iops("passthrough") << ", strict "
            << iops("strict") << ", lazy " << iops("lazy") << "; CPU ns/IO off " << cpu("off")
            << ", passthrough " << cpu("passthrough") << ", strict " << cpu("strict") << ", lazy "
            << cpu("lazy");
    RecordProperty("figures", figures.str());
    std::cout << "[ headline ] " << figures.str() << '\n';

    EXPECT_GT(off, 0.0);
    EXPECT_LE(std::abs(iops("passthrough") - off), 0.05 * off) << figures.str();
    EXPECT_LE(std::abs(iops("lazy") - off), 0.10 * off) << figures.str();
    EXPECT_LT(iops("strict"), 0.85 * off) << figures.str();
    EXPECT_GT(cpu("strict"), 1.3 * cpu("off")) << figures.str();
}

// A run's config.yaml is the fully resolved config: it loads again, is valid, and prints as the
// config it came from (for a plain run and for the variants of a compare run).
TEST(Outputs, WrittenConfigLoadsAgainAndPrintsTheSame) {
    TempDir tmp;
    auto print_config = [](std::vector<std::string> args) {
        args.push_back("--print-config");
        const SimRun r = run_sim(args);
        EXPECT_EQ(r.status, 0) << describe(r);
        return r.out;
    };
    auto check = [&](const std::string& dir, const std::vector<std::string>& origin) {
        SCOPED_TRACE(dir);
        const std::string written = fs::path(dir) / "config.yaml";
        const SimRun v = run_sim({written, "--validate"});
        EXPECT_EQ(v.status, 0) << describe(v);
        const std::string original = print_config(origin);
        EXPECT_FALSE(original.empty());
        EXPECT_EQ(read_text(written), original);
        EXPECT_EQ(print_config({written}), original);
    };

    const std::vector<std::string> plain{config("small_4k.yaml"), "--set",
                                         "platform.iommu.mode=strict", "--seed", "3"};
    run_stats(tmp / "plain", plain);
    check(tmp / "plain", plain);

    const std::string nvme = source_path("configs/nvme_iommu.yaml");
    const SimRun r = run_sim({nvme, "--duration", "1ms", "-o", tmp / "cmp", "-j2", "-q"});
    ASSERT_EQ(r.status, 0) << describe(r);
    for (const auto& m : kModes)
        check(tmp / ("cmp/" + m), {nvme, "--duration", "1ms", "--set", "platform.iommu.mode=" + m});
}

} // namespace
} // namespace simtest

// ------------------------------------------------------------------ PCIe topology
namespace simtest {
namespace {

// The SSD behind a switch with a Gen4 x1 uplink: the uplink caps large reads and carries exactly
// the SSD link's traffic; the other endpoint's link sees nothing; both are one IOMMU group.
TEST(Topology, NarrowUplinkCapsThroughputAndCarriesTheSsdTraffic) {
    TempDir tmp;
    const json s = run_stats(tmp.fresh("x1"), {config("topo_switch.yaml"), "--duration", "10ms"});
    const double x1_wire = 16e9 / 8 * 128 / 130; // Gen4 x1 bytes/s per direction
    const double payload = 256.0 / (256 + 24);   // 256-byte TLPs with 24 bytes of overhead
    const double bw = num(s, "workloads.seqread.bytes_per_s");
    EXPECT_LE(bw, x1_wire);
    EXPECT_GE(bw, 0.95 * x1_wire * payload);
    EXPECT_GE(num(s, "pcie.uplink.up_utilization"), 0.95);
    EXPECT_EQ(count(s, "pcie.uplink.up_bytes"), count(s, "pcie.ssd.up_bytes"));
    EXPECT_EQ(count(s, "pcie.uplink.down_bytes"), count(s, "pcie.ssd.down_bytes"));
    EXPECT_EQ(count(s, "pcie.nic.up_bytes") + count(s, "pcie.nic.down_bytes"), 0u);
    EXPECT_EQ(count(s, "pcie.iommu_group.nvme0"), count(s, "pcie.iommu_group.nic1"));
    // The path: 0 + 250 + 250 ns of links and one switch (150 ns); the x1 uplink is narrowest.
    EXPECT_EQ(num(s, "pcie.path.nvme0.latency_ns"), 650.0);
    EXPECT_EQ(num(s, "pcie.path.nvme0.bytes_per_s"), std::round(x1_wire));
    // A Gen4 x4 uplink is no longer the bottleneck.
    const json x4 = run_stats(tmp.fresh("x4"), {config("topo_switch.yaml"), "--duration", "10ms",
                                                "--set", "platform.pcie.links.uplink.lanes=4"});
    EXPECT_GE(num(x4, "workloads.seqread.bytes_per_s"), 3.5 * bw);
}

// One 4 KiB read at a time crosses the switch four times on its critical path: the doorbell
// (down), the SQE fetch (request up, completion down) and the MSI (up, behind the posted CQE). The
// data and CQE writes are posted and overlap with nothing the I/O waits for.
TEST(Topology, EverySwitchCrossingOnTheCriticalPathAddsTheSwitchLatency) {
    TempDir tmp;
    std::vector<std::string> qd1 = {
        config("topo_switch.yaml"),    "--set", "workloads.seqread.bs=4KiB", "--set",
        "workloads.seqread.iodepth=1", "--set", "workloads.seqread.jobs=1"};
    auto with_sw = [&](const std::string& lat) {
        auto a = qd1;
        a.insert(a.end(), {"--set", "platform.pcie.switch_latency=" + lat});
        return run_stats(tmp.fresh(lat), a);
    };
    const json fast = with_sw("0ns"), slow = with_sw("1us");
    EXPECT_EQ(num(slow, "workloads.seqread.latency_ns.p50") -
                  num(fast, "workloads.seqread.latency_ns.p50"),
              4000.0);
}

} // namespace
} // namespace simtest

namespace simtest {
namespace {

// The SSD and the Wi-Fi NIC behind one switch with a Gen3 x1 uplink: the uplink carries exactly
// the sum of both devices' traffic, and when large NVMe reads fill it, the Wi-Fi RX frames (and,
// by PCIe ordering, the interrupts announcing them) wait behind the NVMe data.
TEST(Topology, DevicesBehindOneSwitchShareTheUplink) {
    TempDir tmp;
    auto run = [&](const std::string& bs, const std::string& qd) {
        return run_stats(tmp.fresh(bs),
                         {config("shared_uplink.yaml"), "--set", "workloads.seqread.bs=" + bs,
                          "--set", "workloads.seqread.iodepth=" + qd});
    };
    const json light = run("4KiB", "1"), heavy = run("128KiB", "8");
    for (const json* s : {&light, &heavy}) {
        EXPECT_EQ(count(*s, "pcie.uplink.up_bytes"),
                  count(*s, "pcie.ssd.up_bytes") + count(*s, "pcie.nic.up_bytes"));
        EXPECT_EQ(count(*s, "pcie.uplink.down_bytes"),
                  count(*s, "pcie.ssd.down_bytes") + count(*s, "pcie.nic.down_bytes"));
        EXPECT_GT(count(*s, "pcie.nic.up_bytes"), 0u);
        EXPECT_EQ(count(*s, "pcie.iommu_group.nvme0"), count(*s, "pcie.iommu_group.wifi0"));
    }
    EXPECT_GE(num(heavy, "pcie.uplink.up_utilization"), 0.95);
    EXPECT_GT(num(heavy, "workloads.wifi_rx.latency_ns.p50"),
              5 * num(light, "workloads.wifi_rx.latency_ns.p50"));
}

} // namespace
} // namespace simtest

// ------------------------------------------------------------------ --stacks
namespace simtest {
namespace {

// A bpftrace map file: each stack (innermost first, offsets dropped) with its count.
using Stacks = std::map<std::vector<std::string>, std::uint64_t>;
Stacks parse_stacks(const std::string& text) {
    Stacks out;
    std::istringstream in(text);
    std::string line;
    std::vector<std::string> frames;
    bool open = false;
    while (std::getline(in, line)) {
        if (line == "@[") {
            open = true;
            frames.clear();
        } else if (open && line.rfind("]: ", 0) == 0) {
            out[frames] += std::stoull(line.substr(3));
            open = false;
        } else if (open) {
            const auto b = line.find_first_not_of(' ');
            frames.push_back(line.substr(b, line.rfind('+') - b));
        }
    }
    return out;
}
std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream text;
    text << f.rdbuf();
    return text.str();
}
std::uint64_t total(const Stacks& st) {
    std::uint64_t n = 0;
    for (const auto& kv : st)
        n += kv.second;
    return n;
}
// The reference capture's stacks (traces/README.md), innermost first.
Stacks capture() {
    return parse_stacks(read_file(source_path("traces/amd-host-iommu_iova_to_phys.bt.txt")));
}
// The capture's stack whose frame next to the probe is `second`.
std::vector<std::string> capture_stack(const std::string& second, const std::string& third = "") {
    for (const auto& kv : capture())
        if (kv.first.at(1) == second && (third.empty() || kv.first.at(2) == third)) return kv.first;
    throw std::runtime_error("no capture stack through " + second);
}
// The NVMe completion IRQ's frames, from iommu_iova_to_phys down to asm_common_interrupt, as in
// the capture (its first 10 frames).
std::vector<std::string> nvme_irq_frames() {
    auto v = capture_stack("iommu_dma_unmap_page", "nvme_pci_complete_batch");
    v.resize(10);
    EXPECT_EQ(v.back(), "asm_common_interrupt");
    return v;
}

// The kernel stacks into iommu_iova_to_phys: under strict, one per NVMe unmap_page, all from the
// completion IRQ with the capture's IRQ frames; an IRQ that interrupted the job's thread carries
// the thread's syscall frames below them (on an idle core, none); under dma-direct none (the
// function is not called).
TEST(Stacks, OnePerUnmapFromTheCompletionIrqAndNoneUnderDmaDirect) {
    TempDir tmp;
    const auto irq = nvme_irq_frames();
    for (const std::string mode : {"strict", "off"}) {
        SCOPED_TRACE(mode);
        const std::string file = (tmp.path() / (mode + ".bt.txt")).string();
        const json s = run_stats(tmp.fresh(mode),
                                 {config("small_4k.yaml"), "--set", "platform.iommu.mode=" + mode,
                                  "--set", "sim.warmup=0ps", "--stacks", file});
        const std::string text = read_file(file);
        if (mode == "off") {
            EXPECT_EQ(text, "");
            continue;
        }
        const Stacks st = parse_stacks(text);
        // With no warm-up, end.* covers the whole run, as the stacks do.
        EXPECT_EQ(total(st), count(s, "end.dma_unmap_calls"));
        EXPECT_GT(count(s, "end.dma_unmap_calls"), 100u);
        std::uint64_t idle = 0, interrupted = 0;
        for (const auto& [frames, n] : st) {
            ASSERT_GE(frames.size(), irq.size());
            EXPECT_TRUE(std::equal(irq.begin(), irq.end(), frames.begin())) << text;
            if (frames.size() == irq.size()) {
                idle += n;
                continue;
            }
            // The thread's frames: fio's syscalls, outermost first (entry_SYSCALL_64 alone while
            // its own cost is charged, before it calls do_syscall_64).
            interrupted += n;
            const std::size_t depth = frames.size() - irq.size();
            EXPECT_EQ(frames.back(), "entry_SYSCALL_64_after_hwframe");
            if (depth >= 2) {
                EXPECT_EQ(frames[frames.size() - 2], "do_syscall_64");
            }
            if (depth >= 3) {
                const std::string sys = frames[frames.size() - 3];
                EXPECT_TRUE(sys == "__x64_sys_io_submit" || sys == "__x64_sys_io_getevents") << sys;
            }
        }
        // 2 jobs x iodepth 16 keep the cores busy: some completions land in a submission.
        EXPECT_GT(interrupted, 0u);
        EXPECT_EQ(idle + interrupted, count(s, "end.dma_unmap_calls"));
    }
}

// VFIO_IOMMU_UNMAP_DMA of a VM's memory: one stack per leaf looked up, through vfio_unmap_unpin,
// even though the teardown runs over several work items (the ioctl resumed); the capture's
// frames exactly (vfio_dma_do_unmap inlined, __x64_sys_ioctl and do_syscall_64 present).
TEST(Stacks, VfioUnmapStacksCarryTheIoctlFramesAcrossItsContinuations) {
    TempDir tmp;
    const std::string file = (tmp.path() / "vm.bt.txt").string();
    const json s = run_stats(tmp.fresh("vm"), {source_path("configs/vfio_vm.yaml"), "--set",
                                               "workloads.guest.hugepage_fraction=0.5",
                                               "--no-compare", "--stacks", file});
    EXPECT_EQ(read_file(file), "@[\n"
                               "    iommu_iova_to_phys+0\n"
                               "    vfio_unmap_unpin+0\n"
                               "    vfio_remove_dma+0\n"
                               "    vfio_iommu_type1_ioctl+0\n"
                               "    __x64_sys_ioctl+0\n"
                               "    do_syscall_64+0\n"
                               "    entry_SYSCALL_64_after_hwframe+0\n"
                               "]: " +
                                   std::to_string(count(s, "vfio.iova_to_phys_calls")) + "\n");
    EXPECT_EQ(parse_stacks(read_file(file)).begin()->first, capture_stack("vfio_unmap_unpin"));
    EXPECT_GT(count(s, "vfio.iova_to_phys_calls"), 100000u);
}

// The capture's scenario in one run (configs/capture_amd_host.yaml): its three stacks frame for
// frame, each from its mechanism. VFIO: one per leaf torn down (3307 x 2 MiB). Wi-Fi: one per TX
// buffer unmapped in the napi/phy0 kthread (one per packet sent). NVMe (4 KiB random reads at
// iodepth 4): one per request unmapped, from the completion IRQ, over whatever the IRQ's core was
// doing at its arrival: nothing (idle core, or fio in user space), io_getevents, or a submission;
// among them the capture's, the IRQ landing while the thread was in blk_mq_flush_plug_list (its own
// cost since it walks and dispatches the plug). tools/compare-stacks says `covers`.
TEST(Stacks, TheCaptureScenarioGivesTheCapturesStacksFromTheMechanisms) {
    TempDir tmp;
    const std::string a = (tmp.path() / "a.bt.txt").string();
    const json s =
        run_stats(tmp.fresh("host"), {source_path("configs/capture_amd_host.yaml"), "--stacks", a});
    const Stacks host = parse_stacks(read_file(a));

    // VFIO: one stack per leaf torn down, by the VM's process (its device, dmabench0, is bound to
    // vfio-pci; the host's NVMe and Wi-Fi drivers run beside it).
    const auto vfio = capture_stack("vfio_unmap_unpin");
    ASSERT_TRUE(host.count(vfio)) << read_file(a);
    EXPECT_EQ(host.at(vfio), count(s, "vfio.leaves_unmapped"));
    EXPECT_EQ(host.at(vfio), 3307u);
    EXPECT_EQ(at(s, "vfio.device"), "dmabench0");

    // Wi-Fi: one per TX buffer unmapped in mt7921_mac_tx_free, in the napi/phy0 kthread, one per
    // packet sent (the drain frees them all: end.*).
    const auto wifi = capture_stack("iommu_dma_unmap_page", "mt76_connac_txp_skb_unmap");
    ASSERT_TRUE(host.count(wifi)) << read_file(a);
    EXPECT_EQ(host.at(wifi), count(s, "end.wifi0_tx_packets"));
    EXPECT_EQ(host.at(wifi), 3555u);

    // NVMe: every other stack has the capture's IRQ frames down to asm_common_interrupt; they sum
    // to the NVMe unmaps (every other unmap of the run; a 4 KiB read is one dma_unmap_page, and
    // the drain completes every request submitted).
    const auto irq = nvme_irq_frames();
    const auto flush = capture_stack("iommu_dma_unmap_page", "nvme_pci_complete_batch");
    const std::uint64_t nvme_unmaps =
        count(s, "end.dma_unmap_calls") - count(s, "end.wifi0_tx_packets");
    EXPECT_EQ(nvme_unmaps, count(s, "kernel.nvme.submitted"));
    EXPECT_EQ(count(s, "end.inflight_ios"), 0u);
    std::uint64_t nvme = 0, idle = 0, interrupted = 0;
    std::set<std::string> contexts; // the innermost interrupted frame
    for (const auto& [frames, n] : host) {
        if (frames == wifi || frames == vfio) continue;
        ASSERT_GE(frames.size(), irq.size()) << read_file(a);
        EXPECT_TRUE(std::equal(irq.begin(), irq.end(), frames.begin())) << read_file(a);
        nvme += n;
        if (frames.size() == irq.size()) {
            idle += n;
        } else {
            interrupted += n;
            contexts.insert(frames[irq.size()]);
            EXPECT_EQ(frames.back(), "entry_SYSCALL_64_after_hwframe");
        }
    }
    EXPECT_EQ(nvme, nvme_unmaps);
    EXPECT_GT(nvme, 1000u); // the reads run the whole 71.1 ms
    // The capture's: completions that arrived while the thread was in blk_mq_flush_plug_list
    // (after blk_mq_submit_bio, before nvme_queue_rq). Most land on an idle core (the thread
    // sleeps in io_getevents, or runs fio in user space), some in the rest of a submission.
    ASSERT_TRUE(host.count(flush)) << read_file(a);
    EXPECT_GT(host.at(flush), 0u);
    EXPECT_LT(host.at(flush), interrupted);
    EXPECT_GT(idle, interrupted);
    for (const char* c : {"blk_mq_flush_plug_list", "blk_mq_submit_bio", "nvme_queue_rq",
                          "__x64_sys_io_submit", "__x64_sys_io_getevents"})
        EXPECT_TRUE(contexts.count(c)) << c << "\n" << read_file(a);
    // The flush is a costed call, once per request: 400 of the submission's 1500 cycles at 3 GHz
    // (blk_mq_submit_bio keeps 1100), so the two together cost what blk_mq_submit_bio alone did.
    const std::uint64_t calls = count(s, "cpu.calls_by_function.blk_mq_flush_plug_list");
    EXPECT_EQ(calls, count(s, "kernel.nvme.submitted"));
    EXPECT_EQ(calls, count(s, "cpu.calls_by_function.blk_mq_submit_bio"));
    const double flush_ns = num(s, "cpu.busy_ns_by_function.blk_mq_flush_plug_list");
    const double bio_ns = num(s, "cpu.busy_ns_by_function.blk_mq_submit_bio");
    EXPECT_NEAR(flush_ns, calls * 133.333, 1.0); // 400 cycles: 133333 ps (rounded)
    EXPECT_NEAR(flush_ns + bio_ns, calls * 500.0, 1.0);
    EXPECT_GT(num(s, "cpu.inclusive_ns_by_function.blk_mq_flush_plug_list"),
              flush_ns); // nvme_queue_rq and the mapping under it

    // tools/compare-stacks: every stack of the capture is in the sim's, frame for frame; the sim's
    // other NVMe stacks are listed with the context they interrupted.
    const int rc = std::system(("/usr/bin/python3 " + source_path("tools/compare-stacks") + " " +
                                a + " " + source_path("traces/amd-host-iommu_iova_to_phys.bt.txt") +
                                " > " + (tmp.path() / "cmp.txt").string())
                                   .c_str());
    const std::string cmp = read_file((tmp.path() / "cmp.txt").string());
    EXPECT_EQ(WEXITSTATUS(rc), 0) << cmp;
    EXPECT_NE(cmp.find("verdict: covers (" + std::to_string(host.size() - 3) + " only in SIM)"),
              std::string::npos)
        << cmp;
    EXPECT_EQ(cmp.find("only in REAL"), std::string::npos) << cmp;
    EXPECT_NE(cmp.find("near miss: agrees with a REAL stack for 10 frames; frame 11: SIM (end of "
                       "stack), REAL blk_mq_flush_plug_list"),
              std::string::npos)
        << cmp;
    EXPECT_NE(cmp.find("frame 11: SIM blk_mq_submit_bio, REAL blk_mq_flush_plug_list"),
              std::string::npos)
        << cmp;
}

// Wi-Fi TX free under strict: one stack per TX buffer unmapped, in the NAPI poll: with threaded
// NAPI the capture's kthread stack; without, the same driver frames under the softirq run at the
// IRQ's exit (net_rx_action <- __do_softirq <- irq_exit_rcu <- common_interrupt).
TEST(Stacks, WifiTxFreeInThreadedNapiOrInTheSoftirqAtIrqExit) {
    TempDir tmp;
    const auto threaded = capture_stack("iommu_dma_unmap_page", "mt76_connac_txp_skb_unmap");
    for (const std::string t : {"true", "false"}) {
        SCOPED_TRACE("threaded_napi " + t);
        const std::string file = (tmp.path() / (t + ".bt.txt")).string();
        const json s = run_stats(tmp.fresh(t),
                                 {config("wifi_tx.yaml"), "--set", "platform.iommu.mode=strict",
                                  "--set", "platform.wifi.threaded_napi=" + t, "--stacks", file});
        const Stacks st = parse_stacks(read_file(file));
        std::vector<std::string> want = threaded;
        if (t == "false") {
            want.resize(9); // ... mt7921_poll_rx, __napi_poll
            for (const char* f : {"net_rx_action", "__do_softirq", "irq_exit_rcu",
                                  "common_interrupt", "asm_common_interrupt"})
                want.push_back(f);
        }
        ASSERT_EQ(st.size(), 1u) << read_file(file);
        EXPECT_EQ(st.begin()->first, want);
        // The Wi-Fi's only per-packet unmaps (the page_pool's RX pages stay mapped).
        EXPECT_EQ(st.begin()->second, count(s, "end.dma_unmap_calls"));
        EXPECT_GT(st.begin()->second, 100u);
    }
}

// --stacks-probe all: a stack per leaf call; their total is the calls of the functions that
// call nothing in the model (nvme_submit_cmd, the doorbell write's function, is one: one per
// request submitted).
TEST(Stacks, AllLeavesCountsEveryLeafCall) {
    TempDir tmp;
    const std::string file = (tmp.path() / "all.bt.txt").string();
    const json s = run_stats(
        tmp.fresh("all"), {config("small_4k.yaml"), "--set", "platform.iommu.mode=strict", "--set",
                           "sim.warmup=0ps", "--stacks", file, "--stacks-probe", "all"});
    const Stacks st = parse_stacks(read_file(file));
    std::uint64_t submit = 0, probe = 0;
    for (const auto& [frames, n] : st) {
        if (frames.front() == "nvme_submit_cmd") submit += n;
        if (frames.front() == "iommu_iova_to_phys") probe += n;
        // no user-space frame, and entry glue is never a leaf
        for (const auto& f : frames)
            EXPECT_TRUE(f != "fio" && f != "vfio_dma_do_unmap") << f;
        EXPECT_NE(frames.front(), "do_syscall_64");
    }
    EXPECT_EQ(submit, calls(s, "nvme_submit_cmd"));
    EXPECT_EQ(probe, count(s, "end.dma_unmap_calls")); // the drain included, as the stacks
    EXPECT_GT(total(st), submit + probe);
}

// The summary ranks kernel functions by exclusive time and shows the inclusive time beside it.
TEST(Summary, TopFunctionsShowExclusiveAndInclusiveTimePerIo) {
    TempDir tmp;
    const std::string dir = tmp.fresh("sum");
    const SimRun r =
        run_sim({config("small_4k.yaml"), "--set", "platform.iommu.mode=strict", "-o", dir});
    ASSERT_EQ(r.status, 0) << describe(r);
    const json s = read_json(fs::path(dir) / "stats.json");
    const auto at = r.out.find("Top kernel functions, by exclusive CPU time (per I/O):");
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_NE(r.out.find("excl ns/IO   incl ns/IO   calls/IO   % CPU", at), std::string::npos)
        << r.out;
    // A row: function, exclusive, inclusive (>= exclusive), calls per I/O. iommu_dma_unmap_page
    // includes the strict invalidation it waits for: its inclusive time is above its own.
    std::istringstream rows(r.out.substr(at));
    std::string line;
    std::getline(rows, line);
    std::getline(rows, line);
    unsigned n = 0;
    const double ios = num(s, "workloads.randread.completed");
    while (std::getline(rows, line) && line.rfind("  ", 0) == 0) {
        std::istringstream f(line);
        std::string fn;
        double excl = 0, incl = 0, calls_per_io = 0;
        f >> fn >> excl >> incl >> calls_per_io;
        ++n;
        EXPECT_GE(incl, excl) << line;
        EXPECT_NEAR(excl, num(s, "cpu.busy_ns_by_function." + fn) / ios, 0.5) << line;
        EXPECT_NEAR(incl, num(s, "cpu.inclusive_ns_by_function." + fn) / ios, 0.5) << line;
        EXPECT_NEAR(calls_per_io, num(s, "cpu.calls_by_function." + fn) / ios, 0.005) << line;
        EXPECT_GT(excl, 0) << "glue with no time of its own is not ranked: " << line;
    }
    EXPECT_EQ(n, 10u) << r.out;
}

} // namespace
} // namespace simtest
