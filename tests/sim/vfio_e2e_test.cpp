// End-to-end VFIO: the real `sim` program on tests/sim/configs/vfio_*.yaml and
// configs/vfio_nvme.yaml. What the mechanisms must produce, per IOMMU mode:
// - SPDK (ioengine spdk): no DMA API call and no IOMMU invalidation per I/O, no interrupt, the
//   polling cores busy 100 %, every device DMA (SQE fetch, data, CQE) translated through the IOTLB
//   in the translated modes (passthrough included: the assigned group has its own unmanaged
//   domain), nothing translated under off (no-IOMMU mode), one MAP_DMA per job.
// - VM (type vm): iommu_iova_to_phys calls = leaves mapped (AMD fgsp), one IOTLB sync per 512,
//   each an invalidation + completion wait the IOMMU executed; every page unpinned; the layout
//   decides the count (fully fragmented, fully 2 MiB, mixed); iommu.strict changes nothing.
// - Config errors (exit 2, the key named): RLIMIT_MEMLOCK exceeded, spdk and libaio on one device,
//   vm and spdk keys on the wrong type, a VM without an IOMMU.
#include "tests/sim/sim_process.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

std::string text(const json& s, const std::string& key) {
    return at(s, key).get<std::string>();
}

// ---------------------------------------------------------------- SPDK

class SpdkModes : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Vfio, SpdkModes, ::testing::ValuesIn(kModes),
                         [](const auto& i) { return i.param; });

TEST_P(SpdkModes, NoMappingNoInvalidationNoInterruptPerIo) {
    const std::string mode = GetParam();
    TempDir tmp;
    const json s = run_stats(tmp.fresh(mode),
                             {config("vfio_spdk.yaml"), "--set", "platform.iommu.mode=" + mode});
    const double ios = num(s, "workloads.randread.completed");
    ASSERT_GT(ios, 100);
    EXPECT_EQ(num(s, "workloads.randread.errors"), 0);
    // The kernel's per-I/O path never runs: no DMA API, no syscalls, no block layer, no IRQ.
    EXPECT_EQ(num(s, "kernel.dma.map_calls"), 0);
    EXPECT_EQ(num(s, "kernel.dma.unmap_calls"), 0);
    EXPECT_EQ(num(s, "cpu.calls_by_function.__x64_sys_io_submit"), 0);
    EXPECT_EQ(num(s, "cpu.calls_by_function.nvme_queue_rq"), 0);
    EXPECT_EQ(num(s, "cpu.irqs"), 0);
    EXPECT_EQ(num(s, "devices.nvme0.msis"), 0);
    EXPECT_THROW(at(s, "kernel.nvme.submitted"), std::out_of_range); // the kernel driver is unbound
    // No invalidation per I/O in any mode (the pool was mapped once, in the warm-up).
    EXPECT_EQ(num(s, "iommu.invalidation.commands"), 0);
    EXPECT_EQ(num(s, "kernel.flush_queue.flushes"), 0);
    // One submission and one poll-found completion per I/O, user space only.
    EXPECT_EQ(num(s, "cpu.calls_by_function.spdk_nvme_ns_cmd_read"),
              num(s, "workloads.randread.sq_doorbells"));
    EXPECT_NEAR(num(s, "cpu.calls_by_function.nvme_pcie_qpair_complete_tracker"), ios, 0);
    // The pollers never sleep: both cores busy the whole window.
    EXPECT_GE(num(s, "cpu.utilization"), 0.999);
    EXPECT_GT(num(s, "workloads.randread.empty_polls"), ios);
    // Set-up: one MAP_DMA per job of its hugepage pool, every page pinned once.
    const double pool_pages = num(s, "workloads.randread.pool_bytes") / 4096;
    EXPECT_EQ(num(s, "vfio.pages_pinned"), pool_pages);
    EXPECT_EQ(text(s, "vfio.strict_applies").rfind("no", 0), 0u);
    if (mode == "off") {
        // vfio-pci's no-IOMMU mode: physical addresses, nothing mapped, nothing translated.
        EXPECT_EQ(text(s, "vfio.mode").rfind("no-IOMMU", 0), 0u);
        EXPECT_EQ(num(s, "vfio.map_dma_calls"), 0);
        EXPECT_EQ(num(s, "vfio.leaves_mapped"), 0);
        EXPECT_EQ(num(s, "iommu.iotlb.lookups"), 0);
        EXPECT_EQ(num(s, "iommu.translations"), 0);
    } else {
        EXPECT_EQ(num(s, "vfio.map_dma_calls"), 2); // jobs
        // 2 MiB hugepages at IOVA = VA: one 2 MiB leaf per page of the pools.
        EXPECT_EQ(num(s, "vfio.leaves_mapped"), pool_pages / 512);
        // Every DMA goes through the IOTLB (passthrough too: the group's unmanaged domain): an
        // SQE fetch, one data page and a CQE per I/O, all hits on the few 2 MiB leaves.
        EXPECT_EQ(num(s, "iommu.passthrough"), 0);
        const double lookups = num(s, "iommu.iotlb.lookups");
        const double commands = num(s, "devices.nvme0.commands");
        EXPECT_NEAR(lookups, 3 * commands, 3 * 32); // up to the 32 in flight at either edge
        EXPECT_EQ(num(s, "iommu.iotlb.hit_rate"), 1);
        EXPECT_EQ(num(s, "iommu.walk.walks"), 0);
    }
    EXPECT_EQ(num(s, "end.inflight_ios"), 0);
}

