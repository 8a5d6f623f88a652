#include "sim/platform.h"

#include "models/common/event_queue.h"
#include "models/dmabench/dmabench_setup.h"
#include "models/memory/page_allocator.h"
#include "models/pcie/pcie_link.h"
#include "models/workload/dmabench_job.h"
#include "models/workload/spdk.h"
#include "models/workload/vm.h"
#include "sim/config/schema.h"
#include "sim/config/units.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace iosim {

namespace {

// A key that names a core (first_cpu, irq_cpu) must name one of platform.cpu.cores.
void check_core(const cfg::Config& c, const std::string& key) {
    const auto core = c.integer(key), cores = c.integer("platform.cpu.cores");
    if (core >= cores)
        c.fail(key, std::to_string(core) + " is not a core (platform.cpu.cores is " +
                        std::to_string(cores) + ")");
}

// The fio-like keys of a block I/O job (kernel driver or SPDK) under prefix `k`
// ("workloads.<name>.").
void read_block_job(const cfg::Config& c, const std::string& k, std::uint64_t seed,
                    BlockJobParams& p) {
    const std::string rw = c.str(k + "rw");
    p.write = rw == "write" || rw == "randwrite";
    p.random = rw == "randread" || rw == "randwrite";
    p.bs = static_cast<std::uint32_t>(c.bytes(k + "bs"));
    p.iodepth = static_cast<std::uint32_t>(c.integer(k + "iodepth"));
    p.jobs = static_cast<unsigned>(c.integer(k + "jobs"));
    p.first_cpu = static_cast<unsigned>(c.integer(k + "first_cpu"));
    p.size = c.bytes(k + "size");
    p.ios = static_cast<std::uint64_t>(c.integer(k + "ios"));
    p.seed = seed;
}

// The key to name in an error about two keys: the one the user set, the first if both or neither.
std::string blame(const cfg::Config& c, const std::string& a, const std::string& b) {
    return !c.is_set(a) && c.is_set(b) ? b : a;
}

// True if `key` was given a value other than its schema default. A job-kind check uses it so
// that a resolved config (--print-config writes every key, defaults included) loads again.
bool set_to_non_default(const cfg::Config& c, const std::string& key) {
    if (!c.is_set(key)) return false;
    const cfg::Param* p = cfg::find_param(key);
    if (!p) return true;
    switch (p->type) {
    case cfg::Type::Time:
        return c.time(key) != cfg::parse_time(p->def);
    case cfg::Type::Float:
        return c.real(key) != std::stod(p->def);
    case cfg::Type::Int:
        return c.integer(key) != std::stoll(p->def);
    case cfg::Type::Bool:
        return c.flag(key) != (p->def == "true");
    case cfg::Type::Size:
        return c.bytes(key) != cfg::parse_size(p->def);
    case cfg::Type::Bandwidth:
        return c.bytes_per_s(key) != cfg::parse_bandwidth(p->def);
    case cfg::Type::Enum:
    case cfg::Type::Str:
        return c.str(key) != p->def;
    default:
        return true;
    }
}

// ---------------------------------------------------------------- VFIO (issue 3)
// A workload that binds nvme0 to vfio-pci: a userspace driver (fio, ioengine spdk) or a VM.
bool uses_vfio(const cfg::Config& c, const std::string& name) {
    const std::string k = "workloads." + name + ".";
    const std::string type = c.str(k + "type");
    return type == "vm" || (type == "fio" && c.str(k + "ioengine") == "spdk");
}

// The keys that belong to some kinds of workload only (workloads.*.type): set on another kind
// (to anything but the default), they are a mistake. One table for every kind.
void check_job_keys(const cfg::Config& c, const std::string& name) {
    enum : unsigned { kFio = 1, kIperf = 2, kVm = 4, kDmabench = 8 };
    struct KeyKinds {
        const char* key;
        unsigned kinds;
    };
    static constexpr KeyKinds kKeys[] = {
        {"rw", kFio | kDmabench},
        {"bs", kFio},
        {"iodepth", kFio | kDmabench},
        {"size", kFio},
        {"ios", kFio | kDmabench},
        {"verify", kFio},
        {"ioengine", kFio},
        {"jobs", kFio | kIperf},
        {"direction", kIperf},
        {"packet_size", kIperf},
        {"rate", kIperf},
        {"sndbuf", kIperf},
        {"guest_memory", kVm},
        {"hugepage_fraction", kVm},
        {"hold", kVm},
        {"transfer", kDmabench},
        {"window", kDmabench},
    };
    const std::string k = "workloads." + name + ".";
    const std::string type = c.str(k + "type");
    const unsigned kind = type == "vm"         ? kVm
                          : type == "iperf"    ? kIperf
                          : type == "dmabench" ? kDmabench
                                               : kFio;
    for (const KeyKinds& e : kKeys) {
        if ((e.kinds & kind) || !set_to_non_default(c, k + e.key)) continue;
        if (kind == kVm)
            c.fail(k + e.key, "does not apply to type vm (a VM maps its guest memory for the "
                              "assigned device and issues no I/O here)");
        if (e.kinds == kVm)
            c.fail(k + e.key, "applies to type vm only (this workload is type " + type + ")");
        std::string kinds;
        for (auto [bit, kname] :
             {std::pair{kFio, "fio"}, {kIperf, "iperf"}, {kDmabench, "dmabench"}})
            if (e.kinds & bit) kinds += (kinds.empty() ? "" : " and ") + std::string(kname);
        c.fail(k + e.key, "applies to " + kinds + " jobs only (" + k + "type is " + type + ")");
    }
    if (kind == kFio && c.str(k + "ioengine") == "spdk" && c.flag(k + "verify"))
        c.fail(k + "verify", "is not modelled with ioengine spdk");
}

} // namespace

