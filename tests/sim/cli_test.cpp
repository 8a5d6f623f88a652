// The `sim` command line (DESIGN.md, "The `sim` command"), through the real program: every kind of
// user mistake stops with exit status 2 and exactly the message below on stderr (nothing on
// stdout), before anything runs; and the informational options work.
#include "sim/config/schema.h"
#include "tests/sim/sim_process.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

// A minimal valid config; the cases below add one mistake to it (or use their own text).
constexpr const char* kGood = R"(sim:
  duration: 100us
  warmup: 0ps
platform:
  cpu:
    cores: 2
workloads:
  r:
    rw: randread
    iodepth: 2
)";

// nvme0 and a second endpoint behind a switch without ACS (one IOMMU group).
constexpr const char* kTopo = R"(sim:
  duration: 100us
  warmup: 0ps
platform:
  cpu:
    cores: 2
  pcie:
    nodes:
      rc: {kind: root_complex}
      rp0: {kind: root_port}
      sw0: {kind: switch}
      nvme0: {kind: endpoint}
      nic1: {kind: endpoint}
    links:
      a: {upstream: rc, downstream: rp0}
      b: {upstream: rp0, downstream: sw0}
      c: {upstream: sw0, downstream: nvme0}
      d: {upstream: sw0, downstream: nic1}
workloads:
  r:
    rw: randread
    iodepth: 2
)";

struct BadInput {
    const char* name;
    std::string yaml;              // written to bad.yaml in the working folder; "" = no file
    std::vector<std::string> args; // the command line after `sim`
    std::string stderr_text;       // exact
    bool alone = false; // run as is only: appending --validate or -o would change the mistake
};

std::string with(const std::string& extra) {
    return kGood + extra;
}

