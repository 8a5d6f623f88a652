// End-to-end DMA safety (issue 4) through the real `sim`: fault injection on nvme0
// (safety.inject.nvme0.*), where its stray DMAs end per IOMMU mode, stale IOTLB hits (none in
// strict, some in lazy), the unmap-to-invalidation window (one per unmap, bounded by the flush
// timer in lazy, by the command latencies in strict), writes into reused memory with the backing
// store on, the fault log file and the summary.
#include "tests/sim/sim_process.h"

#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

class EveryMode : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Modes, EveryMode, ::testing::ValuesIn(kModes),
                         [](const auto& i) { return i.param; });

// The last command's buffer written 10 us after its completion, after the driver unmapped it and
// with nothing mapped since (end.safety: the drain included, where the stray lands).
TEST_P(EveryMode, UseAfterUnmapOfTheLastBuffer) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "safety_last_io.yaml", mode);
    const std::string e = "end.safety.";
    ASSERT_EQ(count(s, e + "nvme0_stray_dmas"), 1u);
    EXPECT_EQ(count(s, "end.inflight_ios"), 0u);
    if (mode == "off" || mode == "passthrough") {
        EXPECT_EQ(count(s, e + "stray_reached_memory"), 1u);
        EXPECT_EQ(count(s, e + "stray_blocked"), 0u);
        EXPECT_EQ(count(s, "safety.unprotected"), 1u);
        EXPECT_EQ(count(s, e + "unmap_windows"), 0u);
    } else if (mode == "strict") {
        EXPECT_EQ(count(s, e + "stray_blocked"), 1u);
        EXPECT_EQ(count(s, e + "stray_reached_memory"), 0u);
        EXPECT_EQ(count(s, e + "stale_iotlb_hits"), 0u);
    } else {
        EXPECT_EQ(count(s, e + "stale_iotlb_hits"), 1u);
        EXPECT_EQ(count(s, e + "stray_via_stale_iotlb"), 1u);
        EXPECT_EQ(count(s, e + "stray_reached_memory"), 1u);
        EXPECT_EQ(count(s, e + "stray_blocked"), 0u);
    }
    // One window per unmap in the translated modes, every window closed by the end.
    if (mode == "strict" || mode == "lazy") {
        EXPECT_EQ(count(s, e + "unmap_windows"), count(s, "end.dma_unmap_calls"));
        EXPECT_EQ(count(s, e + "unmap_windows"), 40u);
        EXPECT_EQ(count(s, "safety.unprotected"), 0u);
    }
}

// Steady load, one command in 20 misbehaving: the stray DMAs all end somewhere, stale hits only
// in lazy. Strict hands a freed IOVA out again at once (the per-CPU rcache), so a late DMA there
// lands through the *next* request's mapping: counted as via_mapping, never as a stale hit.
TEST_P(EveryMode, UseAfterUnmapUnderLoadEndsInOnePlaceEach) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "safety_steady.yaml", mode);
    const double issued = num(s, "safety.stray.issued");
    ASSERT_GT(issued, 10);
    EXPECT_EQ(issued, num(s, "safety.stray.blocked") + num(s, "safety.stray.reached_memory"));
    if (mode == "off" || mode == "passthrough") {
        EXPECT_EQ(num(s, "safety.stray.reached_memory"), issued);
        // fio reuses its buffers at once: the pages belong to the next I/O.
        EXPECT_GT(num(s, "safety.stray.corrupted_reused_memory"), 0);
    } else {
        EXPECT_EQ(num(s, "safety.stray.reached_memory"),
                  num(s, "safety.stray.via_stale_iotlb") + num(s, "safety.stray.via_mapping"));
        EXPECT_EQ(num(s, "safety.faults.total"), num(s, "safety.stray.blocked"));
        EXPECT_EQ(num(s, "safety.faults.by_device.nvme0"), num(s, "safety.faults.total"));
    }
    if (mode == "strict") {
        EXPECT_EQ(num(s, "safety.stale_iotlb_hits"), 0);
        EXPECT_EQ(num(s, "safety.stray.via_stale_iotlb"), 0);
    }
    if (mode == "lazy") {
        EXPECT_GT(num(s, "safety.stale_iotlb_hits"), 0);
        EXPECT_EQ(num(s, "safety.stale_iotlb_hits"), num(s, "safety.stray.via_stale_iotlb"));
        EXPECT_GT(num(s, "safety.stray.corrupted_reused_memory"), 0);
    }
    // A stray write counted as corrupting reused memory reached memory first.
    EXPECT_LE(num(s, "safety.stray.corrupted_reused_memory"),
              num(s, "safety.stray.reached_memory"));
    // The device's own I/O is unaffected.
    EXPECT_EQ(num(s, "workloads.randread.errors"), 0);
}