Platform::Platform(const cfg::Config& c) {
    const std::uint64_t seed = static_cast<std::uint64_t>(c.integer("sim.seed"));

    // ---------------------------------------------------------------- checks across keys
    if (c.integer("platform.nvme.msix.coalesce_count") > 0 &&
        c.time("platform.nvme.msix.coalesce_time") == 0)
        c.fail(blame(c, "platform.nvme.msix.coalesce_count", "platform.nvme.msix.coalesce_time"),
               "coalescing by count needs platform.nvme.msix.coalesce_time > 0, or completions "
               "below the count never raise an interrupt");
    if (c.integer("platform.iommu.iotlb.entries") % c.integer("platform.iommu.iotlb.ways") != 0)
        c.fail(blame(c, "platform.iommu.iotlb.entries", "platform.iommu.iotlb.ways"),
               "entries (" + std::to_string(c.integer("platform.iommu.iotlb.entries")) +
                   ") must be a multiple of ways (" +
                   std::to_string(c.integer("platform.iommu.iotlb.ways")) + ")");
    if (c.integer("platform.iommu.walk_cache.entries") > 0 &&
        c.integer("platform.iommu.walk_cache.entries") %
                std::min(c.integer("platform.iommu.walk_cache.ways"),
                         c.integer("platform.iommu.walk_cache.entries")) !=
            0)
        c.fail(blame(c, "platform.iommu.walk_cache.entries", "platform.iommu.walk_cache.ways"),
               "entries (" + std::to_string(c.integer("platform.iommu.walk_cache.entries")) +
                   ") must be a multiple of ways (" +
                   std::to_string(c.integer("platform.iommu.walk_cache.ways")) + ")");

    const auto fq_size = c.integer("kernel.flush_queue.size");
    if (fq_size & (fq_size - 1))
        c.fail("kernel.flush_queue.size", std::to_string(fq_size) +
                                              " is not a power of two (the ring index is masked, "
                                              "as in dma-iommu.c)");

    // ---------------------------------------------------------------- kernel costs
    const double hz = c.hz("platform.cpu.frequency");
    for (std::size_t i = 0; i < kFnCount; ++i) {
        std::string_view key = fn_cost_key(static_cast<Fn>(i));
        if (!key.empty())
            costs_.ps[i] = cycles_to_time(c.cycles("kernel.cost." + std::string(key)), hz);
    }

    // ---------------------------------------------------------------- hardware
    MemoryParams mp;
    mp.size = c.bytes("platform.memory.size");
    mp.latency = c.time("platform.memory.latency");
    mp.bandwidth = c.bytes_per_s("platform.memory.bandwidth");
    mp.channels = static_cast<unsigned>(c.integer("platform.memory.channels"));
    mp.backing_store = c.flag("platform.memory.backing_store");
    mem_ = std::make_unique<Memory>("memory", mp);
    // The first 1 GiB stays for the kernel image and the like; buffers come from the rest.
    // A VFIO process (SPDK, QEMU) gets the upper half of memory for its own pages.
    bool vfio_used = false;
    for (const std::string& name : c.names("workloads")) {
        check_job_keys(c, name);
        vfio_used = vfio_used || uses_vfio(c, name);
    }
    const std::uint64_t user_base = vfio_used ? (mp.size / 2) & ~((2ull << 20) - 1) : mp.size;
    pages_ = std::make_unique<PageAllocator>(1ull << 30, user_base - (1ull << 30), seed);

    IommuParams ip;
    ip.mode = iommu_mode_from(c.str("platform.iommu.mode"));
    ip.iotlb.entries = static_cast<unsigned>(c.integer("platform.iommu.iotlb.entries"));
    ip.iotlb.ways = static_cast<unsigned>(c.integer("platform.iommu.iotlb.ways"));
    const std::string pol = c.str("platform.iommu.iotlb.policy");
    ip.iotlb.policy =
        pol == "lru" ? CachePolicy::Lru : (pol == "fifo" ? CachePolicy::Fifo : CachePolicy::Random);
    ip.iotlb.seed = seed ^ fnv1a("iommu.iotlb");
    ip.iotlb_hit_latency = c.time("platform.iommu.iotlb.hit_latency");
    ip.walk_cache_entries = static_cast<unsigned>(c.integer("platform.iommu.walk_cache.entries"));
    ip.walk_cache_ways = static_cast<unsigned>(c.integer("platform.iommu.walk_cache.ways"));
    ip.walker_slots = static_cast<unsigned>(c.integer("platform.iommu.walker.slots"));
    ip.walk_read_overhead = c.time("platform.iommu.walker.read_overhead");
    ip.inv_pages_latency = c.time("platform.iommu.cmd.inv_pages_latency");
    ip.inv_all_latency = c.time("platform.iommu.cmd.inv_all_latency");
    ip.completion_wait_latency = c.time("platform.iommu.cmd.completion_wait_latency");
    ip.doorbell_latency = c.time("platform.iommu.cmd.doorbell_latency");
    ip.fault_log_size = static_cast<unsigned>(c.integer("platform.iommu.fault_log_size"));
    iommu_ = std::make_unique<Iommu>("iommu", ip);
    mem_->set_count_strays(ip.mode == IommuMode::Off); // else the IOMMU counts them
    // Safety: the live streaming mappings of pages, for stray writes into reused memory.
    if (mp.backing_store) {
        page_owners_ = std::make_unique<PageOwners>();
        mem_->set_page_owners(page_owners_.get());
    }

    CpuParams cp;
    cp.cores = static_cast<unsigned>(c.integer("platform.cpu.cores"));
    cp.hz = hz;
    cpu_ = std::make_unique<Cpu>("cpu", cp, costs_);

    // PCIe: the topology's links, each a contended resource shared by the paths that cross it
    // (the root complex's internal edges add latency only); CPU MMIO decoded by BAR window.
    topo_ = topology_from_config(c);
    const auto& tlinks = topo_.topology.links();
    for (std::size_t i = 0; i < tlinks.size(); ++i) {
        const bool internal = tlinks[i].upstream == topo_.topology.root_complex();
        segments_.push_back(internal ? nullptr
                                     : std::make_unique<PcieSegment>(topo_.link_names[i],
                                                                     tlinks[i].gen, tlinks[i].lanes,
                                                                     tlinks[i].latency));
    }
    mmio_ = std::make_unique<MmioRouter>("mmio");
    cpu_->out_mmio.bind(mmio_->in);

    PcieLinkParams lp;
    lp.max_payload = static_cast<unsigned>(c.bytes("platform.nvme.link.max_payload"));
    lp.max_read_request = static_cast<unsigned>(c.bytes("platform.nvme.link.max_read_request"));
    lp.tlp_overhead = static_cast<unsigned>(c.bytes("platform.nvme.link.tlp_overhead"));

    NvmeCtrlParams np;
    np.controller_cores = static_cast<unsigned>(c.integer("platform.nvme.controller.cores"));
    np.cmd_latency = c.time("platform.nvme.controller.cmd_latency");
    np.channels = static_cast<unsigned>(c.integer("platform.nvme.flash.channels"));
    np.dies_per_channel = static_cast<unsigned>(c.integer("platform.nvme.flash.dies_per_channel"));
    np.read_latency = c.time("platform.nvme.flash.read_latency");
    np.program_latency = c.time("platform.nvme.flash.program_latency");
    np.channel_bandwidth = c.bytes_per_s("platform.nvme.flash.channel_bandwidth");
    np.flash_page = static_cast<std::uint32_t>(c.bytes("platform.nvme.flash.page_size"));
    np.capacity = c.bytes("platform.nvme.capacity");
    np.coalesce_count = static_cast<unsigned>(c.integer("platform.nvme.msix.coalesce_count"));
    np.coalesce_time = c.time("platform.nvme.msix.coalesce_time");
    // msi_latency covers the device's own link; an MSI is a posted write that follows the same
    // path as the CQE before it (it may not pass it), so the rest of the path adds its latency.
    np.msi_latency = c.time("platform.nvme.msi_latency") + path_extra_latency("nvme0");
    np.generate_data = mp.backing_store;
    // Fault injection (safety.inject.<device>.*)
    auto read_inject = [&](const std::string& dev) {
        const std::string k = "safety.inject." + dev + ".";
        DmaInjectParams in;
        in.kind = dma_inject_kind_from(c.str(k + "kind"));
        in.every = static_cast<std::uint64_t>(c.integer(k + "every"));
        in.count = static_cast<std::uint64_t>(c.integer(k + "count"));
        in.start = c.time(k + "start");
        in.delay = c.time(k + "delay");
        in.range = mp.size;
        in.seed = seed ^ fnv1a("safety.inject." + dev);
        if (in.kind != DmaInjectParams::Kind::UseAfterUnmap && set_to_non_default(c, k + "delay"))
            c.fail(k + "delay", "applies to " + k + "kind use_after_unmap only (kind is " +
                                    c.str(k + "kind") + ")");
        if (in.kind == DmaInjectParams::Kind::None)
            for (const char* other : {"every", "count", "start"})
                if (set_to_non_default(c, k + other))
                    c.fail(k + other, "has no effect while " + k + "kind is none");
        return in;
    };
    np.inject = read_inject("nvme0");
    nvme_ = std::make_unique<NvmeCtrl>("nvme0", np);
    const std::uint64_t nvme_bar = attach_pcie(nvme_link_, "nvme0", lp);

    // ---------------------------------------------------------------- Wi-Fi NIC (issue 3)
    std::uint64_t wifi_bar = 0;
    const bool wifi = c.flag("platform.wifi.present");
    if (!wifi && set_to_non_default(c, "safety.inject.wifi0.kind"))
        c.fail("safety.inject.wifi0.kind", "needs platform.wifi.present: true");
    if (wifi) {
        Mt7921Params wp;
        wp.phy.standard =
            c.str("platform.wifi.phy.standard") == "vht" ? Standard::Vht : Standard::He;
        wp.phy.width_mhz =
            static_cast<unsigned>(std::lround(c.hz("platform.wifi.phy.width") / 1e6));
        wp.phy.nss = static_cast<unsigned>(c.integer("platform.wifi.phy.nss"));
        wp.phy.mcs = static_cast<unsigned>(c.integer("platform.wifi.phy.mcs"));
        const std::string gi = c.str("platform.wifi.phy.gi");
        wp.phy.gi = gi == "0.4us"   ? GuardInterval::Gi0_4
                    : gi == "1.6us" ? GuardInterval::Gi1_6
                    : gi == "3.2us" ? GuardInterval::Gi3_2
                                    : GuardInterval::Gi0_8;
        try {
            AirChannel check(wp.phy);
        } catch (const std::invalid_argument& e) {
            // Blame the PHY key the message is about (an MCS invalid for a width and stream count
            // is the MCS's) if the user set it.
            std::string msg = e.what();
            std::string key = "platform.wifi.phy.mcs";
            if (msg.find("channel width") != std::string::npos) key = "platform.wifi.phy.width";
            if (msg.find("guard interval") != std::string::npos) key = "platform.wifi.phy.gi";
            if (msg.find("spatial streams") != std::string::npos) key = "platform.wifi.phy.nss";
            // A default made invalid by another key the user set (standard: vht with the
            // default MCS 11): blame the key the user set.
            if (!c.is_set(key))
                for (const char* k : {"standard", "width", "nss", "gi", "mcs"})
                    if (c.is_set(std::string("platform.wifi.phy.") + k))
                        key = std::string("platform.wifi.phy.") + k;
            if (msg.rfind("wifi: ", 0) == 0) msg = msg.substr(6);
            c.fail(key, msg);
        }
        wp.fw_latency = c.time("platform.wifi.fw_latency");
        wp.tx_free_latency = c.time("platform.wifi.tx_free_latency");
        wp.msi_latency = c.time("platform.wifi.msi_latency") + path_extra_latency("wifi0");
        wp.rx_fifo = static_cast<std::uint32_t>(c.integer("platform.wifi.rx_fifo"));
        wp.ap_queue = static_cast<std::uint32_t>(c.integer("platform.wifi.ap_queue"));
        wp.inject = read_inject("wifi0");
        wifi_ = std::make_unique<Mt7921>("wifi0", wp);
        PcieLinkParams wl;
        wl.max_payload = static_cast<unsigned>(c.bytes("platform.wifi.link.max_payload"));
        wl.max_read_request = static_cast<unsigned>(c.bytes("platform.wifi.link.max_read_request"));
        wl.tlp_overhead = static_cast<unsigned>(c.bytes("platform.wifi.link.tlp_overhead"));
        wifi_bar = attach_pcie(wifi_link_, "wifi0", wl);
        check_core(c, "platform.wifi.irq_cpu");
        if (c.bytes("platform.wifi.rx_buf_size") & (c.bytes("platform.wifi.rx_buf_size") - 1))
            c.fail("platform.wifi.rx_buf_size",
                   "must be a power of two (page_pool cuts a 4 KiB page into equal fragments)");
    }

    // ---------------------------------------------------------------- DMA benchmark engine
    // (issue 4: models/dmabench). Its transfer parameters come from the one workload that drives
    // it (type dmabench); without one it is fitted and idle.
    if (c.flag("platform.dmabench.present")) {
        DmaBenchParams bp;
        for (const std::string& name : c.names("workloads")) {
            const std::string k = "workloads." + name + ".";
            if (c.str(k + "type") != "dmabench") continue;
            if (!dmabench_job_.empty())
                c.fail(k + "type", "dmabench0 is already driven by workload '" + dmabench_job_ +
                                       "'; one workload per engine");
            dmabench_job_ = name;
            const std::string rw = c.str(k + "rw");
            bp.write = rw == "write" || rw == "randwrite";
            bp.random = rw == "randread" || rw == "randwrite";
            bp.transfer = static_cast<std::uint32_t>(c.bytes(k + "transfer"));
            bp.window = c.bytes(k + "window");
            bp.inflight = static_cast<std::uint32_t>(c.integer(k + "iodepth"));
            bp.count = static_cast<std::uint64_t>(c.integer(k + "ios"));
            if (bp.window < bp.transfer)
                c.fail(blame(c, k + "window", k + "transfer"),
                       "the window (" + std::to_string(bp.window) +
                           " bytes) is smaller than one transfer (" + k + "transfer, " +
                           std::to_string(bp.transfer) + " bytes)");
            if (bp.window > mp.size / 4)
                c.fail(k + "window", "the buffer (" + std::to_string(bp.window) +
                                         " bytes) must fit a quarter of platform.memory.size (" +
                                         std::to_string(mp.size / 4) + " bytes)");
        }
        bp.seed = seed ^ fnv1a("dmabench0");
        bp.rogue = c.str("platform.dmabench.mode") == "rogue";
        bp.rogue_span = mp.size;
        dmabench_ = std::make_unique<DmaBench>("dmabench0", bp);
        PcieLinkParams dl;
        dl.max_payload = static_cast<unsigned>(c.bytes("platform.dmabench.link.max_payload"));
        dl.max_read_request =
            static_cast<unsigned>(c.bytes("platform.dmabench.link.max_read_request"));
        dl.tlp_overhead = static_cast<unsigned>(c.bytes("platform.dmabench.link.tlp_overhead"));
        attach_pcie(dmabench_link_, "dmabench0", dl);
    }

    // ---------------------------------------------------------------- wiring
    nvme_->out_dma.bind(nvme_link_->in_dma);
    nvme_link_->out_mmio.bind(nvme_->in_regs);
    cpu_->out_iommu.bind(iommu_->in_regs);
    nvme_->irq_out.bind(nvme_link_->in_msi);
    nvme_link_->out_msi.bind(cpu_->in_msi);
    if (wifi_) {
        wifi_->out_dma.bind(wifi_link_->in_dma);
        wifi_link_->out_mmio.bind(wifi_->in_regs);
        wifi_->irq_out.bind(wifi_link_->in_msi);
        wifi_link_->out_msi.bind(cpu_->in_msi);
    }
    if (dmabench_) {
        dmabench_->out_dma.bind(dmabench_link_->in_dma);
        dmabench_link_->out_mmio.bind(dmabench_->in_regs);
        dmabench_->irq_out.bind(dmabench_link_->in_msi);
        dmabench_link_->out_msi.bind(cpu_->in_msi);
    }
    iommu_->out_mem.bind(mem_->in);
    iommu_->out_walk.bind(mem_->in);
    if (ip.mode == IommuMode::Off) {
        // No IOMMU in the DMA path: the root port goes straight to DRAM.
        for (auto& path : paths_)
            path->out_dma.bind(mem_->in);
        iommu_unused_dma_ = std::make_unique<StubInitiator>("iommu_unused_dma");
        iommu_unused_dma_->out.bind(iommu_->in_dma);
    } else {
        for (auto& path : paths_)
            path->out_dma.bind(iommu_->in_dma);
    }

    // ---------------------------------------------------------------- kernel
    drv_ = std::make_unique<IommuDriver>(c.time("kernel.iommu.poll_interval"));
    DmaApiParams dp;
    dp.mode = ip.mode;
    dp.iova.cpus = cp.cores;
    dp.iova.magazine_size = static_cast<unsigned>(c.integer("kernel.iova.magazine_size"));
    dp.iova.depot_max = static_cast<unsigned>(c.integer("kernel.iova.depot_max"));
    dp.iova.pci_32bit_workaround = c.flag("kernel.iova.pci_32bit_workaround");
    dp.fq_size = static_cast<unsigned>(c.integer("kernel.flush_queue.size"));
    dp.fq_timeout = c.time("kernel.flush_queue.timeout");
    dma_ = std::make_unique<DmaApi>(dp, *cpu_, *drv_, iommu_.get(), *pages_);
    dma_->set_page_owners(page_owners_.get());
    const auto depth = static_cast<std::uint32_t>(c.integer("platform.nvme.queue_depth"));
    if (vfio_used) build_vfio(c, user_base, nvme_bar);
    if (vfio_device_ != "nvme0") { // else nvme0 is bound to vfio-pci, not to the NVMe driver
        nvme_dev_ = &dma_->add_device("nvme0", np.requester_id);
        nvme_drv_ = std::make_unique<NvmeDriver>(*cpu_, *dma_, *nvme_dev_, *nvme_, depth, nvme_bar);
    }
    if (wifi_) {
        Mt76DriverParams mp76;
        mp76.tx_ring_size = static_cast<std::uint32_t>(c.integer("platform.wifi.tx_ring_size"));
        mp76.rx_ring_size = static_cast<std::uint32_t>(c.integer("platform.wifi.rx_ring_size"));
        mp76.rx_buf_size = static_cast<std::uint32_t>(c.bytes("platform.wifi.rx_buf_size"));
        mp76.page_pool_size = static_cast<std::uint32_t>(c.integer("platform.wifi.page_pool_size"));
        mp76.token_size = static_cast<std::uint32_t>(c.integer("platform.wifi.tokens"));
        mp76.napi_budget = static_cast<unsigned>(c.integer("platform.wifi.napi_budget"));
        mp76.threaded_napi = c.flag("platform.wifi.threaded_napi");
        mp76.irq_core = static_cast<unsigned>(c.integer("platform.wifi.irq_cpu"));
        mp76.msi_vector = cpu_->alloc_msi_vectors(1);
        mp76.bar_base = wifi_bar;
        wifi_dev_ = &dma_->add_device("wifi0", wifi_->params().requester_id);
        wifi_drv_ = std::make_unique<Mt76Driver>(*cpu_, *dma_, *wifi_dev_, *wifi_, *pages_, mp76);
    }

    if (dmabench_ && vfio_device_ == "dmabench0") {
        dmabench_page_size_ = "none"; // bound to vfio-pci: its DMA goes through the VM's domain
        dmabench_addresses_ = "none";
    } else if (dmabench_ && !dmabench_->params().rogue) {
        // The driver's probe: a domain of its own (translated modes) and the buffer mapped once.
        DmaDevice& dev = dma_->add_device("dmabench0", dmabench_->params().requester_id);
        const bool huge = c.str("platform.dmabench.page_size") == "2MiB";
        // What the engine is given: an IOVA in pages of that size, or a physical address.
        dmabench_page_size_ = dev.domain ? c.str("platform.dmabench.page_size") : "none";
        dmabench_addresses_ = dev.domain ? "iova" : "physical";
        dmabench_buf_ = map_dmabench_buffer(*dma_, dev, *pages_, dmabench_->params().window, huge);
        dmabench_->set_buffer(dmabench_buf_.dma_addr);
    } else if (dmabench_) {
        dmabench_page_size_ = "none";
        dmabench_addresses_ = "random"; // rogue: nobody gave it any
    }
    // Per-requester IOMMU counters (iommu.pmu.by_device) and names (fault records, safety.faults.
    // by_device) for the platform's devices.
    pmu_devices_.emplace_back("nvme0", np.requester_id);
    if (wifi_) pmu_devices_.emplace_back("wifi0", wifi_->params().requester_id);
    if (dmabench_) pmu_devices_.emplace_back("dmabench0", dmabench_->params().requester_id);
    for (const auto& [name, rid] : pmu_devices_) {
        iommu_->register_requester(rid);
        device_names_[rid] = name;
    }

    // ---------------------------------------------------------------- workloads
    std::vector<unsigned> per_core(cp.cores, 0);
    std::vector<std::string> first_job(cp.cores); // the job to name if a core's queue overflows
    for (const std::string& name : c.names("workloads")) {
        if (uses_vfio(c, name)) continue; // built by build_vfio
        const std::string k = "workloads." + name + ".";
        // ---- which kind of job, on which device (its keys: check_job_keys)
        const bool iperf = c.str(k + "type") == "iperf";
        const std::string device = c.str(k + "device");
        if (c.str(k + "type") == "dmabench") {
            if (device != "dmabench0")
                c.fail(blame(c, k + "device", k + "type"),
                       "a dmabench job drives the DMA benchmark engine: set " + k +
                           "device: dmabench0");
            if (!dmabench_)
                c.fail(k + "device",
                       "dmabench0 is not fitted: set platform.dmabench.present: true");
            workloads_.push_back(std::make_unique<DmaBenchWorkload>(name, *dmabench_, *iommu_));
            continue;
        }
        if (device == "dmabench0")
            c.fail(blame(c, k + "device", k + "type"),
                   "dmabench0 is the DMA benchmark engine: only a job of type dmabench drives it");
        if (iperf && device != "wifi0")
            c.fail(blame(c, k + "device", k + "type"),
                   "an iperf job needs a network device: set " + k +
                       "device: wifi0 (nvme0 is a block device)");
        if (!iperf && device != "nvme0")
            c.fail(blame(c, k + "device", k + "type"), "a fio job needs a block device: " + device +
                                                           " is a network device (use " + k +
                                                           "type: iperf, or device: nvme0)");
        if (device == "wifi0" && !wifi)
            c.fail(k + "device", "wifi0 is not fitted: set platform.wifi.present: true");
        if (iperf) {
            IperfParams ipf;
            ipf.name = name;
            ipf.tx = c.str(k + "direction") == "tx";
            ipf.packet_size = static_cast<std::uint32_t>(c.bytes(k + "packet_size"));
            ipf.rate_bps = 8.0 * c.bytes_per_s(k + "rate");
            ipf.jobs = static_cast<unsigned>(c.integer(k + "jobs"));
            ipf.first_cpu = static_cast<unsigned>(c.integer(k + "first_cpu"));
            ipf.sndbuf = c.bytes(k + "sndbuf");
            check_core(c, k + "first_cpu");
            workloads_.push_back(
                std::make_unique<IperfWorkload>(ipf, *cpu_, *wifi_drv_, *wifi_, *pages_));
            continue;
        }
        FioParams fp;
        fp.name = name;
        read_block_job(c, k, seed, fp);
        fp.verify = c.flag(k + "verify");
        if (fp.size > np.capacity)
            c.fail(k + "size", "the region (" + std::to_string(fp.size) +
                                   " bytes) is larger than platform.nvme.capacity (" +
                                   std::to_string(np.capacity) + " bytes)");
        if (fp.size < fp.bs)
            c.fail(k + "size", "the region is smaller than one block (" + k + "bs)");
        if (fp.bs % 512 != 0) c.fail(k + "bs", "must be a multiple of the 512-byte LBA");
        if (fp.verify && !mp.backing_store)
            c.fail(k + "verify", "needs platform.memory.backing_store: true");
        check_core(c, k + "first_cpu");
        const unsigned max_rq = nvme_drv_->max_request_bytes();
        const unsigned per_io = (fp.bs + max_rq - 1) / max_rq;
        for (unsigned j = 0; j < fp.jobs; ++j) {
            const unsigned core = (fp.first_cpu + j) % cp.cores;
            per_core[core] += fp.iodepth * per_io;
            if (first_job[core].empty()) first_job[core] = name;
        }
        workloads_.push_back(
            std::make_unique<FioWorkload>(fp, *cpu_, *nvme_drv_, *pages_, mem_.get()));
    }
    for (unsigned core = 0; core < cp.cores; ++core) {
        if (per_core[core] >= depth)
            c.fail("workloads." + first_job[core] + ".iodepth",
                   "core " + std::to_string(core) + " would keep " +
                       std::to_string(per_core[core]) +
                       " requests in flight on its NVMe queue of " + std::to_string(depth) +
                       " entries (platform.nvme.queue_depth); lower iodepth or spread the jobs");
    }
    if (workloads_.empty())
        throw cfg::ConfigError("workloads: error: no workload is defined; add one under "
                               "'workloads:' (for example workloads.randread.rw: randread)");

    register_stats();
}

