// The parameter table: every configuration key, in the order --print-config and the README show
// them. A row's `source` says where its default comes from; "assumption" means no published figure
// was found and the value is a plausible placeholder to calibrate against a capture.
#include "sim/config/schema.h"

namespace iosim::cfg {
namespace {

constexpr const char* kCostSource = "estimate; see kernel-dma-paths.md §4.3";

// Per-call CPU costs of the modelled kernel functions (DESIGN.md principle 4). An empty `what`
// means "Cycles per call of NAME.". Their source is kCostSource.
struct Cost {
    const char* name;
    const char* cycles;
    const char* what;
};

constexpr Cost kCosts[] = {
    {"entry_SYSCALL_64", "300", ""},
    {"__x64_sys_io_submit", "2400", ""},
    // blk_mq_submit_bio and the plug flush: 1500 cycles split 1100 (bio to request: split, tag,
    // plug) + 400 (blk_mq_flush_plug_list: walk the plug, blk_mq_dispatch_plug_list / queue_rqs).
    {"blk_mq_submit_bio", "1100", ""},
    {"blk_mq_flush_plug_list", "400",
     "Cycles of a plug flush (blk_mq_flush_plug_list) per request dispatched to the driver."},
    {"nvme_queue_rq", "900", ""},
    {"nvme_submit_cmd", "300", ""},
    {"__x64_sys_io_getevents", "1200", ""},
    {"fio", "1500", "Cycles of fio's user-space work per I/O."},
    {"common_interrupt", "900", ""},
    {"nvme_irq", "300", ""},
    {"nvme_pci_complete_batch", "200", ""},
    {"blk_mq_end_request_batch", "1500", ""},
    // mt76 / mt7921 Wi-Fi path (issue 3): estimates, not measured. The UDP send and receive
    // syscalls include the socket, IP and UDP layers and the copy of a 1500-byte packet.
    {"__x64_sys_sendto", "3000",
     "Cycles of one UDP sendto: socket, UDP/IP output, skb alloc and copy."},
    {"__x64_sys_recvfrom", "2500", "Cycles of one UDP recvfrom: dequeue, copy to user, skb free."},
    {"iperf", "800", "Cycles of iperf's user-space work per packet."},
    {"dev_queue_xmit", "1500",
     "Cycles of qdisc and mac80211 TX (ieee80211_subif_start_xmit) per packet."},
    {"mt76_dma_tx_queue_skb", "600", ""},
    {"mt7921_tx_prepare_skb", "800",
     "Cycles to write the TXD and TXP and take a token (mt7921e_tx_prepare_skb)."},
    {"mt76_dma_kick_queue", "100", ""},
    {"mt7921_irq_handler", "300", ""},
    {"mt7921_irq_tasklet", "300", ""},
    {"net_rx_action", "300", ""},
    {"__napi_poll", "200", ""},
    {"mt76_dma_tx_cleanup", "60", "Cycles per TX descriptor reclaimed by mt76_dma_tx_cleanup."},
    {"mt76_dma_rx_poll", "150",
     "Cycles per RX buffer dequeued by mt76_dma_rx_poll (mt76_dma_rx_process inlined)."},
    {"mt7921_rx_check", "100", ""},
    {"mt7921_mac_tx_free", "400", "Cycles per TX-free event parsed by mt7921_mac_tx_free."},
    {"mt7921_txwi_free", "300",
     "Cycles per freed token: token release, mt76_put_txwi, napi_consume_skb."},
    {"mt76_connac_txp_skb_unmap", "80", ""},
    {"mt7921_queue_rx_skb", "200", ""},
    {"ieee80211_rx_napi", "3000",
     "Cycles of mac80211 RX per frame (802.11 to 802.3, reorder, stats)."},
    {"__netif_receive_skb", "2000",
     "Cycles of IP and UDP receive up to the socket queue per packet."},
    {"mt76_dma_rx_fill", "100", "Cycles per RX buffer posted by mt76_dma_rx_fill."},
    {"page_pool_alloc_frag", "80", ""},
    {"page_pool_alloc_pages", "800",
     "Cycles to allocate a fresh page_pool page (its DMA map is charged apart)."},
    {"page_pool_put_page", "100", ""},
    {"napi_complete_done", "150", ""},
    {"dma_direct_map_page", "60", ""},
    {"dma_direct_unmap_page", "30", ""},
    {"iommu_dma_map_page", "150", ""},
    {"iommu_dma_unmap_page", "150", ""},
    {"alloc_iova_fast", "150", ""},
    {"alloc_iova", "600", ""},
    {"iova_rbtree_node", "30", "Cycles per node visited in an IOVA rbtree search."},
    {"free_iova_fast", "120", ""},
    {"free_iova", "500", ""},
    {"iova_magazine_free_pfns", "40", "Cycles per pfn returned from a magazine to the rbtree."},
    {"iommu_map", "150", ""},
    {"iommu_v1_map_pages", "120", "Cycles per PTE written by iommu_v1_map_pages."},
    {"alloc_pte", "400", "Cycles per new page-table page allocated by alloc_pte."},
    {"iommu_iova_to_phys", "120", ""},
    {"iommu_unmap_fast", "150", ""},
    {"iommu_v1_unmap_pages", "100", "Cycles per PTE cleared by iommu_v1_unmap_pages."},
    {"amd_iommu_iotlb_sync", "150", ""},
    {"build_inv_iommu_pages", "60", ""},
    {"build_completion_wait", "40", ""},
    {"copy_cmd_to_buffer", "200", ""},
    {"_raw_spin_lock_irqsave", "60", ""},
    {"queue_iova", "150", ""},
    {"fq_ring_free_locked", "40", "Cycles per flush-queue entry freed by fq_ring_free_locked."},
    {"fq_flush_timeout", "500", ""},
    {"amd_iommu_flush_iotlb_all", "150", ""},
    // VFIO type1 (models/vfio) and SPDK's user-space NVMe driver: estimates, per call unless said.
    {"vfio_iommu_type1_ioctl", "1000",
     "Cycles per VFIO ioctl (fdget, copy_from_user, iommu->lock)."},
    {"vfio_test_domain_fgsp", "5000", ""},
    {"vfio_dma_do_map", "600", ""},
    {"vfio_pin_map_dma", "200", ""},
    {"vfio_pin_pages_remote", "150", "Cycles per physically contiguous run pinned."},
    {"vaddr_get_pfns", "300", "Cycles per pin batch (up to 512 pages)."},
    {"pin_user_pages_remote", "300",
     "Cycles per 4 KiB page pinned (resident pages: GUP, refcount)."},
    {"vfio_lock_acct", "300", ""},
    {"vfio_iommu_map", "100", "Cycles per run mapped."},
    {"vfio_dma_do_unmap", "500", ""},
    {"vfio_remove_dma", "300", ""},
    {"vfio_unmap_unpin", "200", ""},
    {"unmap_unpin_fast", "80", "Cycles per region unmapped without a flush."},
    {"vfio_sync_unpin", "100", "Cycles per batch of up to 512 regions."},
    {"iommu_iotlb_sync", "60", ""},
    {"vfio_unpin_pages_remote", "100", "Cycles per region unpinned."},
    {"put_pfn", "40", "Cycles per 4 KiB page unpinned (put_pfn)."},
    {"unpin_user_pages_dirty_lock", "60", "Cycles per 4 KiB page unpinned (dirty, unpin)."},
    {"spdk_nvme_ns_cmd_rw", "300", "Cycles of spdk_nvme_ns_cmd_read/write (request, PRPs)."},
    {"nvme_pcie_qpair_submit_tracker", "150", "Cycles per SQE copied and SQ doorbell written."},
    {"spdk_nvme_qpair_process_completions", "90", "Cycles per poll of a completion queue."},
    {"nvme_pcie_qpair_complete_tracker", "200", "Cycles per completion handled."},
};

std::vector<Param> build() {
    using T = Type;
    std::vector<Param> p = {
        // clang-format off
        {"sim.duration", T::Time, "20ms", "1us", "1000s", {},
         "Simulated run length after warm-up.", "simulator default"},
        {"sim.warmup", T::Time, "2ms", "0ps", "100s", {},
         "Simulated time before statistics are reset.", "simulator default"},
        {"sim.seed", T::Int, "1", "0", "9223372036854775807", {},
         "Seed from which every component's random generator is derived.", "simulator default"},
        {"sim.quantum", T::Time, "1us", "1ns", "1ms", {},
         "TLM global quantum: how far a core's work item may run ahead of SystemC time before it yields.", "simulator default"},
        {"sim.max_ios", T::Int, "0", "0", "1000000000000", {},
         "Stop after this many completed I/Os in total (0 = run for sim.duration).",
         "simulator default"},

        {"platform.cpu.cores", T::Int, "8", "1", "256", {},
         "Number of CPU cores.", "assumption: a typical 8-core host"},
        {"platform.cpu.frequency", T::Freq, "3GHz", "100MHz", "10GHz", {},
         "Core clock; converts kernel.cost cycles to time.", "assumption: a typical core clock"},

        {"platform.memory.size", T::Size, "16GiB", "64MiB", "16TiB", {},
         "Physical memory size.", "assumption"},
        {"platform.memory.latency", T::Time, "90ns", "1ns", "10us", {},
         "DRAM load-to-use latency of one access.", "typical DDR4/DDR5 idle latency"},
        {"platform.memory.bandwidth", T::Bandwidth, "51.2GB/s", "100MB/s", "10TB/s", {},
         "Peak DRAM bandwidth of all channels together.", "2 channels of DDR4-3200 (2 x 25.6 GB/s)"},
        {"platform.memory.channels", T::Int, "2", "1", "64", {},
         "DRAM channels that serve accesses in parallel.", "2 channels of DDR4-3200"},
        {"platform.memory.backing_store", T::Bool, "false", "", "", {},
         "Keep DMA data in a sparse backing store, so tests can check where it lands.",
         "off for speed; data-integrity tests turn it on"},

        {"platform.iommu.mode", T::Enum, "lazy", "", "", {"off", "passthrough", "strict", "lazy"},
         "off: no IOMMU; passthrough: identity mapping; strict/lazy: synchronous/deferred "
         "invalidation.",
         "x86 Kconfig default IOMMU_DEFAULT_DMA_LAZY (kernel-dma-paths.md §1.0)"},
        {"platform.iommu.iotlb.entries", T::Int, "256", "1", "1048576", {},
         "IOTLB entries in total.",
         "not published; estimated reach of a few hundred KiB of 4 KiB pages "
         "(published-figures.md)"},
        {"platform.iommu.iotlb.ways", T::Int, "8", "1", "1048576", {},
         "IOTLB associativity (sets = entries / ways).", "assumption"},
        {"platform.iommu.iotlb.policy", T::Enum, "lru", "", "", {"lru", "fifo", "random"},
         "IOTLB replacement policy within a set.", "assumption"},
        {"platform.iommu.iotlb.hit_latency", T::Time, "5ns", "0ps", "1us", {},
         "Time added to a DMA whose translation hits in the IOTLB.", "assumption"},
        {"platform.iommu.walk_cache.entries", T::Int, "64", "0", "65536", {},
         "Page-walk cache entries per page-table level (0 = no walk cache).",
         "published estimate of 64-128 entries (published-figures.md)"},
        {"platform.iommu.walk_cache.ways", T::Int, "4", "1", "65536", {},
         "Walk-cache associativity.", "assumption"},
        {"platform.iommu.walker.slots", T::Int, "4", "1", "256", {},
         "Page walks the IOMMU can run concurrently.", "assumption"},
        {"platform.iommu.walker.read_overhead", T::Time, "60ns", "0ps", "10us", {},
         "Root-complex overhead per walk memory read, on top of the DRAM latency.",
         "published 100-300 ns per walk read including DRAM (published-figures.md)"},
        {"platform.iommu.cmd.inv_pages_latency", T::Time, "400ns", "0ps", "1ms", {},
         "IOMMU time to execute one ranged page invalidation command.",
         "estimate; kernel-dma-paths.md §4.3"},
        {"platform.iommu.cmd.inv_all_latency", T::Time, "600ns", "0ps", "1ms", {},
         "IOMMU time to execute one domain-wide (all pages) invalidation command.",
         "estimate; kernel-dma-paths.md §4.3"},
        {"platform.iommu.cmd.completion_wait_latency", T::Time, "400ns", "0ps", "1ms", {},
         "IOMMU time to execute a completion wait and store its semaphore.",
         "only published flush figure is ~0.8 us in total (Akaros, VT-d; "
         "kernel-dma-paths.md §4.3)"},
        {"platform.iommu.cmd.doorbell_latency", T::Time, "150ns", "0ps", "10us", {},
         "MMIO write of the command-queue tail.", "kernel-dma-paths.md §4.3: 0.1-0.3 us"},
        {"platform.iommu.fault_log_size", T::Int, "64", "0", "1048576", {},
         "IOMMU fault records kept (the first ones, written to DIR/faults.json); later faults are "
         "only counted (safety.faults.dropped).",
         "assumption; AMD's event log holds 512 entries (EVT_BUFFER_SIZE 8192 / 16 B)"},

        {"platform.nvme.link.gen", T::Int, "4", "1", "6", {},
         "PCIe generation of the SSD's link (without a platform.pcie topology; with one, its link's gen).", "PCIe 4.0 x4, a typical current NVMe SSD"},
        {"platform.nvme.link.lanes", T::Int, "4", "1", "16", {"1", "2", "4", "8", "16"},
         "PCIe lanes of the SSD's link (without a platform.pcie topology).", "PCIe 4.0 x4, a typical current NVMe SSD"},
        {"platform.nvme.link.latency", T::Time, "250ns", "0ps", "10us", {},
         "One-way link latency between root port and SSD (without a platform.pcie topology).", "assumption"},
        {"platform.nvme.link.max_payload", T::Size, "256B", "128B", "4KiB", {},
         "PCIe Max_Payload_Size: data bytes per write or completion TLP.",
         "common platform setting"},
        {"platform.nvme.link.max_read_request", T::Size, "512B", "128B", "4KiB", {},
         "PCIe Max_Read_Request_Size: bytes per read request TLP.", "common platform setting"},
        {"platform.nvme.link.tlp_overhead", T::Size, "24B", "0B", "64B", {},
         "Header and framing bytes per TLP.",
         "4-DW header 16 B + STP token 4 B + LCRC 4 B (PCIe 3.0+ framing)"},
        {"platform.nvme.queue_depth", T::Int, "1024", "2", "65536", {},
         "Entries per I/O submission and completion queue.",
         "Linux nvme io_queue_depth module parameter default"},
        {"platform.nvme.controller.cores", T::Int, "4", "1", "64", {},
         "Controller firmware cores that process commands in parallel.", "assumption"},
        {"platform.nvme.controller.cmd_latency", T::Time, "1500ns", "0ps", "1ms", {},
         "Firmware time per command.", "assumption"},
        {"platform.nvme.flash.channels", T::Int, "8", "1", "64", {},
         "NAND channels.", "typical 8-channel NVMe controller"},
        {"platform.nvme.flash.dies_per_channel", T::Int, "4", "1", "64", {},
         "NAND dies on each channel.", "assumption"},
        {"platform.nvme.flash.read_latency", T::Time, "45us", "1us", "10ms", {},
         "NAND page read time (tR).", "tR of TLC NAND"},
        {"platform.nvme.flash.program_latency", T::Time, "12us", "1us", "10ms", {},
         "Time to accept a write into the SSD's write cache.", "assumption"},
        {"platform.nvme.flash.channel_bandwidth", T::Bandwidth, "1.2GB/s", "1MB/s", "100GB/s", {},
         "Transfer bandwidth of one NAND channel.", "ONFI 4.x: 1200 MT/s x 8 bit"},
        {"platform.nvme.flash.page_size", T::Size, "16KiB", "4KiB", "64KiB", {},
         "NAND page size; the unit of a flash read.", "TLC NAND page"},
        {"platform.nvme.capacity", T::Size, "1TiB", "1MiB", "1PiB", {},
         "Namespace capacity.", "assumption"},
        {"platform.nvme.msix.coalesce_count", T::Int, "0", "0", "255", {},
         "Completions that trigger an interrupt when coalescing (0 = off).",
         "NVMe Interrupt Coalescing feature, off by default"},
        {"platform.nvme.msix.coalesce_time", T::Time, "0ps", "0ps", "25500us", {},
         "Longest a completion waits for coalescing (spec: 100 us units, at most 255).",
         "NVMe Interrupt Coalescing feature, off by default"},
        {"platform.nvme.msi_latency", T::Time, "300ns", "0ps", "10us", {},
         "From the device's MSI write to the core's interrupt entry.", "assumption"},

        // ---- the Wi-Fi NIC (issue 3): an mt7921-like 802.11ax card on PCIe Gen2 x1
        {"platform.wifi.present", T::Bool, "false", "", "", {},
         "Fit the Wi-Fi NIC wifi0 (mt7921-like, mt76 driver); iperf workloads use it.",
         "off: the headline platform has the SSD only"},
        {"platform.wifi.phy.standard", T::Enum, "he", "", "", {"he", "vht"},
         "PHY: he = 802.11ax (HE), vht = 802.11ac (VHT).", "mt7921 is an 802.11ax 2x2 chip"},
        {"platform.wifi.phy.width", T::Freq, "80MHz", "20MHz", "160MHz", {},
         "Channel width: 20, 40, 80 or 160 MHz.", "80 MHz, the common 5 GHz AP setting"},
        {"platform.wifi.phy.nss", T::Int, "2", "1", "8", {},
         "Spatial streams.", "mt7921: 2x2"},
        {"platform.wifi.phy.mcs", T::Int, "11", "0", "11", {},
         "Modulation and coding scheme (fixed; no rate control). VHT stops at 9.",
         "HE MCS 11 (1024-QAM 5/6), the best case close to the AP"},
        {"platform.wifi.phy.gi", T::Enum, "0.8us", "", "", {"0.4us", "0.8us", "1.6us", "3.2us"},
         "Guard interval: HE 0.8/1.6/3.2 us, VHT 0.8 or 0.4 (short GI).",
         "IEEE 802.11-2020 §27.3.6 (HE), §21.3.6 (VHT)"},
        {"platform.wifi.link.gen", T::Int, "2", "1", "6", {},
         "PCIe generation of the NIC's link (without a platform.pcie topology).", "mt7921 (M.2 2230): PCIe 2.0 x1"},
        {"platform.wifi.link.lanes", T::Int, "1", "1", "16", {"1", "2", "4", "8", "16"},
         "PCIe lanes of the NIC's link (without a platform.pcie topology).", "mt7921 (M.2 2230): PCIe 2.0 x1"},
        {"platform.wifi.link.latency", T::Time, "250ns", "0ps", "10us", {},
         "One-way link latency between root port and NIC (without a platform.pcie topology).", "assumption, as the SSD's"},
        {"platform.wifi.link.max_payload", T::Size, "128B", "128B", "4KiB", {},
         "PCIe Max_Payload_Size of the NIC.", "assumption: 128 B, common for x1 endpoints"},
        {"platform.wifi.link.max_read_request", T::Size, "512B", "128B", "4KiB", {},
         "PCIe Max_Read_Request_Size of the NIC.", "common platform setting"},
        {"platform.wifi.link.tlp_overhead", T::Size, "24B", "0B", "64B", {},
         "Header and framing bytes per TLP.", "4-DW header + framing; PCIe 2.0 uses 8b/10b"},
        {"platform.wifi.tx_ring_size", T::Int, "2048", "8", "65536", {},
         "Descriptors of the data TX ring.", "MT7921_TX_RING_SIZE (mt7921/mt7921.h)"},
        {"platform.wifi.rx_ring_size", T::Int, "1536", "8", "65536", {},
         "Descriptors of the main RX ring (frames and TX-free events).",
         "MT7921_RX_RING_SIZE (mt7921/mt7921.h)"},
        {"platform.wifi.rx_buf_size", T::Size, "2KiB", "2KiB", "4KiB", {},
         "RX buffer per descriptor, cut from page_pool pages. At least 2 KiB: it must hold a "
         "received frame (RXD 24 B + Ethernet header 14 B + workloads.*.packet_size, at most "
         "2000 B) and a TX-free event of up to 256 ids (1040 B); no multi-buffer RX is modelled.",
         "MT_RX_BUF_SIZE (mt76_connac)"},
        {"platform.wifi.page_pool_size", T::Int, "256", "1", "65536", {},
         "Pages the RX page_pool keeps for recycling.",
         "mt76_create_page_pool: 256 for the main RX ring"},
        {"platform.wifi.tokens", T::Int, "8192", "128", "65536", {},
         "TX tokens (packets in flight between map and TX-free).", "MT7921_TOKEN_SIZE"},
        {"platform.wifi.napi_budget", T::Int, "64", "1", "4096", {},
         "RX buffers one NAPI poll handles before it yields and polls again.",
         "NAPI_POLL_WEIGHT"},
        {"platform.wifi.threaded_napi", T::Bool, "false", "", "", {},
         "Run the NAPI poll in its kthread (thread priority) instead of the softirq after the "
         "interrupt.", "Linux default: softirq NAPI (/sys/class/net/*/threaded = 0)"},
        {"platform.wifi.irq_cpu", T::Int, "0", "0", "255", {},
         "Core that takes the NIC's MSI and runs its NAPI poll.", "assumption: irqbalance's pick"},
        {"platform.wifi.fw_latency", T::Time, "2us", "0ps", "1ms", {},
         "WFDMA and firmware time per TX descriptor before its data is fetched.", "assumption"},
        {"platform.wifi.tx_free_latency", T::Time, "20us", "0ps", "10ms", {},
         "From the BlockAck to the TX-free event on the RX ring.", "assumption"},
        {"platform.wifi.msi_latency", T::Time, "300ns", "0ps", "10us", {},
         "From the NIC's MSI write to the core's interrupt entry.", "assumption, as the SSD's"},
        {"platform.wifi.rx_fifo", T::Int, "256", "0", "65536", {},
         "Frames the chip holds while no RX buffer is posted; more are dropped.", "assumption"},
        {"platform.wifi.ap_queue", T::Int, "1024", "1", "1000000", {},
         "Packets the AP queues per paced RX flow; more are dropped.", "assumption"},

        // ---- the DMA benchmark engine (issue 4, models/dmabench): pcie-bench-like
        {"platform.dmabench.present", T::Bool, "false", "", "", {},
         "Fit dmabench0, a pcie-bench-like DMA engine; a workload of type dmabench drives it.",
         "off: the headline platform has the SSD only"},
        {"platform.dmabench.page_size", T::Enum, "4KiB", "", "", {"4KiB", "2MiB"},
         "IOMMU page size the kernel maps the engine's buffer with (strict, lazy); off and "
         "passthrough use physical addresses.",
         "4 KiB, what the DMA API maps a streaming buffer with"},
        {"platform.dmabench.mode", T::Enum, "benchmark", "", "", {"benchmark", "rogue"},
         "benchmark: DMAs within the buffer the kernel mapped for it. rogue: no driver maps it "
         "anything; it DMAs to random addresses below platform.memory.size, each marked as "
         "stray, and counts the errors it gets back.",
         "benchmark: a well-behaved engine"},
        {"platform.dmabench.link.gen", T::Int, "3", "1", "6", {},
         "PCIe generation of the engine's link (without a platform.pcie topology).",
         "pcie-bench's NetFPGA SUME and NFP-6000 boards: PCIe 3.0 x8"},
        {"platform.dmabench.link.lanes", T::Int, "8", "1", "16", {"1", "2", "4", "8", "16"},
         "PCIe lanes of the engine's link (without a platform.pcie topology).",
         "pcie-bench's NetFPGA SUME and NFP-6000 boards: PCIe 3.0 x8"},
        {"platform.dmabench.link.latency", T::Time, "250ns", "0ps", "10us", {},
         "One-way link latency between root port and engine (without a platform.pcie topology).",
         "assumption, as the SSD's"},
        {"platform.dmabench.link.max_payload", T::Size, "256B", "128B", "4KiB", {},
         "PCIe Max_Payload_Size of the engine.", "common platform setting"},
        {"platform.dmabench.link.max_read_request", T::Size, "512B", "128B", "4KiB", {},
         "PCIe Max_Read_Request_Size of the engine.", "common platform setting"},
        {"platform.dmabench.link.tlp_overhead", T::Size, "24B", "0B", "64B", {},
         "Header and framing bytes per TLP.",
         "4-DW header 16 B + STP token 4 B + LCRC 4 B (PCIe 3.0+ framing)"},

        {"platform.pcie.switch_latency", T::Time, "150ns", "0ps", "10us", {},
         "Port-to-port (cut-through) traversal of a PCIe switch, each way (with a topology that "
         "has switches).",
         "assumption: switch vendors quote on the order of 100-150 ns"},
        {"platform.pcie.nodes.*.kind", T::Enum, "endpoint", "", "",
         {"root_complex", "root_port", "switch", "endpoint"},
         "What the topology node is. Endpoints named like a device of the platform (nvme0) are "
         "that device; others only take part in IOMMU groups. Without any nodes and links, each "
         "device sits alone on a root port.",
         "the PCIe hierarchy"},
        {"platform.pcie.nodes.*.acs", T::Bool, "false", "", "", {},
         "Switches: Access Control Services on the downstream ports, so that the devices below "
         "can be isolated (separate IOMMU groups).",
         "assumption: consumer switches often lack ACS"},
        {"platform.pcie.nodes.*.functions", T::Int, "1", "1", "8", {},
         "Endpoints: PCI functions of the device; they share one IOMMU group.",
         "a single-function device"},
        {"platform.pcie.links.*.upstream", T::Str, "", "", "", {},
         "Node at the upstream end of the link (the root complex, a root port or a switch).",
         "required"},
        {"platform.pcie.links.*.downstream", T::Str, "", "", "", {},
         "Node at the downstream end of the link.", "required"},
        {"platform.pcie.links.*.gen", T::Int, "4", "1", "6", {},
         "PCIe generation of the link (not for a link from the root complex: its internal path "
         "has a latency only).",
         "PCIe 4.0, current platforms"},
        {"platform.pcie.links.*.lanes", T::Int, "4", "1", "16", {"1", "2", "4", "8", "16"},
         "Lanes of the link (not for a link from the root complex).", "assumption"},
        {"platform.pcie.links.*.latency", T::Time, "250ns", "0ps", "10us", {},
         "One-way latency of the link. A link from the root complex to a root port stands for "
         "the root complex's internal path: it adds this latency but is not a contended link.",
         "assumption, as platform.nvme.link.latency"},

        {"kernel.iova.magazine_size", T::Int, "127", "1", "4096", {},
         "IOVAs per rcache magazine.", "IOVA_MAG_SIZE (drivers/iommu/iova.c)"},
        {"kernel.iova.depot_max", T::Int, "32", "0", "4096", {},
         "Full magazines kept in each size class's depot.", "MAX_GLOBAL_MAGS, v6.6"},
        {"kernel.iova.pci_32bit_workaround", T::Bool, "true", "", "", {},
         "Allocate IOVAs below 4 GiB first, as Linux does for PCI devices.",
         "Linux default unless iommu.forcedac=1 (kernel-dma-paths.md §2)"},
        {"kernel.flush_queue.size", T::Int, "256", "2", "65536", {},
         "Entries per per-CPU flush queue (one fewer are usable).",
         "IOVA_DEFAULT_FQ_SIZE (drivers/iommu/dma-iommu.c)"},
        {"kernel.flush_queue.timeout", T::Time, "10ms", "1us", "10s", {},
         "Flush timer armed by the first unmap queued after a flush.",
         "IOVA_DEFAULT_FQ_TIMEOUT (drivers/iommu/dma-iommu.c)"},
        {"kernel.iommu.poll_interval", T::Time, "1us", "1ns", "1ms", {},
         "Delay between polls of the completion-wait semaphore.",
         "udelay(1) in wait_on_sem (drivers/iommu/amd/iommu.c)"},

        // DMA safety (issue 4): fault injection on nvme0 (models/common/dma_inject.h)
        {"safety.inject.nvme0.kind", T::Enum, "none", "", "",
         {"none", "use_after_unmap", "random_iova", "write_readonly"},
         "Make nvme0 issue stray DMAs (DmaExt intent Stray, counted in safety.stray): "
         "use_after_unmap re-DMAs a completed command's first data page `delay` after its "
         "completion (a write for a read, a read for a write); random_iova writes 4 KiB at a "
         "random page below the memory size; write_readonly writes into a write command's "
         "read-only (DMA_TO_DEVICE) buffer while it runs.",
         "off: a well-behaved device"},
        {"safety.inject.nvme0.every", T::Int, "100", "1", "1000000000000", {},
         "One eligible command in this many misbehaves (write_readonly: write commands only).",
         "assumption: rare enough not to change the workload"},
        {"safety.inject.nvme0.count", T::Int, "0", "0", "1000000000000", {},
         "At most this many stray DMAs (0 = no limit).", "simulator default"},
        {"safety.inject.nvme0.start", T::Time, "0ps", "0ps", "1000s", {},
         "No stray DMA before this simulated time.", "simulator default"},
        {"safety.inject.nvme0.delay", T::Time, "10us", "0ps", "100ms", {},
         "use_after_unmap: time from the command's completion (CQE posted) to the stray DMA; the "
         "driver's interrupt and unmap take a few us.",
         "assumption: after the unmap, well before the 10 ms lazy flush timer"},

        // ... and on wifi0 (its TX packets)
        {"safety.inject.wifi0.kind", T::Enum, "none", "", "",
         {"none", "use_after_unmap", "random_iova", "write_readonly"},
         "Make wifi0 issue stray DMAs for one TX packet in `every`: use_after_unmap reads the "
         "packet's buffer again `delay` after the TX-free event that makes the driver unmap it; "
         "random_iova writes 4 KiB at a random page below the memory size; write_readonly writes "
         "into the packet's read-only (DMA_TO_DEVICE) buffer after fetching it. Needs "
         "platform.wifi.present.",
         "off: a well-behaved device"},
        {"safety.inject.wifi0.every", T::Int, "100", "1", "1000000000000", {},
         "One TX packet in this many misbehaves.", "assumption: rare enough not to change the "
         "workload"},
        {"safety.inject.wifi0.count", T::Int, "0", "0", "1000000000000", {},
         "At most this many stray DMAs (0 = no limit).", "simulator default"},
        {"safety.inject.wifi0.start", T::Time, "0ps", "0ps", "1000s", {},
         "No stray DMA before this simulated time.", "simulator default"},
        {"safety.inject.wifi0.delay", T::Time, "10us", "0ps", "100ms", {},
         "use_after_unmap: time from the TX-free event to the stray read; the driver's NAPI poll "
         "unmaps the buffer a few us after the event.",
         "assumption: after the unmap, well before the 10 ms lazy flush timer"},

        // VFIO type1 (models/vfio): the container of the process a device is assigned to.
        {"kernel.vfio.rlimit_memlock", T::Size, "0B", "0B", "16TiB", {},
         "RLIMIT_MEMLOCK of the VFIO process: VFIO_IOMMU_MAP_DMA fails (-ENOMEM) beyond it "
         "(0 = unlimited).",
         "0: SPDK and QEMU run as root or with CAP_IPC_LOCK (libvirt raises it to the guest "
         "size); the Linux default for a user is 8 MiB"},
        {"kernel.vfio.dma_entry_limit", T::Int, "65535", "1", "2147483647", {},
         "Mappings (vfio_dma) per container; MAP_DMA beyond fails with -ENOSPC.",
         "vfio_iommu_type1 dma_entry_limit module parameter default (U16_MAX)"},
        {"kernel.vfio.fgsp", T::Bool, "true", "", "", {},
         "Fine-grained super pages: unmapping 4 KiB of a larger leaf removes the whole leaf, so "
         "vfio_unmap_unpin makes one iommu_iova_to_phys per leaf (AMD v1); false: one per 4 KiB "
         "page plus one per run (Intel VT-d).",
         "vfio_test_domain_fgsp; true on AMD v1, the IOMMU modelled here"},
        // clang-format on
    };

    for (const Cost& c : kCosts) {
        std::string what = *c.what ? c.what : std::string("Cycles per call of ") + c.name + ".";
        p.push_back({std::string("kernel.cost.") + c.name,
                     T::Cycles,
                     c.cycles,
                     "0",
                     "10000000",
                     {},
                     what,
                     kCostSource});
    }

    std::vector<Param> jobs = {
        // clang-format off
        {"workloads.*.type", T::Enum, "fio", "", "", {"fio", "iperf", "vm", "dmabench"},
         "Kind of workload. fio: block I/O on nvme0, as fio (see ioengine). "
         "iperf: UDP flows through the mt76 Wi-Fi driver, as iperf -u. vm: a VM whose guest "
         "memory is mapped for the assigned device (nvme0 or an idle dmabench0) through VFIO at start and unmapped at "
         "the end. dmabench: drives the DMA benchmark engine dmabench0 (transfers of `transfer` "
         "bytes in `window`, pattern and direction from rw, iodepth in flight).",
         "fio, the usual storage benchmark"},
        {"workloads.*.device", T::Enum, "nvme0", "", "", {"nvme0", "wifi0", "dmabench0"},
         "Device the job issues its I/O to: nvme0 (fio) or wifi0 (iperf, needs "
         "platform.wifi.present), dmabench0 (dmabench, needs platform.dmabench.present); for a vm, the "
         "device assigned to it (nvme0, or dmabench0 when no workload drives it).",
         "the platform's one NVMe SSD"},
        {"workloads.*.rw", T::Enum, "randread", "", "", {"read", "write", "randread", "randwrite"},
         "I/O pattern, as fio's rw option (dmabench: the transfers' direction and order).", "4 KiB random read, the IOMMU-sensitive case"},
        {"workloads.*.bs", T::Size, "4KiB", "512B", "8MiB", {},
         "Size of each I/O.", "4 KiB random read, the IOMMU-sensitive case"},
        {"workloads.*.iodepth", T::Int, "32", "1", "65536", {},
         "I/Os in flight per job (dmabench: transfers in flight).", "assumption: a deep queue, as in SSD benchmarks"},
        {"workloads.*.jobs", T::Int, "1", "1", "256", {},
         "Copies of the job; copy i runs on core (first_cpu + i) mod platform.cpu.cores.",
         "fio numjobs default"},
        {"workloads.*.first_cpu", T::Int, "0", "0", "255", {},
         "Core of the job's first copy.", "assumption"},
        {"workloads.*.size", T::Size, "1GiB", "4KiB", "1PiB", {},
         "Region of the device the job addresses, from offset 0.", "assumption"},
        {"workloads.*.ios", T::Int, "0", "0", "1000000000000", {},
         "I/Os per job copy (dmabench: transfers; 0 = until sim.duration).", "simulator default: run for sim.duration"},
        {"workloads.*.verify", T::Bool, "false", "", "", {},
         "Check that every block read carries its LBA's pattern at the page the driver mapped.",
         "fio verify; needs platform.memory.backing_store"},
        // VFIO workloads (models/vfio, models/workload/spdk.h, vm.h)
        {"workloads.*.ioengine", T::Enum, "libaio", "", "", {"libaio", "spdk"},
         "libaio: the kernel NVMe driver (syscalls, DMA API per I/O, interrupts); spdk: SPDK's "
         "userspace driver through VFIO (the device is bound to vfio-pci; buffers mapped once; "
         "completions polled, the job's core busy 100 %).",
         "fio's libaio engine; SPDK's fio plugin"},
        {"workloads.*.guest_memory", T::Size, "4GiB", "2MiB", "1000GiB", {},
         "type vm: guest RAM mapped with VFIO_IOMMU_MAP_DMA (below 2 GiB at IOVA 0, the rest at "
         "4 GiB, as QEMU's q35; at most up to AMD's reserved HyperTransport hole at 1012 GiB).",
         "assumption: a small VM"},
        {"workloads.*.hugepage_fraction", T::Float, "1", "0", "1", {},
         "type vm: share of the guest RAM's 2 MiB chunks backed by 2 MiB pages (the rest are "
         "scattered 4 KiB pages).",
         "QEMU with THP or hugetlbfs backing; 0 models fragmented 4 KiB memory"},
        {"workloads.*.hold", T::Time, "0ps", "0ps", "1000s", {},
         "type vm: time the mapping is held before the teardown (0 = until the end of the run).",
         "simulator default"},
        // iperf jobs (type: iperf); `jobs` and `first_cpu` give the flows and their cores
        {"workloads.*.direction", T::Enum, "tx", "", "", {"tx", "rx"},
         "iperf: tx sends from the host (iperf client), rx receives from the AP (iperf server).",
         "iperf client, the IOMMU-heavy direction (a map and an unmap per packet)"},
        {"workloads.*.packet_size", T::Size, "1500B", "64B", "2000B", {},
         "iperf: IP packet size (UDP payload + 28).", "a full Ethernet MTU"},
        {"workloads.*.rate", T::Bandwidth, "0B/s", "0B/s", "100Gb/s", {},
         "iperf: IP bits per second per flow (iperf -b); 0 = as fast as the socket allows.",
         "saturating, as iperf -b 0"},
        {"workloads.*.sndbuf", T::Size, "208KiB", "4KiB", "64MiB", {},
         "iperf tx: the socket's send buffer; packets in flight are sndbuf / skb truesize.",
         "net.core.wmem_default (212992)"},
        // DMA benchmark jobs (type: dmabench); rw gives direction and pattern, iodepth the
        // transfers in flight, ios a count (0 = until sim.duration)
        {"workloads.*.transfer", T::Size, "64B", "1B", "64KiB", {},
         "dmabench: bytes per DMA transfer (cut at 4 KiB boundaries into separate requests).",
         "64 B, pcie-bench's smallest transfer and the most IOTLB-sensitive"},
        {"workloads.*.window", T::Size, "1MiB", "1B", "1TiB", {},
         "dmabench: bytes of the host buffer the transfers address (cut into transfer-sized "
         "slots, taken in order for read/write, at random for randread/randwrite).",
         "assumption: 1 MiB, the default IOTLB's reach (256 x 4 KiB)"},
        // clang-format on
    };
    p.insert(p.end(), jobs.begin(), jobs.end());
    return p;
}

} // namespace

const std::vector<Param>& schema() {
    static const std::vector<Param> table = build();
    return table;
}

} // namespace iosim::cfg