TEST_P(EveryMode, RandomIovasFaultNotPresentWhenTranslatedAndReachMemoryOtherwise) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "safety_steady.yaml", mode,
                            {"--set", "safety.inject.nvme0.kind=random_iova", "--set",
                             "platform.memory.backing_store=false"});
    const double issued = num(s, "safety.stray.issued");
    ASSERT_GT(issued, 10);
    EXPECT_EQ(num(s, "devices.nvme0.stray_dmas"), issued);
    if (mode == "strict" || mode == "lazy") {
        // 4 GiB of IOVA space holds a few hundred mapped pages: every random page misses.
        EXPECT_EQ(num(s, "safety.stray.blocked"), issued);
        EXPECT_EQ(num(s, "safety.faults.by_reason.not_present"), issued);
        EXPECT_EQ(num(s, "safety.faults.by_device.nvme0"), issued);
    } else {
        EXPECT_EQ(num(s, "safety.stray.reached_memory"), issued);
        EXPECT_EQ(num(s, "safety.faults.total"), 0);
    }
}

TEST_P(EveryMode, WritesToReadOnlyBuffersFaultOnPermissionWhenTranslated) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "safety_steady.yaml", mode,
                            {"--set", "safety.inject.nvme0.kind=write_readonly", "--set",
                             "workloads.randread.rw=randwrite"});
    const double issued = num(s, "safety.stray.issued");
    ASSERT_GT(issued, 10);
    if (mode == "strict" || mode == "lazy") {
        EXPECT_EQ(num(s, "safety.faults.by_reason.permission"), issued);
        EXPECT_EQ(num(s, "safety.stray.blocked"), issued);
        EXPECT_EQ(num(s, "safety.stray.reached_memory"), 0);
    } else {
        EXPECT_EQ(num(s, "safety.stray.reached_memory"), issued);
        // The buffer is mapped for the write in flight: memory the kernel handed to the device.
        EXPECT_EQ(num(s, "safety.stray.corrupted_reused_memory"), issued);
    }
    EXPECT_EQ(num(s, "workloads.randread.errors"), 0);
}

// The window from unmap to invalidation, without injection: one per unmap; lazy bounded by the
// flush timer plus a flush, full-queue flushes at most one per 255 unmaps of a core; strict
// bounded by a few command latencies.
TEST_P(EveryMode, UnmapWindowOnePerUnmapAndBounded) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "small_4k.yaml", mode,
                            {"--set", "sim.warmup=0ps", "--set", "sim.duration=10ms"});
    const std::string e = "end.safety.";
    if (mode == "off" || mode == "passthrough") {
        EXPECT_EQ(num(s, "safety.unprotected"), 1);
        EXPECT_EQ(num(s, "safety.lazy_window_ns.count"), 0);
        return;
    }
    const double unmaps = num(s, "end.dma_unmap_calls");
    ASSERT_GT(unmaps, 2000);
    EXPECT_EQ(num(s, e + "unmap_windows"), unmaps);
    EXPECT_EQ(num(s, "safety.stale_iotlb_hits"), 0); // well-behaved device
    if (mode == "lazy") {
        // Timer 10 ms; a flush is an invalidate-all and a completion wait (about 1-2 us).
        EXPECT_LE(num(s, e + "unmap_window_max_ns"), 10e6 + 50e3);
        EXPECT_GT(num(s, "end.flushes_full"), 0); // the queues did fill
        EXPECT_LE(num(s, "end.flushes_full"), unmaps / 255);
        EXPECT_LE(num(s, "end.flushes"), unmaps / 255 + num(s, "end.flushes_timer"));
        EXPECT_GT(num(s, "safety.lazy_window_ns.p50"), 1e3);
    } else {
        // Strict: the invalidate-pages (400 ns) and completion wait (400 ns) after the doorbell
        // (150 ns), polled every 1 us; two cores may queue on the IOMMU lock once.
        EXPECT_GE(num(s, "safety.lazy_window_ns.p50"), 950);
        EXPECT_LE(num(s, e + "unmap_window_max_ns"), 10e3);
    }
}

// wifi0 reads a sent packet's buffer again 10 us after the TX-free event that makes the driver
// unmap it (one packet in 10); and writes into read-only TX buffers.
TEST_P(EveryMode, WifiTxInjection) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_mode(tmp, "wifi_tx.yaml", mode,
                            {"--set", "safety.inject.wifi0.kind=use_after_unmap", "--set",
                             "safety.inject.wifi0.every=10"});
    const double issued = num(s, "safety.stray.issued");
    ASSERT_GT(issued, 5);
    EXPECT_EQ(num(s, "devices.wifi0.stray_dmas"), issued);
    EXPECT_EQ(issued, num(s, "safety.stray.blocked") + num(s, "safety.stray.reached_memory"));
    if (mode == "off" || mode == "passthrough") {
        EXPECT_EQ(num(s, "safety.stray.reached_memory"), issued);
    }
    if (mode == "strict") {
        EXPECT_EQ(num(s, "safety.stale_iotlb_hits"), 0);
        EXPECT_GT(num(s, "safety.stray.blocked"), 0);
        EXPECT_EQ(num(s, "safety.faults.by_device.wifi0"), num(s, "safety.stray.blocked"));
    }
    if (mode == "lazy") {
        EXPECT_GT(num(s, "safety.stale_iotlb_hits"), 0);
    }
    EXPECT_GT(num(s, "workloads.tx.completed"), 0);

    const json w = run_mode(tmp, "wifi_tx.yaml", mode,
                            {"--set", "safety.inject.wifi0.kind=write_readonly", "--set",
                             "safety.inject.wifi0.every=10"});
    const double n = num(w, "safety.stray.issued");
    ASSERT_GT(n, 5);
    if (mode == "strict" || mode == "lazy") {
        EXPECT_EQ(num(w, "safety.faults.by_reason.permission"), n);
        EXPECT_EQ(num(w, "safety.faults.by_device.wifi0"), n);
    } else {
        EXPECT_EQ(num(w, "safety.stray.reached_memory"), n);
    }
}

