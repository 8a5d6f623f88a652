// End-to-end: the DMA benchmark engine (models/dmabench) and the hardware-style IOMMU counters
// through the real `sim` program. The IOTLB's reach shows in the engine's bandwidth (flat while
// the window fits, lower once reads miss and walk); the counters' arithmetic holds in every mode
// (lookups = hits + misses, walk memory reads = the levels the walk caches did not serve,
// per-device counters summing to the IOMMU's, each PMU event equal to the model quantity the
// README maps it to); a rogue engine runs to the end and counts its errors.
#include "tests/sim/sim_process.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

json run_bench(const TempDir& tmp, const std::vector<std::string>& sets) {
    std::vector<std::string> args{config("dmabench.yaml")};
    for (const auto& s : sets)
        args.insert(args.end(), {"--set", s});
    return run_stats(tmp.fresh("run"), args);
}

const std::string kW = "workloads.bench.";

} // namespace

// 64 KiB and 256 KiB (16 and 64 pages) fit the 256-entry IOTLB: no misses after the warm-up and
// the same bandwidth. 16 MiB and 64 MiB are 16 and 64 times its reach: nearly every read misses
// and walks (1 - reach/window of them), and the bandwidth falls.
TEST(DmabenchE2e, BandwidthFlatWhileTheWindowFitsTheIotlbLowerAfter) {
    TempDir tmp;
    std::vector<json> s;
    for (const char* w : {"64KiB", "256KiB", "16MiB", "64MiB"})
        s.push_back(run_bench(tmp, {"workloads.bench.window=" + std::string(w)}));
    const double bw64k = num(s[0], kW + "bytes_per_s"), bw256k = num(s[1], kW + "bytes_per_s");
    ASSERT_GT(bw64k, 0);
    EXPECT_NEAR(bw256k / bw64k, 1.0, 0.03);
    EXPECT_LT(num(s[0], kW + "iotlb.misses_per_transfer"), 0.001);
    EXPECT_LT(num(s[1], kW + "iotlb.misses_per_transfer"), 0.001);
    EXPECT_GT(num(s[2], kW + "iotlb.misses_per_transfer"), 0.9);
    EXPECT_GT(num(s[3], kW + "iotlb.misses_per_transfer"), 0.95);
    EXPECT_LT(num(s[2], kW + "bytes_per_s"), 0.9 * bw64k);
    EXPECT_LE(num(s[3], kW + "bytes_per_s"), num(s[2], kW + "bytes_per_s") * 1.01);
    // A miss costs latency: the median read is slower once reads walk.
    EXPECT_GT(num(s[3], kW + "latency_ns.p50"), num(s[0], kW + "latency_ns.p50"));
}

// With 2 MiB pages the reach is 512 times larger: a 64 MiB window (32 pages) fits.
TEST(DmabenchE2e, TwoMiBPagesKeepA64MiBWindowInReach) {
    TempDir tmp;
    const json small = run_bench(tmp, {"workloads.bench.window=64KiB"});
    const json big =
        run_bench(tmp, {"workloads.bench.window=64MiB", "platform.dmabench.page_size=2MiB"});
    EXPECT_LT(num(big, kW + "iotlb.misses_per_transfer"), 0.001);
    EXPECT_NEAR(num(big, kW + "bytes_per_s") / num(small, kW + "bytes_per_s"), 1.0, 0.03);
    EXPECT_EQ(count(big, "devices.dmabench0.buffer_leaves"), 32u);
    EXPECT_EQ(at(big, "devices.dmabench0.page_size"), "2MiB");
}