// The headline config: per-I/O mechanism counts of both engines in the translated modes, and
// the one difference iommu.strict makes (to libaio only).
TEST(VfioNvme, SpdkAvoidsWhatStrictCostsTheKernelDriver) {
    TempDir tmp;
    const std::vector<std::string> base = {source_path("configs/vfio_nvme.yaml"),
                                           "--no-compare",
                                           "--duration",
                                           "2ms",
                                           "--set",
                                           "sim.warmup=500us"};
    auto run = [&](const std::string& mode, const std::string& engine) {
        std::vector<std::string> a = base;
        a.insert(a.end(), {"--set", "platform.iommu.mode=" + mode, "--set",
                           "workloads.randread.ioengine=" + engine});
        return run_stats(tmp.fresh(mode + engine), a);
    };
    const json kstrict = run("strict", "libaio"), sstrict = run("strict", "spdk");
    const json slazy = run("lazy", "spdk");
    // libaio under strict: a map and an unmap per I/O, each unmap an invalidation + wait.
    const double kios = num(kstrict, "workloads.randread.completed");
    EXPECT_NEAR(num(kstrict, "kernel.dma.map_calls"), kios, 8 * 32);
    EXPECT_NEAR(num(kstrict, "iommu.invalidation.completion_waits"), kios, 8 * 32);
    // spdk: none of it; strict and lazy give the same run (the VFIO domain is unmanaged).
    EXPECT_EQ(num(sstrict, "kernel.dma.map_calls"), 0);
    EXPECT_EQ(num(sstrict, "iommu.invalidation.commands"), 0);
    EXPECT_EQ(num(sstrict, "workloads.randread.completed"),
              num(slazy, "workloads.randread.completed"));
    EXPECT_EQ(num(sstrict, "workloads.randread.latency_ns.p99"),
              num(slazy, "workloads.randread.latency_ns.p99"));
    EXPECT_GT(num(sstrict, "workloads.randread.completed"), kios);
}

// ---------------------------------------------------------------- VM

json run_vm(const TempDir& tmp, const std::string& fraction, const std::string& mode = "strict",
            const std::vector<std::string>& extra = {}) {
    std::vector<std::string> a = {config("vfio_vm.yaml"), "--set",
                                  "workloads.guest.hugepage_fraction=" + fraction, "--set",
                                  "platform.iommu.mode=" + mode};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_stats(tmp.fresh("vm" + fraction + mode), a);
}