Time Platform::path_extra_latency(const std::string& device) const {
    const DevicePath& dp = topo_.topology.path(device);
    return dp.latency - topo_.topology.links()[dp.link_ids.back()].latency;
}

std::uint64_t Platform::attach_pcie(PcieLink*& link, const std::string& device,
                                    const PcieLinkParams& lp) {
    // BARs 16 MiB apart from 0xf000'0000 (below 4 GiB, where firmware puts 32-bit BARs).
    static constexpr std::uint64_t kBarBase = 0xf0000000, kBarStride = 16ull << 20;
    const DevicePath& dp = topo_.topology.path(device);
    const auto& tlinks = topo_.topology.links();
    std::vector<PcieHop> hops; // device first
    for (auto it = dp.link_ids.rbegin(); it != dp.link_ids.rend(); ++it) {
        if (!segments_[*it]) {
            // The root complex's internal edge: its latency on the last link's way in.
            hops.back().after += tlinks[*it].latency;
            continue;
        }
        // Crossing a switch upwards: its traversal after this link (the switch is its upstream
        // end); a root port's own traversal is part of the link latency.
        const auto& up = tlinks[*it].upstream;
        const auto& nodes = topo_.topology.nodes();
        const bool sw = std::any_of(nodes.begin(), nodes.end(), [&up](const TopoNode& n) {
            return n.name == up && n.kind == TopoNode::Kind::Switch;
        });
        hops.push_back({segments_[*it].get(), sw ? topo_.topology.switch_latency() : 0});
    }
    paths_.push_back(std::make_unique<PcieLink>(("pcie_" + device).c_str(), lp, std::move(hops)));
    link = paths_.back().get();
    const std::uint64_t bar = kBarBase + kBarStride * (paths_.size() - 1);
    mmio_->add_window(bar, kBarStride);
    mmio_->out.bind(link->in_mmio);
    return bar;
}