// The counters' arithmetic, in every mode, with two devices sharing the IOMMU, 4 KiB and 2 MiB
// leaves, walks and invalidations.
TEST(DmabenchE2e, CounterArithmeticInEveryMode) {
    TempDir tmp;
    for (const char* mode : {"off", "passthrough", "strict", "lazy"}) {
        for (const char* page : {"4KiB", "2MiB"}) {
            SCOPED_TRACE(std::string(mode) + " " + page);
            // Windows beyond the IOTLB's reach for either page size: misses, walks and fills.
            const bool huge = std::string(page) == "2MiB";
            const json s = run_bench(
                tmp, {std::string("platform.iommu.mode=") + mode,
                      std::string("platform.dmabench.page_size=") + page,
                      huge ? "workloads.bench.window=2GiB" : "workloads.bench.window=16MiB"});
            const auto c = [&s](const std::string& k) { return count(s, k); };
            // IOTLB
            EXPECT_EQ(c("iommu.iotlb.lookups"), c("iommu.iotlb.hits") + c("iommu.iotlb.misses"));
            EXPECT_EQ(c("iommu.iotlb.hits"), c("iommu.pmu.hits_4k") + c("iommu.pmu.hits_2m"));
            EXPECT_EQ(c("iommu.faults"), 0u);
            // Without faults every miss walks and fills.
            EXPECT_EQ(c("iommu.walk.walks"), c("iommu.iotlb.misses"));
            EXPECT_EQ(c("iommu.pmu.fills"), c("iommu.walk.walks"));
            // Walk reads: every level of each walk (4 to a 4 KiB leaf, 3 to a 2 MiB one) minus
            // the levels a walk-cache hit skipped (a hit at depth d skips d + 1 reads).
            const std::uint64_t levels =
                4 * (c("iommu.pmu.fills") - c("iommu.pmu.fills_2m")) + 3 * c("iommu.pmu.fills_2m");
            const std::uint64_t skipped = 1 * c("iommu.walk.cache.pml4e.hits") +
                                          2 * c("iommu.walk.cache.pdpte.hits") +
                                          3 * c("iommu.walk.cache.pde.hits");
            EXPECT_EQ(c("iommu.walk.memory_reads"), levels - skipped);
            // Per device: the engine, nvme0 and `other` sum to the IOMMU's totals.
            for (const char* k : {"translations", "passthrough", "lookups", "hits", "misses",
                                  "walks", "walk_reads", "faults"}) {
                std::uint64_t sum = 0;
                for (const char* d : {"nvme0", "dmabench0", "other"})
                    sum += c("iommu.pmu.by_device." + std::string(d) + "." + k);
                const std::string total = std::string(k) == "translations"  ? "iommu.translations"
                                          : std::string(k) == "passthrough" ? "iommu.passthrough"
                                          : std::string(k) == "lookups"     ? "iommu.iotlb.lookups"
                                          : std::string(k) == "hits"        ? "iommu.iotlb.hits"
                                          : std::string(k) == "misses"      ? "iommu.iotlb.misses"
                                          : std::string(k) == "walks"       ? "iommu.walk.walks"
                                          : std::string(k) == "walk_reads"
                                              ? "iommu.walk.memory_reads"
                                              : "iommu.faults";
                EXPECT_EQ(sum, c(total)) << k;
            }
            EXPECT_EQ(c("iommu.pmu.by_device.other.translations"), 0u);
            EXPECT_EQ(c(kW + "iotlb.misses"), c("iommu.pmu.by_device.dmabench0.misses"));
            // The PMU events and the model quantities they count (README table)
            const std::string amd = "iommu.pmu.amd.", intel = "iommu.pmu.intel.";
            EXPECT_EQ(c(amd + "mem_pass_untrans"), c("iommu.passthrough"));
            EXPECT_EQ(c(amd + "mem_trans_total"), c("iommu.translations"));
            EXPECT_EQ(c(amd + "mem_target_abort"), c("iommu.faults"));
            EXPECT_EQ(c(amd + "mem_iommu_tlb_pte_hit") + c(amd + "mem_iommu_tlb_pde_hit"),
                      c("iommu.iotlb.hits"));
            EXPECT_EQ(c(amd + "mem_iommu_tlb_pte_mis") + c(amd + "mem_iommu_tlb_pde_mis"),
                      c("iommu.iotlb.misses"));
            EXPECT_EQ(c(amd + "page_tbl_read_tot"), c("iommu.walk.memory_reads"));
            EXPECT_EQ(c(amd + "cmd_processed"), c("iommu.invalidation.commands"));
            EXPECT_EQ(c(amd + "cmd_processed_inv"), c("iommu.invalidation.invalidate_pages") +
                                                        c("iommu.invalidation.invalidate_all"));
            EXPECT_EQ(c(intel + "UNC_IIO_IOMMU0.FIRST_LOOKUPS"), c("iommu.iotlb.lookups"));
            EXPECT_EQ(c(intel + "UNC_IIO_IOMMU0.4K_HITS") + c(intel + "UNC_IIO_IOMMU0.2M_HITS"),
                      c("iommu.iotlb.hits"));
            EXPECT_EQ(c(intel + "UNC_IIO_IOMMU0.MISSES"), c("iommu.pmu.fills"));
            EXPECT_EQ(c(intel + "UNC_IIO_IOMMU1.NUM_MEM_ACCESSES"), c("iommu.walk.memory_reads"));
            EXPECT_EQ(c(intel + "pcm_iio.2M_Cache_Hit"), c("iommu.walk.cache.pde.hits"));
            EXPECT_EQ(c(intel + "pcm_iio.1G_Cache_Hit"), c("iommu.walk.cache.pdpte.hits"));
            EXPECT_EQ(c(intel + "pcm_iio.512G_Cache_Hit"), c("iommu.walk.cache.pml4e.hits"));
            // What each mode must show
            const std::string m = mode;
            EXPECT_EQ(at(s, "devices.dmabench0.addresses"),
                      m == "off" || m == "passthrough" ? "physical" : "iova");
            if (m == "off") {
                EXPECT_EQ(c("iommu.translations") + c("iommu.passthrough"), 0u);
            } else if (m == "passthrough") {
                EXPECT_EQ(c("iommu.iotlb.lookups"), 0u);
                EXPECT_EQ(c("iommu.pmu.by_device.dmabench0.passthrough"),
                          c("devices.dmabench0.requests"));
            } else {
                EXPECT_GT(c("iommu.pmu.by_device.dmabench0.misses"), 0u);
                EXPECT_GT(c("iommu.pmu.by_device.nvme0.lookups"), 0u);
                EXPECT_EQ(c("iommu.pmu.by_device.dmabench0.lookups"),
                          c("devices.dmabench0.requests"));
                if (huge) {
                    EXPECT_GT(c("iommu.pmu.hits_2m"), 0u);
                    EXPECT_GT(c("iommu.pmu.fills_2m"), 0u);
                } else {
                    EXPECT_EQ(c("iommu.pmu.fills_2m"), 0u);
                }
            }
        }
    }
}