const std::vector<BadInput>& cases() {
    static const std::vector<BadInput> v = {
        // ---- the schema, with file:line:col
        {"UnknownKeyDidYouMean",
         "sim:\n  duraton: 2ms\n",
         {"bad.yaml"},
         "sim: bad.yaml:2:3: error: sim.duraton: unknown key; did you mean 'sim.duration'?\n"},
        {"UnknownSectionDidYouMean",
         with("simm:\n  seed: 2\n"),
         {"bad.yaml"},
         "sim: bad.yaml:11:1: error: simm: unknown key; did you mean 'sim'?\n"},
        {"UnknownKeyInWorkload",
         with("    iodepht: 4\n"),
         {"bad.yaml"},
         "sim: bad.yaml:11:5: error: workloads.r.iodepht: unknown key; did you mean "
         "'workloads.r.iodepth'?\n"},
        {"UnknownKeyNothingClose",
         "sim:\n  bogus: 1\n",
         {"bad.yaml"},
         "sim: bad.yaml:2:3: error: sim.bogus: unknown key; expected one of: duration, warmup, "
         "seed, quantum, max_ios\n"},
        {"DuplicateKey",
         "sim:\n  duration: 2ms\n  duration: 3ms\n",
         {"bad.yaml"},
         "sim: bad.yaml:3:3: error: sim.duration: duplicate key 'duration' (first defined at line "
         "2)\n"},
        {"MissingUnit",
         "sim:\n  duration: 2\n",
         {"bad.yaml"},
         "sim: bad.yaml:2:13: error: sim.duration: '2' has no unit; expected a time like '2ns'\n"},
        {"WrongType",
         "platform:\n  cpu:\n    cores: many\n",
         {"bad.yaml"},
         "sim: bad.yaml:3:12: error: platform.cpu.cores: expected an integer, got 'many'\n"},
        {"OutOfRange",
         "platform:\n  cpu:\n    cores: 1000\n",
         {"bad.yaml"},
         "sim: bad.yaml:3:12: error: platform.cpu.cores: 1000 is out of range [1, 256]\n"},
        {"BadEnumDidYouMean",
         "platform:\n  iommu:\n    mode: strcit\n",
         {"bad.yaml"},
         "sim: bad.yaml:3:11: error: platform.iommu.mode: 'strcit' is not one of off, "
         "passthrough, strict, lazy; did you mean 'strict'?\n"},
        {"ListForASection",
         "sim: [1, 2]\n",
         {"bad.yaml"},
         "sim: bad.yaml:1:6: error: sim: expected a section with keys duration, warmup, seed, "
         "quantum, max_ios; got a list\n"},
        {"InvalidYaml",
         "sim: {duration: 2ms\n",
         {"bad.yaml"},
         "sim: bad.yaml:2:1: error: invalid YAML: end of map flow not found\n"},
        {"MissingFile",
         "",
         {"missing.yaml"},
         "sim: missing.yaml: error: cannot read file: No such file or directory\n"},

        // ---- --set and its shorthands
        {"SetWithoutEquals",
         kGood,
         {"bad.yaml", "--set", "sim.duration"},
         "sim: --set 'sim.duration': error: expected KEY=VALUE\n"},
        {"SetUnknownKey",
         kGood,
         {"bad.yaml", "--set", "sim.duraton=2ms"},
         "sim: --set 'sim.duraton=2ms': error: sim.duraton: unknown key; did you mean "
         "'sim.duration'?\n"},
        {"SetOutOfRange",
         kGood,
         {"bad.yaml", "--set", "platform.cpu.cores=300"},
         "sim: --set 'platform.cpu.cores=300': error: platform.cpu.cores: 300 is out of range "
         "[1, 256]\n"},
        {"SetBadEnum",
         kGood,
         {"bad.yaml", "--set", "platform.iommu.mode=bogus"},
         "sim: --set 'platform.iommu.mode=bogus': error: platform.iommu.mode: 'bogus' is not one "
         "of off, passthrough, strict, lazy\n"},
        {"SetASection",
         kGood,
         {"bad.yaml", "--set", "platform.cpu=3"},
         "sim: --set 'platform.cpu=3': error: platform.cpu: this is a section, not a parameter; "
         "set one of its keys: cores, frequency\n"},
        {"SetBadCompareValue",
         kGood,
         {"bad.yaml", "--set", "compare.platform.iommu.mode=[off,bogus]"},
         "sim: --set 'compare.platform.iommu.mode=[off,bogus]': error: "
         "compare.platform.iommu.mode: 'bogus' is not one of off, passthrough, strict, lazy\n"},
        {"SeedNotANumber",
         kGood,
         {"bad.yaml", "--seed", "abc"},
         "sim: --set 'sim.seed=abc': error: sim.seed: expected an integer, got 'abc'\n"},
        {"DurationWithoutUnit",
         kGood,
         {"bad.yaml", "--duration", "5"},
         "sim: --set 'sim.duration=5': error: sim.duration: '5' has no unit; expected a time like "
         "'5ns'\n"},

        // ---- the command line itself (CLI11's messages)
        {"NoConfigFile",
         "",
         {},
         "sim: error: no config file given (try: sim configs/nvme_iommu.yaml)\n"},
        {"UnknownOption",
         kGood,
         {"bad.yaml", "--frobnicate"},
         "sim: error: The following argument was not expected: --frobnicate (sim --help lists "
         "the options)\n"},
        {"OptionWithoutValue",
         kGood,
         {"bad.yaml", "-o"},
         "sim: error: --output: 1 required TEXT missing (sim --help lists the options)\n",
         true},
        {"BadListFormat",
         "",
         {"--list-params", "--format", "xml"},
         "sim: error: --format: xml not in {text,md} (sim --help lists the options)\n"},

        // ---- checks across keys, at elaboration (sim/platform.cpp)
        {"IotlbEntriesNotMultipleOfWays",
         kGood,
         {"bad.yaml", "--set", "platform.iommu.iotlb.entries=100", "--set",
          "platform.iommu.iotlb.ways=8"},
         "sim: --set 'platform.iommu.iotlb.entries=100': error: platform.iommu.iotlb.entries: "
         "entries (100) must be a multiple of ways (8)\n"},
        {"WalkCacheEntriesNotMultipleOfWays",
         kGood,
         {"bad.yaml", "--set", "platform.iommu.walk_cache.entries=10"},
         "sim: --set 'platform.iommu.walk_cache.entries=10': error: "
         "platform.iommu.walk_cache.entries: entries (10) must be a multiple of ways (4)\n"},
        {"CoalesceCountWithoutTime",
         kGood,
         {"bad.yaml", "--set", "platform.nvme.msix.coalesce_count=4"},
         "sim: --set 'platform.nvme.msix.coalesce_count=4': error: "
         "platform.nvme.msix.coalesce_count: coalescing by count needs "
         "platform.nvme.msix.coalesce_time > 0, or completions below the count never raise an "
         "interrupt\n"},
        // ---- DMA safety (issue 4): fault injection and the fault log
        {"InjectUnknownKind",
         kGood,
         {"bad.yaml", "--set", "safety.inject.nvme0.kind=bogus"},
         "sim: --set 'safety.inject.nvme0.kind=bogus': error: safety.inject.nvme0.kind: 'bogus' is "
         "not one of none, use_after_unmap, random_iova, write_readonly\n"},
        {"InjectEveryZero",
         kGood,
         {"bad.yaml", "--set", "safety.inject.nvme0.every=0"},
         "sim: --set 'safety.inject.nvme0.every=0': error: safety.inject.nvme0.every: 0 is out of "
         "range [1, 1000000000000]\n"},
        {"InjectEveryWithoutKind",
         kGood,
         {"bad.yaml", "--set", "safety.inject.nvme0.every=5"},
         "sim: --set 'safety.inject.nvme0.every=5': error: safety.inject.nvme0.every: has no "
         "effect "
         "while safety.inject.nvme0.kind is none\n"},
        {"InjectDelayForAnotherKind",
         kGood,
         {"bad.yaml", "--set", "safety.inject.nvme0.kind=random_iova", "--set",
          "safety.inject.nvme0.delay=5us"},
         "sim: --set 'safety.inject.nvme0.delay=5us': error: safety.inject.nvme0.delay: applies to "
         "safety.inject.nvme0.kind use_after_unmap only (kind is random_iova)\n"},
        {"InjectWifiWithoutWifi",
         kGood,
         {"bad.yaml", "--set", "safety.inject.wifi0.kind=random_iova"},
         "sim: --set 'safety.inject.wifi0.kind=random_iova': error: safety.inject.wifi0.kind: "
         "needs "
         "platform.wifi.present: true\n"},
        {"FaultLogSizeNegative",
         kGood,
         {"bad.yaml", "--set", "platform.iommu.fault_log_size=-1"},
         "sim: --set 'platform.iommu.fault_log_size=-1': error: platform.iommu.fault_log_size: -1 "
         "is out of range [0, 1048576]\n"},
        {"FlushQueueSizeNotPowerOfTwo",
         kGood,
         {"bad.yaml", "--set", "kernel.flush_queue.size=100"},
         "sim: --set 'kernel.flush_queue.size=100': error: kernel.flush_queue.size: 100 is not a "
         "power of two (the ring index is masked, as in dma-iommu.c)\n"},
        {"VerifyWithoutBackingStore",
         with("    verify: true\n"),
         {"bad.yaml"},
         "sim: bad.yaml:11:13: error: workloads.r.verify: needs platform.memory.backing_store: "
         "true\n"},
        {"BlockSizeNotMultipleOfLba",
         kGood,
         {"bad.yaml", "--set", "workloads.r.bs=1000B"},
         "sim: --set 'workloads.r.bs=1000B': error: workloads.r.bs: must be a multiple of the "
         "512-byte LBA\n"},
        {"RegionLargerThanDevice",
         kGood,
         {"bad.yaml", "--set", "workloads.r.size=2TiB"},
         "sim: --set 'workloads.r.size=2TiB': error: workloads.r.size: the region (2199023255552 "
         "bytes) is larger than platform.nvme.capacity (1099511627776 bytes)\n"},
        {"FirstCpuNotACore",
         kGood,
         {"bad.yaml", "--set", "workloads.r.first_cpu=9"},
         "sim: --set 'workloads.r.first_cpu=9': error: workloads.r.first_cpu: 9 is not a core "
         "(platform.cpu.cores is 2)\n"},
        {"QueueDepthExceeded",
         kGood,
         {"bad.yaml", "--set", "workloads.r.iodepth=2000"},
         "sim: --set 'workloads.r.iodepth=2000': error: workloads.r.iodepth: core 0 would keep "
         "2000 requests in flight on its NVMe queue of 1024 entries (platform.nvme.queue_depth); "
         "lower iodepth or spread the jobs\n"},
        // ---- the Wi-Fi NIC and iperf jobs (issue 3)
        {"IperfOnNvme",
         with("  t:\n    type: iperf\n"),
         {"bad.yaml"},
         "sim: bad.yaml:12:11: error: workloads.t.type: an iperf job needs a network device: set "
         "workloads.t.device: wifi0 (nvme0 is a block device)\n"},
        {"FioOnWifi",
         kGood,
         {"bad.yaml", "--set", "workloads.r.device=wifi0"},
         "sim: --set 'workloads.r.device=wifi0': error: workloads.r.device: a fio job needs a "
         "block device: wifi0 is a network device (use workloads.r.type: iperf, or device: "
         "nvme0)\n"},
        {"WifiNotPresent",
         with("  t:\n    type: iperf\n    device: wifi0\n"),
         {"bad.yaml"},
         "sim: bad.yaml:13:13: error: workloads.t.device: wifi0 is not fitted: set "
         "platform.wifi.present: true\n"},
        {"FioKeyOnIperfJob",
         with("  t:\n    type: iperf\n    device: wifi0\n    iodepth: 4\n"),
         {"bad.yaml", "--set", "platform.wifi.present=true"},
         "sim: bad.yaml:14:14: error: workloads.t.iodepth: applies to fio and dmabench jobs "
         "only (workloads.t.type is iperf)\n"},
        {"IperfKeyOnFioJob",
         kGood,
         {"bad.yaml", "--set", "workloads.r.packet_size=64B"},
         "sim: --set 'workloads.r.packet_size=64B': error: workloads.r.packet_size: applies to "
         "iperf jobs only (workloads.r.type is fio)\n"},
        {"WifiPhyVhtWithHeMcs",
         kGood,
         {"bad.yaml", "--set", "platform.wifi.present=true", "--set",
          "platform.wifi.phy.standard=vht"},
         "sim: --set 'platform.wifi.phy.standard=vht': error: platform.wifi.phy.standard: VHT "
         "(802.11ac) MCS must be 0..9 (1024-QAM is 802.11ax only), got 11\n"},
        {"WifiPhyWidth",
         kGood,
         {"bad.yaml", "--set", "platform.wifi.present=true", "--set",
          "platform.wifi.phy.width=60MHz"},
         "sim: --set 'platform.wifi.phy.width=60MHz': error: platform.wifi.phy.width: channel "
         "width must be 20, 40, 80 or 160 MHz, got 60\n"},
        {"WifiPhyGuardInterval",
         kGood,
         {"bad.yaml", "--set", "platform.wifi.present=true", "--set", "platform.wifi.phy.mcs=9",
          "--set", "platform.wifi.phy.gi=0.4us"},
         "sim: --set 'platform.wifi.phy.gi=0.4us': error: platform.wifi.phy.gi: HE (802.11ax) "
         "guard interval must be 0.8, 1.6 or 3.2 us, got 0.4 us\n"},
        {"WifiIrqCpuNotACore",
         kGood,
         {"bad.yaml", "--set", "platform.wifi.present=true", "--set", "platform.wifi.irq_cpu=5"},
         "sim: --set 'platform.wifi.irq_cpu=5': error: platform.wifi.irq_cpu: 5 is not a core "
         "(platform.cpu.cores is 2)\n"},
        {"WifiRxBufferNotPowerOfTwo",
         kGood,
         {"bad.yaml", "--set", "platform.wifi.present=true", "--set",
          "platform.wifi.rx_buf_size=3KiB"},
         "sim: --set 'platform.wifi.rx_buf_size=3KiB': error: platform.wifi.rx_buf_size: must be "
         "a power of two (page_pool cuts a 4 KiB page into equal fragments)\n"},
        // ---- --stacks
        {"StacksProbeUnknown",
         kGood,
         {"bad.yaml", "-q", "--stacks", "-", "--stacks-probe", "iova_to_phys"},
         "sim: error: --stacks-probe iova_to_phys: not a modelled kernel function (stats.json's "
         "cpu.calls_by_function lists them; or all, for every leaf call)\n",
         true},
        {"StacksProbeInUserSpace",
         kGood,
         {"bad.yaml", "-q", "--stacks", "-", "--stacks-probe", "fio"},
         "sim: error: --stacks-probe fio: runs in user space; a kernel stack probe needs a kernel "
         "function\n",
         true},
        {"StacksOfACompare",
         kGood + std::string("compare:\n  platform.iommu.mode: [strict, lazy]\n"),
         {"bad.yaml", "-q", "--stacks", "-"},
         "sim: error: --stacks writes the stacks of one run; pin the compared keys with --set "
         "KEY=VALUE or run the config as it is with --no-compare\n",
         true},
        // ---- --trace and --trace-window
        {"TraceWindowWithoutUnit",
         kGood,
         {"bad.yaml", "--trace", "t.json", "--trace-window", "90"},
         "sim: error: --trace-window '90': '90' has no unit; expected a time like '90ns' (the "
         "option takes DURATION, START:END, START: or all, in times from the end of warm-up, like "
         "1ms or 200us:700us)\n"},
        {"TraceWindowEndNotAfterStart",
         kGood,
         {"bad.yaml", "--trace", "t.json", "--trace-window", "1ms:1ms"},
         "sim: error: --trace-window '1ms:1ms': the end is not after the start (the option takes "
         "DURATION, START:END, START: or all, in times from the end of warm-up, like 1ms or "
         "200us:700us)\n"},
        {"TraceWindowEmpty",
         kGood,
         {"bad.yaml", "--trace", "t.json", "--trace-window", "0ns"},
         "sim: error: --trace-window '0ns': an empty window writes nothing (the option takes "
         "DURATION, START:END, START: or all, in times from the end of warm-up, like 1ms or "
         "200us:700us)\n"},
        {"TraceWindowTwoColons",
         kGood,
         {"bad.yaml", "--trace", "t.json", "--trace-window", "1ms:2ms:3ms"},
         "sim: error: --trace-window '1ms:2ms:3ms': more than one ':' (the option takes DURATION, "
         "START:END, START: or all, in times from the end of warm-up, like 1ms or 200us:700us)\n"},
        {"TraceWindowWithoutTrace",
         kGood,
         {"bad.yaml", "--trace-window", "1ms"},
         "sim: error: --trace-window bounds the trace of --trace FILE, which is not given\n"},
        {"TraceToStdout",
         kGood,
         {"bad.yaml", "--trace", "-"},
         "sim: error: --trace -: the trace is written to a file, not to stdout\n"},
        {"TraceFileUnwritable",
         kGood,
         {"bad.yaml", "-q", "--trace", "no-such-dir/t.json"},
         "sim: error: --trace no-such-dir/t.json: cannot write: No such file or directory\n",
         true},
        // ---- the PCIe topology: the key of the link or node at fault
        {"SwitchLatencyWithoutTopology",
         kGood,
         {"bad.yaml", "--set", "platform.pcie.switch_latency=1us"},
         "sim: --set 'platform.pcie.switch_latency=1us': error: platform.pcie.switch_latency: has "
         "no effect without a topology: describe the switches under platform.pcie.nodes and "
         "platform.pcie.links\n"},
        {"TopologyConnectedTwice",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.links.e.upstream=sw0", "--set",
          "platform.pcie.links.e.downstream=nvme0"},
         "sim: --set 'platform.pcie.links.e.downstream=nvme0': error: "
         "platform.pcie.links.e.downstream: PCIe topology: 'nvme0' is connected twice upstream: "
         "to 'sw0' (link 'c') and 'sw0' (link 'e')\n"},
        {"TopologyEndpointAsParent",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.links.d.upstream=nvme0"},
         "sim: --set 'platform.pcie.links.d.upstream=nvme0': error: "
         "platform.pcie.links.d.upstream: PCIe topology: link 'd' ('nvme0' -> 'nic1'): endpoint "
         "'nvme0' cannot have children\n"},
        {"TopologyWidthOfTheRootComplexPath",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.links.a.lanes=1"},
         "sim: --set 'platform.pcie.links.a.lanes=1': error: platform.pcie.links.a.lanes: a link "
         "from the root complex stands for its internal path: only its latency applies (set lanes "
         "on the link below the root port)\n"},
        {"TopologyUnconnected",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.nodes.nic2.kind=endpoint"},
         "sim: --set 'platform.pcie.nodes.nic2.kind=endpoint': error: "
         "platform.pcie.nodes.nic2.kind: PCIe topology: not connected to the root complex 'rc': "
         "'nic2'\n"},
        {"TopologyCycle",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.nodes.s1.kind=switch", "--set",
          "platform.pcie.nodes.s2.kind=switch", "--set", "platform.pcie.links.x.upstream=s1",
          "--set", "platform.pcie.links.x.downstream=s2", "--set",
          "platform.pcie.links.y.upstream=s2", "--set", "platform.pcie.links.y.downstream=s1"},
         "sim: --set 'platform.pcie.links.y.downstream=s1': error: "
         "platform.pcie.links.y.downstream: PCIe topology: cycle: 's1' -> 's2' -> 's1'\n"},
        {"TopologyUnknownNode",
         std::string(kTopo).replace(std::string(kTopo).find("downstream: nic1"), 16,
                                    "downstream: nic9"),
         {"bad.yaml"},
         "sim: bad.yaml:18:38: error: platform.pcie.links.d.downstream: PCIe topology: link 'd' "
         "('sw0' -> 'nic9'): unknown node 'nic9'\n"},
        {"TopologyWithoutTheDevice",
         std::string(kTopo)
             .replace(std::string(kTopo).find("nvme0"), 5, "nvme1")
             .replace(std::string(kTopo).find("downstream: nvme0") - 0, 17, "downstream: nvme1"),
         {"bad.yaml"},
         "sim: bad.yaml:9:18: error: platform.pcie.nodes.rc.kind: the platform's device 'nvme0' "
         "is not an endpoint of the topology; add it under platform.pcie.nodes (kind: endpoint) "
         "with a link to it\n"},
        {"TopologyAndDeviceLinkKey",
         kTopo,
         {"bad.yaml", "--set", "platform.nvme.link.gen=3"},
         "sim: --set 'platform.nvme.link.gen=3': error: platform.nvme.link.gen: the topology "
         "(platform.pcie) gives the links; set gen on the link to nvme0 under platform.pcie.links "
         "instead\n"},
        {"TopologyAcsOnAnEndpoint",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.nodes.nvme0.acs=true"},
         "sim: --set 'platform.pcie.nodes.nvme0.acs=true': error: platform.pcie.nodes.nvme0.acs: "
         "applies to switches only ('nvme0' is of kind endpoint)\n"},
        {"TopologyLinkWithoutUpstream",
         kTopo,
         {"bad.yaml", "--set", "platform.pcie.links.f.downstream=nic1"},
         "sim: --set 'platform.pcie.links.f.downstream=nic1': error: "
         "platform.pcie.links.f.downstream: link 'f' has no upstream node (set "
         "platform.pcie.links.f.upstream to one of platform.pcie.nodes)\n"},
        {"TopologyWithoutWifi",
         kTopo,
         {"bad.yaml", "--set", "platform.wifi.present=true"},
         "sim: bad.yaml:9:18: error: platform.pcie.nodes.rc.kind: the platform's device 'wifi0' "
         "is not an endpoint of the topology; add it under platform.pcie.nodes (kind: endpoint) "
         "with a link to it\n"},
        // ---- the DMA benchmark engine (issue 4)
        {"DmabenchNotFitted",
         with("  b:\n    type: dmabench\n    device: dmabench0\n"),
         {"bad.yaml"},
         "sim: bad.yaml:13:13: error: workloads.b.device: dmabench0 is not fitted: set "
         "platform.dmabench.present: true\n"},
        {"DmabenchJobOnNvme",
         with("  b:\n    type: dmabench\n"),
         {"bad.yaml", "--set", "platform.dmabench.present=true"},
         "sim: bad.yaml:12:11: error: workloads.b.type: a dmabench job drives the DMA benchmark "
         "engine: set workloads.b.device: dmabench0\n"},
        {"FioJobOnDmabench",
         kGood,
         {"bad.yaml", "--set", "workloads.r.device=dmabench0"},
         "sim: --set 'workloads.r.device=dmabench0': error: workloads.r.device: dmabench0 is the "
         "DMA benchmark engine: only a job of type dmabench drives it\n"},
        {"DmabenchWindowBelowTransfer",
         with("  b:\n    type: dmabench\n    device: dmabench0\n    transfer: 4KiB\n"
              "    window: 1KiB\n"),
         {"bad.yaml", "--set", "platform.dmabench.present=true"},
         "sim: bad.yaml:15:13: error: workloads.b.window: the window (1024 bytes) is smaller "
         "than one transfer (workloads.b.transfer, 4096 bytes)\n"},
        {"DmabenchWindowTooLarge",
         with("  b:\n    type: dmabench\n    device: dmabench0\n    window: 8GiB\n"),
         {"bad.yaml", "--set", "platform.dmabench.present=true"},
         "sim: bad.yaml:14:13: error: workloads.b.window: the buffer (8589934592 bytes) must fit "
         "a quarter of platform.memory.size (4294967296 bytes)\n"},
        {"TwoDmabenchJobs",
         with("  b:\n    type: dmabench\n    device: dmabench0\n"
              "  c:\n    type: dmabench\n    device: dmabench0\n"),
         {"bad.yaml", "--set", "platform.dmabench.present=true"},
         "sim: bad.yaml:15:11: error: workloads.c.type: dmabench0 is already driven by workload "
         "'b'; one workload per engine\n"},
        {"FioKeyOnDmabenchJob",
         with("  b:\n    type: dmabench\n    device: dmabench0\n    bs: 8KiB\n"),
         {"bad.yaml", "--set", "platform.dmabench.present=true"},
         "sim: bad.yaml:14:9: error: workloads.b.bs: applies to fio jobs only "
         "(workloads.b.type is dmabench)\n"},
        {"DmabenchKeyOnFioJob",
         kGood,
         {"bad.yaml", "--set", "workloads.r.window=4MiB"},
         "sim: --set 'workloads.r.window=4MiB': error: workloads.r.window: applies to dmabench "
         "jobs only (workloads.r.type is fio)\n"},
        {"DmabenchBadPageSize",
         kGood,
         {"bad.yaml", "--set", "platform.dmabench.page_size=1GiB"},
         "sim: --set 'platform.dmabench.page_size=1GiB': error: platform.dmabench.page_size: "
         "'1GiB' is not one of 4KiB, 2MiB\n"},
        {"NoWorkload",
         "sim:\n  duration: 1ms\n",
         {"bad.yaml"},
         "sim: workloads: error: no workload is defined; add one under 'workloads:' (for example "
         "workloads.randread.rw: randread)\n"},
    };
    return v;
}

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