std::uint64_t Platform::ios_completed() const {
    std::uint64_t n = 0;
    for (const auto& w : workloads_)
        n += w->completed;
    return n;
}
std::uint64_t Platform::ios_inflight() const {
    std::uint64_t n = 0;
    for (const auto& w : workloads_)
        n += w->inflight();
    n += nvme_->strays_pending(); // fault injection: a stray DMA still to come
    if (wifi_) n += wifi_->strays_pending();
    return n;
}
bool Platform::workloads_finished() const {
    return std::all_of(workloads_.begin(), workloads_.end(),
                       [](const auto& w) { return w->finished(); });
}

std::uint64_t Platform::streaming_ptes_mapped() const {
    std::uint64_t leaves = 0;
    for (const auto& d : dma_->domains())
        leaves += d->pt.leaf_count();
    return leaves - dma_->coherent_ptes;
}
std::uint64_t Platform::streaming_iovas_outstanding() const {
    std::uint64_t n = 0;
    for (const auto& d : dma_->domains())
        n += d->iova.outstanding();
    return dma_->domains().empty() ? 0 : n - dma_->coherent_allocs;
}

void Platform::build_vfio(const cfg::Config& c, std::uint64_t user_base, std::uint64_t nvme_bar) {
    const std::uint64_t seed = static_cast<std::uint64_t>(c.integer("sim.seed"));
    const IommuMode mode = iommu_->mode();
    const unsigned cores = cpu_->cores();
    // A fio job with libaio uses the kernel NVMe driver on nvme0 (iperf jobs use wifi0).
    const std::string kernel_user = [&c] {
        for (const std::string& n : c.names("workloads"))
            if (!uses_vfio(c, n) && c.str("workloads." + n + ".type") == "fio") return n;
        return std::string();
    }();
    for (const std::string& name : c.names("workloads")) {
        if (!uses_vfio(c, name)) continue;
        const std::string k = "workloads." + name + ".";
        const bool vm = c.str(k + "type") == "vm";
        const std::string how = vm ? "type vm" : "ioengine spdk";
        const std::string key = vm ? k + "type" : k + "ioengine";
        const std::string dev = c.str(k + "device");
        // SPDK drives an NVMe controller; a VM's guest issues no DMA here, so its assigned
        // device may be any endpoint the host does not drive: nvme0 or an idle dmabench0.
        if (dev != "nvme0" && !(vm && dev == "dmabench0"))
            c.fail(k + "device", vm ? "a VM can be assigned nvme0 or dmabench0 here (type vm)"
                                    : "only nvme0 can be assigned through VFIO here (" + how + ")");
        if (dev == "dmabench0" && !dmabench_)
            c.fail(k + "device", "dmabench0 is not fitted: set platform.dmabench.present: true");
        if (dev == "dmabench0" && !dmabench_job_.empty())
            c.fail(k + "device", "dmabench0 is driven by workload '" + dmabench_job_ +
                                     "' (type dmabench); a device bound to vfio-pci has no "
                                     "host driver");
        if (dev == "dmabench0" && dmabench_->params().rogue)
            c.fail(k + "device", "dmabench0 is a rogue engine (platform.dmabench.mode: rogue), "
                                 "not a device to assign");
        if (!vfio_owner_.empty() && dev == vfio_device_)
            c.fail(key, dev + " is already assigned through VFIO to workload '" + vfio_owner_ +
                            "'; a VFIO group belongs to one process (container)");
        if (!vfio_owner_.empty())
            c.fail(key, "one process uses VFIO here: workload '" + vfio_owner_ +
                            "' already does (with " + vfio_device_ + ")");
        if (dev == "nvme0" && !kernel_user.empty())
            c.fail(key, "binds nvme0 to vfio-pci (" + how +
                            "), so the kernel NVMe driver that "
                            "workload '" +
                            kernel_user +
                            "' (ioengine libaio) needs cannot use it; "
                            "use one driver per device");
        if (vm && mode == IommuMode::Off)
            c.fail(key, "a VM needs an IOMMU for its assigned device (platform.iommu.mode is "
                        "off): QEMU refuses vfio-pci's no-IOMMU groups");
        vfio_owner_ = name;
        vfio_device_ = dev;
    }

    // The process's memory: SPDK's hugetlbfs pages are all 2 MiB; a VM's guest RAM has
    // hugepage_fraction of its 2 MiB chunks backed by huge pages.
    const std::string k = "workloads." + vfio_owner_ + ".";
    const bool vm = c.str(k + "type") == "vm";
    LayoutParams lp;
    lp.contiguous_2m_fraction = vm ? c.real(k + "hugepage_fraction") : 1.0;
    lp.seed = seed ^ fnv1a("vfio.user_memory");
    lp.base_phys = user_base;
    lp.size = (mem_->params().size - user_base) & ~((2ull << 20) - 1);
    user_layout_ = std::make_unique<FragmentedMemory>(lp);
    user_mm_ = std::make_unique<UserMemory>(*user_layout_);

    VfioDriverParams vp;
    vp.noiommu = mode == IommuMode::Off;
    vp.vfio.fgsp = c.flag("kernel.vfio.fgsp");
    const std::uint64_t memlock = c.bytes("kernel.vfio.rlimit_memlock");
    vp.vfio.rlimit_memlock_bytes = memlock ? memlock : VfioParams::kUnlimited;
    vp.vfio.dma_entry_limit = static_cast<std::uint32_t>(c.integer("kernel.vfio.dma_entry_limit"));
    vfio_ = std::make_unique<VfioDriver>(*cpu_, *drv_, iommu_.get(), *pages_, *user_mm_, vp);

    // The whole-group rule: the device's IOMMU group from the topology; every member must be
    // assigned.
    vfio_group_ = topo_.topology.group_of(vfio_device_);
    const std::vector<std::string> members =
        vfio_group_ >= 0 ? topo_.topology.groups().at(static_cast<std::size_t>(vfio_group_))
                         : std::vector<std::string>{vfio_device_};
    const std::uint16_t rid = vfio_device_ == "dmabench0" ? dmabench_->params().requester_id
                                                          : NvmeCtrlParams{}.requester_id;
    try {
        vfio_->attach_group(static_cast<unsigned>(std::max(vfio_group_, 0)), members,
                            {vfio_device_}, {rid});
    } catch (const VfioError& e) {
        c.fail(vm ? k + "type" : k + "ioengine",
               "assigning " + vfio_device_ + ": " + e.what() +
                   (e.code() == VfioError::Code::kNotViable
                        ? " (sim --topology - shows the groups; ACS on the switch separates them)"
                        : ""));
    }

    // What the process pins and maps, checked against the limits before the run (the ioctl
    // would fail with -ENOMEM / -ENOSPC).
    std::uint64_t pin_bytes = 0, mappings = 0;
    const auto depth = static_cast<std::uint32_t>(c.integer("platform.nvme.queue_depth"));
    if (vm) {
        VmParams p;
        p.name = vfio_owner_;
        p.guest_memory = c.bytes(k + "guest_memory");
        p.hold = c.time(k + "hold");
        p.core = static_cast<unsigned>(c.integer(k + "first_cpu"));
        check_core(c, k + "first_cpu");
        if (p.guest_memory % 4096) c.fail(k + "guest_memory", "must be a multiple of 4 KiB");
        const Time run_end = c.time("sim.warmup") + c.time("sim.duration");
        if (p.hold > run_end)
            c.fail(k + "hold", "the VM would be torn down after the run ends (sim.warmup + "
                               "sim.duration = " +
                                   std::to_string(run_end / kUs) +
                                   " us): hold at most that, or 0 to tear it down at the end");
        if (p.guest_memory > lp.size / 2)
            c.fail(k + "guest_memory",
                   std::to_string(p.guest_memory) + " bytes do not fit the VM's share of memory (" +
                       std::to_string(lp.size / 2) + " bytes: a quarter of platform.memory.size)");
        auto w = std::make_unique<VmWorkload>(p, *cpu_, *vfio_);
        pin_bytes = p.guest_memory;
        mappings = w->regions().size();
        workloads_.push_back(std::move(w));
    } else {
        SpdkParams p;
        p.name = vfio_owner_;
        read_block_job(c, k, seed, p);
        p.queue_depth = depth;
        p.bar = nvme_bar;
        if (p.size > c.bytes("platform.nvme.capacity"))
            c.fail(k + "size", "the region is larger than platform.nvme.capacity");
        if (p.size < p.bs) c.fail(k + "size", "the region is smaller than one block (" + k + "bs)");
        if (p.bs % 512 != 0) c.fail(k + "bs", "must be a multiple of the 512-byte LBA");
        check_core(c, k + "first_cpu");
        if (p.jobs > cores)
            c.fail(k + "jobs", "each SPDK job polls its own core without end: at most "
                               "platform.cpu.cores (" +
                                   std::to_string(cores) + ") jobs");
        if (p.iodepth >= depth)
            c.fail(k + "iodepth", "must be below platform.nvme.queue_depth (" +
                                      std::to_string(depth) + "), the job's queue pair size");
        auto w = std::make_unique<SpdkWorkload>(p, *cpu_, *nvme_, *vfio_);
        pin_bytes = w->pool_bytes() * p.jobs;
        mappings = p.jobs;
        if (pin_bytes > lp.size / 2)
            c.fail(k + "iodepth", "the jobs' hugepage pools (" + std::to_string(pin_bytes) +
                                      " bytes) do not fit the process's share of memory");
        workloads_.push_back(std::move(w));
    }
    if (!vp.noiommu) {
        if (memlock && pin_bytes > memlock)
            c.fail("kernel.vfio.rlimit_memlock",
                   "workload '" + vfio_owner_ + "' pins " + std::to_string(pin_bytes) +
                       " bytes through VFIO_IOMMU_MAP_DMA, more than RLIMIT_MEMLOCK (" +
                       std::to_string(memlock) +
                       " bytes): the ioctl would fail with -ENOMEM; "
                       "raise it (0 = unlimited, as for root or CAP_IPC_LOCK)");
        if (mappings > vp.vfio.dma_entry_limit)
            c.fail("kernel.vfio.dma_entry_limit",
                   "workload '" + vfio_owner_ + "' needs " + std::to_string(mappings) +
                       " mappings: VFIO_IOMMU_MAP_DMA would fail with -ENOSPC");
    }
}

} // namespace iosim