// A rogue engine next to nvme0: its reads go to addresses nobody gave it. Translated modes block
// each (no domain: a fault per request, the engine counts an error and goes on); passthrough and
// off let every one reach memory. The run ends normally either way.
TEST(DmabenchE2e, RogueEngineRunsToTheEndAndCountsItsErrors) {
    TempDir tmp;
    for (const char* mode : {"strict", "lazy", "passthrough", "off"}) {
        SCOPED_TRACE(mode);
        const json s = run_bench(
            tmp, {std::string("platform.iommu.mode=") + mode, "platform.dmabench.mode=rogue"});
        const std::uint64_t reqs = count(s, "devices.dmabench0.requests");
        ASSERT_GT(reqs, 100u);
        EXPECT_EQ(count(s, "devices.dmabench0.stray_dmas"), reqs);
        EXPECT_EQ(at(s, "devices.dmabench0.mode"), "rogue");
        EXPECT_EQ(at(s, "devices.dmabench0.addresses"), "random");
        EXPECT_GT(count(s, "workloads.randread.completed"), 0u); // nvme0 unaffected
        EXPECT_EQ(count(s, "workloads.randread.errors"), 0u);
        const std::string m = mode;
        if (m == "strict" || m == "lazy") {
            EXPECT_EQ(count(s, "devices.dmabench0.dma_errors"), reqs);
            EXPECT_EQ(count(s, "iommu.pmu.by_device.dmabench0.faults"), reqs);
            EXPECT_EQ(count(s, "iommu.faults"), reqs);
            EXPECT_EQ(count(s, kW + "errors"), count(s, kW + "completed"));
        } else {
            EXPECT_EQ(count(s, "devices.dmabench0.dma_errors"), 0u);
            EXPECT_EQ(count(s, "iommu.faults"), 0u);
        }
        // The safety statistics count the engine by its DMAs' intent, without knowing it: every
        // stray is blocked (no domain) behind a translating IOMMU, and reaches memory without.
        EXPECT_EQ(count(s, "safety.stray.issued"), reqs);
        if (m == "strict" || m == "lazy") {
            EXPECT_EQ(count(s, "safety.stray.blocked"), reqs);
            EXPECT_EQ(count(s, "safety.stray.reached_memory"), 0u);
            EXPECT_EQ(count(s, "safety.faults.by_device.dmabench0"), reqs);
            EXPECT_EQ(count(s, "safety.faults.by_reason.no_domain"), reqs);
        } else {
            EXPECT_EQ(count(s, "safety.stray.blocked"), 0u);
            EXPECT_EQ(count(s, "safety.stray.reached_memory"), reqs);
        }
    }
}

