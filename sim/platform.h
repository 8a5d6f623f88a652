// The simulated host, elaborated from a resolved configuration: cores, DRAM, the IOMMU, one PCIe
// Gen-N NVMe SSD, the kernel (DMA API per mode, IOMMU driver, NVMe driver) and the workloads.
// Every model's counters are registered in one Stats registry under the names of DESIGN.md's
// output contract.
#pragma once
#include "models/common/stats.h"
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "models/dmabench/dmabench.h"
#include "models/dmabench/dmabench_setup.h"
#include "models/iommu/iommu.h"
#include "models/kernel/dma_api.h"
#include "models/kernel/iommu_driver.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "models/nvme/nvme_ctrl.h"
#include "models/nvme/nvme_driver.h"
#include "models/pcie/mmio_router.h"
#include "models/pcie/pcie_link.h"
#include "models/pcie/topology.h"
#include "models/vfio/phys_layout.h"
#include "models/vfio/vfio_timed.h"
#include "models/wifi/mt76_driver.h"
#include "models/wifi/mt7921.h"
#include "models/workload/fio_job.h"
#include "models/workload/iperf.h"
#include "sim/config/config.h"
#include "sim/pcie_config.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace iosim {

class Platform {
public:
    // Elaborates the platform. Throws cfg::ConfigError for combinations the schema cannot check
    // on its own (e.g. interrupt coalescing by count without a time limit).
    explicit Platform(const cfg::Config& c);

    Stats& stats() { return stats_; }
    Cpu& cpu() { return *cpu_; }
    Iommu& iommu() { return *iommu_; }
    Memory& memory() { return *mem_; }
    DmaApi& dma() { return *dma_; }
    IommuDriver& iommu_driver() { return *drv_; }
    NvmeCtrl& nvme() { return *nvme_; }
    Mt7921* wifi() { return wifi_.get(); } // null without platform.wifi.present
    Mt76Driver* wifi_driver() { return wifi_drv_.get(); }
    DmaBench* dmabench() { return dmabench_.get(); } // null without platform.dmabench.present
    const PcieTopology& topology() const { return topo_.topology; }
    std::vector<std::unique_ptr<Workload>>& workloads() { return workloads_; }
    // The VFIO container of the process nvme0 is assigned to (ioengine spdk or type vm), or null.
    VfioDriver* vfio() { return vfio_.get(); }

    // --trace: the cores, the IOMMU, the NVMe queues and the Wi-Fi device write their timeline
    // to `t` (nullptr: none). Not owned.
    void set_trace(TraceWriter* t) {
        cpu_->set_trace(t);
        iommu_->set_trace(t);
        nvme_->set_trace(t);
        if (wifi_) wifi_->set_trace(t);
    }

    std::uint64_t ios_completed() const;
    std::uint64_t ios_inflight() const;
    bool workloads_finished() const;

    // Streaming DMA state left at the end (after the drain): mappings and IOVAs not returned.
    std::uint64_t streaming_ptes_mapped() const;
    std::uint64_t streaming_iovas_outstanding() const;

    // Safety: the IOMMU's fault records, devices by name (requester id if unknown), for
    // DIR/faults.json. `dropped`: faults beyond the log.
    nlohmann::json fault_log() const;
    // The device a requester id belongs to ("rid:0xBBDF" if none).
    std::string device_name(std::uint16_t requester_id) const;

    // The measured window (set by the run loop) for rates.
    Time window_start = 0, window_end = 0;

private:
    void register_stats();
    void register_safety_stats();
    // The device's PCIe path from the topology, as a PcieLink whose links are shared with the
    // other devices crossing them; its BAR window in the CPU's MMIO space. Returns the BAR base.
    // Latency of the device's path beyond its own link (switches, links above, the root complex).
    Time path_extra_latency(const std::string& device) const;
    std::uint64_t attach_pcie(PcieLink*& link, const std::string& device, const PcieLinkParams& lp);

    Stats stats_;
    KernelCosts costs_;
    std::unique_ptr<PageAllocator> pages_;
    std::unique_ptr<PageOwners> page_owners_;           // backing store on: safety's reuse check
    std::map<std::uint16_t, std::string> device_names_; // requester id -> device (fault records)
    std::unique_ptr<Memory> mem_;
    std::unique_ptr<Iommu> iommu_;
    std::unique_ptr<StubInitiator> iommu_unused_dma_; // off: nothing upstream of the IOMMU
    std::unique_ptr<Cpu> cpu_;
    PlatformTopology topo_;
    std::vector<std::unique_ptr<PcieSegment>> segments_; // per topology link; null: internal
    std::vector<std::unique_ptr<PcieLink>> paths_;       // one per device
    std::unique_ptr<MmioRouter> mmio_;
    PcieLink* nvme_link_ = nullptr;
    std::unique_ptr<NvmeCtrl> nvme_;
    std::unique_ptr<IommuDriver> drv_;
    std::unique_ptr<DmaApi> dma_;
    DmaDevice* nvme_dev_ = nullptr;
    std::unique_ptr<NvmeDriver> nvme_drv_;
    // Wi-Fi (platform.wifi.present)
    PcieLink* wifi_link_ = nullptr;
    std::unique_ptr<Mt7921> wifi_;
    DmaDevice* wifi_dev_ = nullptr;
    std::unique_ptr<Mt76Driver> wifi_drv_;
    // DMA benchmark engine (platform.dmabench.present; models/dmabench)
    PcieLink* dmabench_link_ = nullptr;
    std::unique_ptr<DmaBench> dmabench_;
    DmaBenchBuffer dmabench_buf_;
    std::string dmabench_job_;       // the workload that drives it
    std::string dmabench_page_size_; // its buffer's IOMMU pages: 4KiB, 2MiB, none
    std::string dmabench_addresses_; // what it DMAs to: iova, physical, random (rogue)
    // Devices with IOMMU counters of their own (iommu.pmu.by_device): name, requester id.
    std::vector<std::pair<std::string, std::uint16_t>> pmu_devices_;
    std::uint64_t pool_maps0_ = 0, pool_recycled0_ = 0, pool_unmaps0_ = 0; // at the warm-up reset
    std::vector<std::unique_ptr<Workload>> workloads_;

    // VFIO (models/vfio): a device bound to vfio-pci for one workload's process: nvme0 (SPDK or
    // a VM) or the idle DMA engine dmabench0 (a VM's assigned device).
    void build_vfio(const cfg::Config& c, std::uint64_t user_base, std::uint64_t nvme_bar);
    void register_vfio_stats();
    std::string vfio_owner_;                        // the workload; empty: no VFIO
    std::string vfio_device_;                       // the device it is assigned
    std::unique_ptr<FragmentedMemory> user_layout_; // the process's physical pages
    std::unique_ptr<UserMemory> user_mm_;
    std::unique_ptr<VfioDriver> vfio_;
    int vfio_group_ = -1;
};

} // namespace iosim