// What every VM teardown must show: one lookup per leaf (AMD fgsp), ceil(leaves / 512) syncs,
// each executed by the IOMMU as an invalidation and a completion wait, every page back.
void expect_teardown(const json& s, double leaves) {
    EXPECT_EQ(text(s, "workloads.guest.state"), "torn down");
    EXPECT_EQ(num(s, "vfio.leaves_mapped"), leaves);
    EXPECT_EQ(num(s, "vfio.leaves_unmapped"), leaves);
    EXPECT_EQ(num(s, "vfio.iova_to_phys_calls"), leaves);
    EXPECT_EQ(num(s, "workloads.guest.iova_to_phys_calls"), leaves);
    EXPECT_EQ(num(s, "cpu.calls_by_function.iommu_iova_to_phys"), leaves);
    const double syncs = std::ceil(leaves / 512);
    EXPECT_EQ(num(s, "vfio.iotlb_syncs"), syncs);
    EXPECT_EQ(num(s, "cpu.calls_by_function.iommu_iotlb_sync"), syncs);
    EXPECT_EQ(num(s, "iommu.invalidation.invalidate_pages"), syncs);
    EXPECT_EQ(num(s, "iommu.invalidation.completion_waits"), syncs);
    EXPECT_EQ(num(s, "vfio.pages_pinned"), 64 * 256);
    EXPECT_EQ(num(s, "vfio.pages_unpinned"), 64 * 256);
    EXPECT_EQ(num(s, "cpu.calls_by_function.put_pfn"), 64 * 256);
    EXPECT_EQ(num(s, "vfio.map_dma_calls"), 1);
    EXPECT_EQ(num(s, "vfio.unmap_dma_calls"), 1);
    EXPECT_GT(num(s, "vfio.map_ns"), 0);
    EXPECT_GT(num(s, "vfio.unmap_ns"), 0);
}

TEST(VfioVm, FullyHugePagedGuestUnmapsOneLeafPer2MiB) {
    TempDir tmp;
    const json s = run_vm(tmp, "1");
    expect_teardown(s, 32); // 64 MiB / 2 MiB
}

TEST(VfioVm, FullyFragmentedGuestUnmapsOneLeafPer4KiB) {
    TempDir tmp;
    const json s = run_vm(tmp, "0");
    expect_teardown(s, 64 * 256);
}

TEST(VfioVm, MixedLayoutGivesChunksPlus511PerFragmentedChunk) {
    TempDir tmp;
    const json s = run_vm(tmp, "0.5");
    const double leaves = num(s, "vfio.leaves_mapped");
    // 32 whole 2 MiB chunks, k of them 512 x 4 KiB: 32 + 511 k leaves, 0 < k < 32.
    const double k = (leaves - 32) / 511;
    EXPECT_EQ(k, std::floor(k));
    EXPECT_GT(k, 0);
    EXPECT_LT(k, 32);
    expect_teardown(s, leaves);
    // More leaves, more lookups and syncs: the unmap takes longer than the huge-paged one's.
    const json huge = run_vm(tmp, "1");
    EXPECT_GT(num(s, "vfio.unmap_ns"), num(huge, "vfio.unmap_ns"));
}

// Intel VT-d (kernel.vfio.fgsp false): vfio_unmap_unpin probes every 4 KiB page to find each
// physically contiguous run, plus the probe that ends each run but the last: 32 huge pages of 512
// pages give 32 x 512 + 31 lookups, and one region (one sync) per run.
TEST(VfioVm, WithoutFineGrainedSuperPagesEveryPageIsProbed) {
    TempDir tmp;
    const json s = run_vm(tmp, "1", "strict", {"--set", "kernel.vfio.fgsp=false"});
    EXPECT_EQ(num(s, "vfio.leaves_mapped"), 32);
    EXPECT_EQ(num(s, "vfio.iova_to_phys_calls"), 32 * 512 + 31);
    EXPECT_EQ(num(s, "cpu.calls_by_function.iommu_iova_to_phys"), 32 * 512 + 31);
    EXPECT_EQ(num(s, "cpu.calls_by_function.unmap_unpin_fast"), 32);
    EXPECT_EQ(num(s, "vfio.iotlb_syncs"), 1);
    EXPECT_EQ(num(s, "vfio.pages_unpinned"), 64 * 256);
}

TEST(VfioVm, TheIommuModeDoesNotChangeAVfioDomain) {
    TempDir tmp;
    const json strict = run_vm(tmp, "0.5", "strict"), lazy = run_vm(tmp, "0.5", "lazy");
    const json pt = run_vm(tmp, "0.5", "passthrough");
    for (const json* s : {&lazy, &pt}) {
        EXPECT_EQ(num(*s, "vfio.unmap_ns"), num(strict, "vfio.unmap_ns"));
        EXPECT_EQ(num(*s, "vfio.map_ns"), num(strict, "vfio.map_ns"));
        EXPECT_EQ(num(*s, "iommu.invalidation.invalidate_pages"), num(strict, "vfio.iotlb_syncs"));
        EXPECT_EQ(num(*s, "iommu.invalidation.invalidate_all"), 0);
    }
}