TEST(Safety, FaultLogFileIsBoundedAndNamesTheDevice) {
    TempDir tmp;
    const std::string dir = tmp.fresh("log");
    const json s = run_stats(
        dir, {config("safety_steady.yaml"), "--set", "platform.iommu.mode=strict", "--set",
              "safety.inject.nvme0.kind=random_iova", "--set", "platform.iommu.fault_log_size=3"});
    const json log = read_json(fs::path(dir) / "faults.json");
    ASSERT_EQ(log["faults"].size(), 3u);
    EXPECT_EQ(log["log_size"], 3);
    EXPECT_EQ(log["total"].get<double>(), num(s, "end.safety.stray_blocked"));
    EXPECT_EQ(log["dropped"].get<double>(), log["total"].get<double>() - 3);
    EXPECT_EQ(num(s, "safety.faults.dropped"), num(s, "safety.faults.total") - 3);
    double prev = -1;
    for (const json& f : log["faults"]) {
        EXPECT_EQ(f["device"], "nvme0");
        EXPECT_EQ(f["requester_id"], "0x0100");
        EXPECT_EQ(f["access"], "write");
        EXPECT_EQ(f["reason"], "not_present");
        EXPECT_EQ(f["iova"].get<std::string>().rfind("0x", 0), 0u);
        EXPECT_GE(f["time_ns"].get<double>(), prev);
        prev = f["time_ns"].get<double>();
    }
}

TEST(Safety, SummaryHasTheSafetyBlock) {
    TempDir tmp;
    for (const char* mode : {"lazy", "off"}) {
        const SimRun r = run_sim(
            {config("safety_steady.yaml"), "--set", std::string("platform.iommu.mode=") + mode});
        ASSERT_EQ(r.status, 0) << describe(r);
        EXPECT_NE(r.out.find("Safety "), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("stray DMAs "), std::string::npos) << r.out;
        if (std::string(mode) == "lazy")
            EXPECT_NE(r.out.find("unmap-to-invalidation window p50"), std::string::npos) << r.out;
        else
            EXPECT_NE(r.out.find("unprotected"), std::string::npos) << r.out;
    }
}

// The headline's compare section with injection: the per-mode table carries the safety rows
// (unprotected modes say so), comparison.csv their columns.
TEST(Safety, CompareTableAndCsvHaveTheSafetyFigures) {
    TempDir tmp;
    const std::string dir = tmp.fresh("cmp");
    const SimRun r = run_sim({source_path("configs/nvme_iommu.yaml"), "--duration", "2ms", "--set",
                              "safety.inject.nvme0.kind=use_after_unmap", "-o", dir});
    ASSERT_EQ(r.status, 0) << describe(r);
    for (const char* row :
         {"stale IOTLB hits", "stray DMAs issued", "stray DMAs blocked",
          "stray DMAs reached memory", "unmap window p50 us", "unmap window max us"})
        EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
    // Columns off, passthrough, strict, lazy: no window without translation, numbers with it.
    std::string line = r.out.substr(r.out.find("unmap window p50 us") + 19);
    std::istringstream cells(line.substr(0, line.find('\n')));
    std::vector<std::string> c{std::istream_iterator<std::string>(cells), {}};
    ASSERT_EQ(c.size(), 4u) << line;
    EXPECT_EQ(c[0], "unprot.");
    EXPECT_EQ(c[1], "unprot.");
    EXPECT_GT(std::stod(c[2]), 0.9); // strict: at least the invalidation and the wait (us)
    EXPECT_GT(std::stod(c[3]), std::stod(c[2]));
    const std::string csv = read_text(fs::path(dir) / "comparison.csv");
    const std::string head = csv.substr(0, csv.find('\n'));
    for (const char* col : {"safety.stray.issued", "safety.stray.reached_memory",
                            "safety.stale_iotlb_hits", "safety.lazy_window_ns.p99"})
        EXPECT_NE(head.find(col), std::string::npos) << col;
    // The lazy variant's own stats: stale hits happened, and every stray ended somewhere.
    const json lazy = read_json(fs::path(dir) / "lazy" / "stats.json");
    EXPECT_GT(num(lazy, "safety.stale_iotlb_hits"), 0);
    EXPECT_EQ(num(lazy, "safety.stray.issued"),
              num(lazy, "safety.stray.blocked") + num(lazy, "safety.stray.reached_memory"));
}

} // namespace
} // namespace simtest