INSTANTIATE_TEST_SUITE_P(Cli, BadInputTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Exit status 2, the exact message on stderr, nothing on stdout. Cross-key errors must stop
// --validate too (it elaborates), and a real run, before it writes any output.
TEST_P(BadInputTest, ExitsTwoWithTheExactMessage) {
    const BadInput& c = GetParam();
    TempDir tmp;
    if (!c.yaml.empty()) tmp.write("bad.yaml", c.yaml);
    for (const char* mode : {"", "--validate", "-o"}) {
        if (c.alone && *mode) continue;
        SCOPED_TRACE(std::string("extra argument: ") + mode);
        std::vector<std::string> args = c.args;
        if (std::string(mode) == "-o") {
            // A real run: only where the mistake is not in the command line itself.
            if (args.empty() || std::find(args.begin(), args.end(), "-o") != args.end()) continue;
            args.insert(args.end(), {"-q", "-o", tmp / "out"});
        } else if (*mode) {
            args.push_back(mode);
        }
        const SimRun r = run_sim(args, tmp.path().string());
        EXPECT_EQ(r.status, 2) << describe(r);
        EXPECT_EQ(r.err, c.stderr_text);
        EXPECT_EQ(r.out, "");
        EXPECT_FALSE(fs::exists(tmp.path() / "out" / "stats.json"));
    }
}

// A compare whose variant is invalid: the other variants run, the bad one is reported by name,
// and the exit status is the configuration error's.
TEST(Cli, CompareWithABadVariant) {
    TempDir tmp;
    tmp.write("cmp.yaml", with("compare:\n  platform.iommu.iotlb.ways: [8, 7]\n"));
    const SimRun r = run_sim({"cmp.yaml", "-q", "-j2", "-o", tmp / "out"}, tmp.path().string());
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_EQ(r.err, "sim: --set 'platform.iommu.iotlb.ways=7': error: platform.iommu.iotlb.ways: "
                     "entries (256) must be a multiple of ways (7)\nsim: variant '7' failed with "
                     "exit status 2\n");
    EXPECT_TRUE(fs::exists(tmp.path() / "out" / "8" / "stats.json"));
}

// ------------------------------------------------------------------ what works

// An error every variant hits is printed once, then which variants failed.
TEST(Cli, CompareWhoseVariantsAllFailTheSameWayPrintsTheErrorOnce) {
    TempDir tmp;
    tmp.write("cmp.yaml", with("compare:\n  platform.iommu.mode: [strict, lazy]\n"));
    const SimRun r =
        run_sim({"cmp.yaml", "-q", "--set", "workloads.r.first_cpu=5"}, tmp.path().string());
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_EQ(r.err, "sim: --set 'workloads.r.first_cpu=5': error: workloads.r.first_cpu: 5 is not "
                     "a core (platform.cpu.cores is 2)\nsim: variant 'strict' failed with exit "
                     "status 2\nsim: variant 'lazy' failed with exit status 2\n");
}

TEST(Cli, ValidateAGoodConfig) {
    TempDir tmp;
    tmp.write("good.yaml", kGood);
    const SimRun r = run_sim({"good.yaml", "--validate"}, tmp.path().string());
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_EQ(r.out, "configuration is valid\n");
    EXPECT_EQ(r.err, "");
    const SimRun q = run_sim({"good.yaml", "--validate", "-q"}, tmp.path().string());
    EXPECT_EQ(q.status, 0) << describe(q);
    EXPECT_EQ(q.out, "");
    for (const char* shipped : {"configs/nvme_iommu.yaml"}) {
        const SimRun s = run_sim({source_path(shipped), "--validate"});
        EXPECT_EQ(s.status, 0) << describe(s);
    }
}

// --print-config is the resolved config: it loads again, validates, and prints the same. Layers
// and --set are folded in.
TEST(Cli, PrintConfigReloads) {
    TempDir tmp;
    tmp.write("good.yaml", kGood);
    tmp.write("overlay.yaml", "platform:\n  iommu:\n    mode: strict\n");
    const SimRun a =
        run_sim({"good.yaml", "overlay.yaml", "--set", "sim.seed=42", "--print-config"},
                tmp.path().string());
    ASSERT_EQ(a.status, 0) << describe(a);
    EXPECT_EQ(a.err, "");
    EXPECT_NE(a.out.find("  mode: strict\n"), std::string::npos) << a.out;
    EXPECT_NE(a.out.find("  seed: 42\n"), std::string::npos) << a.out;
    tmp.write("printed.yaml", a.out);
    const SimRun b = run_sim({"printed.yaml", "--print-config"}, tmp.path().string());
    ASSERT_EQ(b.status, 0) << describe(b);
    EXPECT_EQ(b.out, a.out);
    const SimRun v = run_sim({"printed.yaml", "--validate"}, tmp.path().string());
    EXPECT_EQ(v.status, 0) << describe(v);
}

// --list-params: one row per schema key, in schema order, with or without a config.
TEST(Cli, ListParams) {
    const auto& schema = iosim::cfg::schema();
    for (const bool md : {false, true}) {
        SCOPED_TRACE(md ? "md" : "text");
        std::vector<std::string> args{"--list-params"};
        if (md) args.insert(args.end(), {"--format", "md"});
        const SimRun r = run_sim(args);
        ASSERT_EQ(r.status, 0) << describe(r);
        EXPECT_EQ(r.err, "");
        EXPECT_EQ(r.out, iosim::cfg::list_params(md));
        std::istringstream lines(r.out);
        std::vector<std::string> rows;
        for (std::string l; std::getline(lines, l);)
            rows.push_back(l);
        ASSERT_EQ(rows.size(), schema.size() + (md ? 2 : 1)); // header (+ md rule)
        if (md) {
            EXPECT_EQ(rows[0].rfind("| key ", 0), 0u) << rows[0];
            for (std::size_t i = 0; i < schema.size(); ++i)
                EXPECT_EQ(rows[i + 2].rfind("| `" + schema[i].key + "`", 0), 0u) << rows[i + 2];
        } else {
            for (std::size_t i = 0; i < schema.size(); ++i)
                EXPECT_EQ(rows[i + 1].rfind(schema[i].key + " ", 0), 0u) << rows[i + 1];
        }
    }
}

TEST(Cli, Help) {
    const SimRun r = run_sim({"--help"});
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_EQ(r.err, "");
    for (const char* opt :
         {"--set", "--seed", "--duration", "--validate", "--print-config", "--list-params",
          "--format", "--output", "--quiet", "--jobs", "--topology"})
        EXPECT_NE(r.out.find(opt), std::string::npos) << opt << " missing from --help:\n" << r.out;
}

// --topology: the graph in DOT with the IOMMU groups as clusters, nothing run.
TEST(Cli, TopologyWritesDotWithGroups) {
    TempDir tmp;
    tmp.write("t.yaml", kTopo);
    const SimRun r = run_sim({"t.yaml", "--topology", "-"}, tmp.path().string());
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_NE(r.out.find("subgraph cluster_group0 {\n        label=\"IOMMU group 0\";\n        "
                         "\"nvme0\" [shape=ellipse, label=\"nvme0\"];\n        \"nic1\""),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("\"sw0\" -> \"nvme0\" [label=\"Gen4 x4\"];"), std::string::npos);
    // With ACS on the switch, each endpoint is a group of its own; to a file this time.
    const SimRun acs = run_sim(
        {"t.yaml", "--set", "platform.pcie.nodes.sw0.acs=true", "--topology", tmp / "t.dot"},
        tmp.path().string());
    EXPECT_EQ(acs.status, 0) << describe(acs);
    std::ifstream f(tmp / "t.dot");
    std::stringstream dot;
    dot << f.rdbuf();
    EXPECT_NE(dot.str().find("label=\"IOMMU group 1\";\n        \"nic1\""), std::string::npos)
        << dot.str();
    EXPECT_FALSE(fs::exists(tmp.path() / "stats.json"));
    // Even when the platform refuses the config for a reason the graph explains: nvme0 cannot be
    // assigned to VFIO alone, its group holds nic1.
    const SimRun group = run_sim({"t.yaml", "--set", "workloads.r.ioengine=spdk", "--set",
                                  "platform.iommu.mode=strict", "--topology", "-"},
                                 tmp.path().string());
    EXPECT_EQ(group.status, 0) << describe(group);
    EXPECT_NE(group.out.find("cluster_group0"), std::string::npos);
    const SimRun bad = run_sim({"t.yaml", "--topology", "/nonexistent/t.dot"}, tmp.path().string());
    EXPECT_EQ(bad.status, 2);
    EXPECT_EQ(bad.err, "sim: error: --topology /nonexistent/t.dot: cannot write: No such file or "
                       "directory\n");
}

} // namespace
} // namespace simtest