TEST(VfioVm, HoldZeroTearsDownAtTheEndAndStillReports) {
    TempDir tmp;
    const json s = run_vm(tmp, "1", "strict",
                          {"--set", "workloads.guest.hold=0ps", "--set", "sim.duration=3ms"});
    EXPECT_EQ(num(s, "sim.simulated_ns"), 3e6); // ran the whole window, holding the mapping
    EXPECT_EQ(text(s, "workloads.guest.state"), "torn down");
    EXPECT_EQ(num(s, "vfio.iova_to_phys_calls"), 32);
    EXPECT_GT(num(s, "workloads.guest.unmap_ns"), 0);
}

// ---------------------------------------------------------------- config errors

SimRun run_bad(const std::vector<std::string>& args) {
    return run_sim(args);
}

void expect_error(const SimRun& r, const std::string& key, const std::string& what) {
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_NE(r.err.find(key + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST(VfioConfig, RlimitMemlockExceededNamesTheKey) {
    const SimRun r = run_bad({config("vfio_vm.yaml"), "--set", "kernel.vfio.rlimit_memlock=8MiB"});
    expect_error(r, "kernel.vfio.rlimit_memlock",
                 "workload 'guest' pins 67108864 bytes through VFIO_IOMMU_MAP_DMA, more than "
                 "RLIMIT_MEMLOCK (8388608 bytes)");
}

TEST(VfioConfig, AHoldPastTheEndOfTheRunIsRefused) {
    const SimRun r = run_bad({config("vfio_vm.yaml"), "--set", "workloads.guest.hold=100s"});
    expect_error(r, "workloads.guest.hold",
                 "the VM would be torn down after the run ends (sim.warmup + sim.duration = ");
}

TEST(VfioConfig, SpdkAndLibaioCannotShareADevice) {
    TempDir tmp;
    const std::string cfg = tmp.write("two.yaml", "workloads:\n"
                                                  "  kern: {ioengine: libaio}\n"
                                                  "  user: {ioengine: spdk, first_cpu: 1}\n");
    const SimRun r = run_bad({cfg, "--validate"});
    expect_error(r, "workloads.user.ioengine",
                 "binds nvme0 to vfio-pci (ioengine spdk), so the kernel NVMe driver that "
                 "workload 'kern' (ioengine libaio) needs cannot use it");
}

TEST(VfioConfig, TwoVfioUsersOfOneDeviceAreRefused) {
    TempDir tmp;
    const std::string cfg = tmp.write("two.yaml", "workloads:\n"
                                                  "  a: {ioengine: spdk}\n"
                                                  "  b: {type: vm}\n");
    expect_error(run_bad({cfg, "--validate"}), "workloads.b.type",
                 "nvme0 is already assigned through VFIO to workload 'a'");
}

// The IOMMU group comes from the PCIe topology: behind a switch without ACS, nvme0 shares its
// group with nic1, which is not bound to vfio-pci, so the group cannot be assigned; with ACS it can
// (and SPDK's 128 KiB reads go through PRP lists in its pool).
TEST(VfioConfig, APartialIommuGroupIsRefused) {
    const std::vector<std::string> base = {config("topo_switch.yaml"), "--set",
                                           "platform.iommu.mode=strict", "--set",
                                           "workloads.seqread.ioengine=spdk"};
    std::vector<std::string> a = base;
    a.push_back("--validate");
    expect_error(run_bad(a), "workloads.seqread.ioengine",
                 "assigning nvme0: group 0 is not viable: device nic1 is not bound to vfio-pci; "
                 "an IOMMU group is assigned whole");
    TempDir tmp;
    a = base;
    a.insert(a.end(), {"--set", "platform.pcie.nodes.sw0.acs=true"});
    const json s = run_stats(tmp.fresh("acs"), a);
    EXPECT_GT(num(s, "workloads.seqread.completed"), 0);
    EXPECT_EQ(num(s, "workloads.seqread.errors"), 0);
    EXPECT_EQ(num(s, "devices.nvme0.dma_errors"), 0);
    EXPECT_EQ(num(s, "iommu.faults"), 0);
    EXPECT_EQ(num(s, "kernel.dma.map_calls"), 0);
}

TEST(VfioConfig, VmKeysOnAFioWorkloadAreRefused) {
    const SimRun r = run_bad(
        {config("vfio_spdk.yaml"), "--set", "workloads.randread.guest_memory=1GiB", "--validate"});
    expect_error(r, "workloads.randread.guest_memory", "applies to type vm only");
}

TEST(VfioConfig, IoKeysOnAVmAreRefused) {
    const SimRun r =
        run_bad({config("vfio_vm.yaml"), "--set", "workloads.guest.iodepth=4", "--validate"});
    expect_error(r, "workloads.guest.iodepth", "does not apply to type vm");
    const SimRun e =
        run_bad({config("vfio_vm.yaml"), "--set", "workloads.guest.ioengine=spdk", "--validate"});
    expect_error(e, "workloads.guest.ioengine", "does not apply to type vm");
}

// With the Wi-Fi NIC fitted: a VM can be assigned nvme0 or an idle dmabench0, SPDK only nvme0,
// and ioengine is a fio key.
TEST(VfioConfig, VfioIsForNvme0AndIoengineForFioJobs) {
    TempDir tmp;
    const std::string vm = tmp.write("vm.yaml", "platform: {wifi: {present: true}}\n"
                                                "workloads:\n"
                                                "  guest: {type: vm, device: wifi0}\n");
    expect_error(run_bad({vm, "--validate"}), "workloads.guest.device",
                 "a VM can be assigned nvme0 or dmabench0 here (type vm)");
    const std::string ip = tmp.write("ip.yaml", "platform: {wifi: {present: true}}\n"
                                                "workloads:\n"
                                                "  flow: {type: iperf, device: wifi0, "
                                                "ioengine: spdk}\n");
    expect_error(run_bad({ip, "--validate"}), "workloads.flow.ioengine",
                 "applies to fio jobs only (workloads.flow.type is iperf)");
}

TEST(VfioConfig, AVmNeedsAnIommu) {
    const SimRun r =
        run_bad({config("vfio_vm.yaml"), "--set", "platform.iommu.mode=off", "--validate"});
    expect_error(r, "workloads.guest.type", "QEMU refuses vfio-pci's no-IOMMU groups");
}

TEST(VfioConfig, SpdkIodepthMustFitTheQueuePair) {
    const SimRun r =
        run_bad({config("vfio_spdk.yaml"), "--set", "platform.nvme.queue_depth=16", "--validate"});
    expect_error(r, "workloads.randread.iodepth", "must be below platform.nvme.queue_depth (16)");
}

// A VM's assigned device may be the DMA engine, when the host does not drive it: fitted, not a
// rogue, no dmabench workload; and one process holds VFIO.
TEST(VfioConfig, AVmOnDmabench0NeedsAnIdleFittedEngine) {
    TempDir tmp;
    const std::string vm = tmp.write("vm.yaml", "workloads:\n"
                                                "  guest: {type: vm, device: dmabench0}\n");
    expect_error(run_bad({vm, "--validate"}), "workloads.guest.device",
                 "dmabench0 is not fitted: set platform.dmabench.present: true");
    expect_error(run_bad({vm, "--set", "platform.dmabench.present=true", "--set",
                          "platform.dmabench.mode=rogue", "--validate"}),
                 "workloads.guest.device",
                 "dmabench0 is a rogue engine (platform.dmabench.mode: rogue), not a device to "
                 "assign");
    const std::string driven = tmp.write("driven.yaml", "platform: {dmabench: {present: true}}\n"
                                                        "workloads:\n"
                                                        "  bench: {type: dmabench, device: "
                                                        "dmabench0}\n"
                                                        "  guest: {type: vm, device: dmabench0}\n");
    expect_error(run_bad({driven, "--validate"}), "workloads.guest.device",
                 "dmabench0 is driven by workload 'bench' (type dmabench); a device bound to "
                 "vfio-pci has no host driver");
    const std::string two = tmp.write("two.yaml", "platform: {dmabench: {present: true}}\n"
                                                  "workloads:\n"
                                                  "  guest: {type: vm, device: dmabench0}\n"
                                                  "  spdk: {ioengine: spdk}\n");
    expect_error(run_bad({two, "--validate"}), "workloads.spdk.ioengine",
                 "one process uses VFIO here: workload 'guest' already does (with dmabench0)");
}

} // namespace
} // namespace simtest