// The shipped sweep (configs/dmabench_iotlb.yaml): its comparison prints one row per variant, and
// the IOTLB's reach shows for both page sizes: flat within the reach (1 MiB of 4 KiB pages, 512 MiB
// of 2 MiB pages), lower and missing on nearly every read far beyond it.
TEST(DmabenchE2e, ShippedSweepShowsTheReachOfBothPageSizes) {
    TempDir tmp;
    const std::string out = tmp / "sweep";
    const SimRun r = run_sim({source_path("configs/dmabench_iotlb.yaml"), "-j", "2", "-o", out});
    ASSERT_EQ(r.status, 0) << describe(r);
    EXPECT_NE(r.out.find("DMA benchmark 'bench', one row per variant:"), std::string::npos);
    const auto bench = [&](const std::string& page, const std::string& window) {
        return read_json(fs::path(out) / ("page_size=" + page + ",window=" + window) /
                         "stats.json")["workloads"]["bench"];
    };
    for (const char* page_size : {"4KiB", "2MiB"}) {
        const std::string page = page_size;
        SCOPED_TRACE(page);
        const json base = bench(page, "64KiB");
        const double bw = base["bytes_per_s"].get<double>();
        const std::vector<std::string> inside =
            page == "4KiB" ? std::vector<std::string>{"256KiB", "1MiB"}
                           : std::vector<std::string>{"1MiB", "16MiB", "256MiB"};
        for (const auto& w : inside) {
            const json b = bench(page, w);
            EXPECT_NEAR(b["bytes_per_s"].get<double>() / bw, 1.0, 0.03) << w;
            EXPECT_LT(b["iotlb"]["misses_per_transfer"].get<double>(), 0.01) << w;
        }
        const json far = bench(page, page == "4KiB" ? "64MiB" : "4GiB");
        EXPECT_LT(far["bytes_per_s"].get<double>(), 0.5 * bw);
        EXPECT_GT(far["iotlb"]["misses_per_transfer"].get<double>(), 0.85);
        // With 4 KiB pages, far beyond the walk caches' reach too, a walk reads more than one
        // entry; with 2 MiB pages the leaf is one read below the cached directories.
        if (page == "4KiB") {
            const json huge_window = bench(page, "4GiB");
            EXPECT_GT(huge_window["iotlb"]["walk_reads"].get<double>(),
                      1.5 * huge_window["iotlb"]["misses"].get<double>());
        }
    }
}

// Same seed, same stats.json.
TEST(DmabenchE2e, Deterministic) {
    TempDir tmp;
    const json a = run_bench(tmp, {"workloads.bench.window=16MiB"});
    const json b = run_bench(tmp, {"workloads.bench.window=16MiB"});
    EXPECT_EQ(a.dump(), b.dump());
}

} // namespace simtest
