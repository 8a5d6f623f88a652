// The IOMMU as a TLM model (AMD-Vi-like, 4-level tables, one command queue).
//
// Sockets: in_dma (upstream DMA from the PCIe side), out_mem (translated DMA to DRAM), out_walk
// (page-table reads to DRAM), in_regs (command-queue tail writes from the CPU).
//
// Translation (strict, lazy): IOTLB lookup; on a miss a page walk that first consults the walk
// caches for the upper levels (PML4E, PDPTE, PDE) and then reads every missing level through
// out_walk, one timed 8-byte read each, on one of `walker_slots` walkers. A missing mapping or a
// permission violation blocks the DMA with TLM_ADDRESS_ERROR_RESPONSE and a fault record.
// Passthrough: the identity domain, DMA passes with no lookup (except for a device attached as
// unmanaged: a VFIO group keeps its translated domain). Off: the platform does not put the
// IOMMU in the DMA path at all.
//
// Command queue: invalidate-pages, invalidate-all and completion-wait are executed one after the
// other by one command processor (a Resource), each with its own latency. An invalidation takes
// effect in the IOTLB and walk caches when it is written (functional); its latency is the
// processor's time. A completion wait reports when the IOMMU stores the semaphore.
//
// Not modelled: ATS/device IOTLBs, interrupt remapping, PASIDs, nested translation, the event log
// in memory (faults are kept in a bounded in-model log), the command buffer filling up.
#pragma once
#include "models/common/resource.h"
#include "models/common/tlm_ext.h"
#include "models/common/trace.h"
#include "models/iommu/io_page_table.h"
#include "models/iommu/iotlb.h"
#include "models/iommu/set_assoc_cache.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

enum class IommuMode : std::uint8_t { Off, Passthrough, Strict, Lazy };
const char* to_string(IommuMode m);
IommuMode iommu_mode_from(const std::string& s);

struct IommuParams {
    IommuMode mode = IommuMode::Lazy;
    IotlbParams iotlb;
    Time iotlb_hit_latency = 5 * kNs;
    unsigned walk_cache_entries = 64; // per level; 0 disables the walk caches
    unsigned walk_cache_ways = 4;
    unsigned walker_slots = 4;
    Time walk_read_overhead = 60 * kNs;
    Time inv_pages_latency = 400 * kNs;
    Time inv_all_latency = 600 * kNs;
    Time completion_wait_latency = 400 * kNs;
    Time doorbell_latency = 150 * kNs;
    unsigned fault_log_size = 64;
};

struct IommuFault {
    std::uint16_t requester_id;
    std::uint64_t iova;
    bool write;
    enum class Reason : std::uint8_t { NotPresent, NoDomain, Permission } reason;
    Time at;
};
const char* to_string(IommuFault::Reason r);

class Iommu : public sc_core::sc_module {
public:
    static constexpr std::uint64_t kRegCmdTail = 0x2008; // AMD MMIO_CMD_TAIL_OFFSET

    tlm_utils::multi_passthrough_target_socket<Iommu> in_dma; // one binding per PCIe path
    tlm_utils::simple_initiator_socket<Iommu> out_mem;
    tlm_utils::simple_initiator_socket<Iommu> out_walk;
    tlm_utils::simple_target_socket<Iommu> in_regs;

    Iommu(const sc_core::sc_module_name& name, const IommuParams& p);

    // Device table: requester -> domain. The page table is owned by the kernel's domain.
    // `unmanaged`: an IOMMU_DOMAIN_UNMANAGED domain (a group assigned to VFIO), which replaces
    // the identity domain under passthrough too; other attachments are ignored in passthrough.
    void attach(std::uint16_t requester_id, std::uint16_t domain, const IoPageTable* table,
                bool unmanaged = false);
    IommuMode mode() const { return p_.mode; }
    const Iotlb& iotlb() const { return iotlb_; }
    Iotlb& iotlb_mut() { return iotlb_; } // for the stats registry (reset at warm-up)
    const std::vector<IommuFault>& faults() const { return fault_log_; }
    unsigned fault_log_size() const { return p_.fault_log_size; }
    // The kernel cleared the PTEs of [iova, iova + size) in `domain` (iommu_unmap_fast): the
    // IOTLB entries caching them are marked stale, so that a DMA still translating through one is
    // counted (stale_iotlb_hits). Bookkeeping only: no timing, no hardware state changes.
    void ptes_cleared(std::uint16_t domain, std::uint64_t iova, std::uint64_t size) {
        iotlb_.mark_stale(domain, iova, size);
    }
    // Write walks (per walker slot), IOTLB hits, commands and the IOTLB occupancy to a trace
    // (nullptr: stop). Not owned.
    void set_trace(TraceWriter* t);

    // Counters, named as in DESIGN.md's stats contract.
    std::uint64_t translations = 0; // DMAs that needed translation
    std::uint64_t passthrough = 0;  // DMAs passed untranslated (identity domain)
    std::uint64_t walks = 0, walk_reads = 0;
    std::array<std::uint64_t, 3> walk_cache_hits{}, walk_cache_misses{}; // PML4E, PDPTE, PDE
    Time walk_ps = 0, walk_wait_ps = 0;
    std::uint64_t cmd_total = 0, cmd_inv_pages = 0, cmd_inv_all = 0, cmd_completion_waits = 0;
    Time cmd_busy_ps = 0;
    std::uint64_t faults_total = 0, faults_dropped = 0;
    // Safety statistics (safety.*): faults by reason (IommuFault::Reason order; by requester: the
    // RequesterCounters below), DMAs that hit a stale IOTLB entry, and the DMAs marked
    // DmaExt::Intent::Stray: seen here, blocked (a fault), translated through a stale IOTLB entry,
    // through a present mapping.
    std::array<std::uint64_t, 3> faults_by_reason{};
    std::uint64_t stale_iotlb_hits = 0;
    std::uint64_t stray_seen = 0, stray_blocked = 0, stray_via_stale = 0, stray_via_mapping = 0;
    std::uint64_t stray_reached = 0; // forwarded to memory and answered OK

    // Hardware-style performance counters (stats iommu.pmu.*; README "Hardware-style counters").
    // IOTLB hits by the page size of the entry hit, IOTLB fills (a walk found a present leaf and
    // inserted it), and the fills of 2 MiB leaves.
    std::uint64_t hits_4k = 0, hits_2m = 0, fills = 0, fills_2m = 0;
    // Per requester, as the AMD IOMMU PMU counts with a devid filter: one slot per registered
    // requester (register_requester, for the platform's devices only), slot 0 for any other.
    struct RequesterCounters {
        std::uint64_t translations = 0, passthrough = 0, lookups = 0, hits = 0, misses = 0;
        std::uint64_t walks = 0, walk_reads = 0, faults = 0;
    };
    // Gives `requester_id` counters of its own (idempotent); returns its slot. Register every
    // requester at elaboration, before anything keeps a pointer into requester_counters().
    unsigned register_requester(std::uint16_t requester_id);
    std::vector<RequesterCounters>& requester_counters() { return pmu_; }
    const RequesterCounters& counters_of(std::uint16_t requester_id) const {
        return pmu_[devices_[requester_id].pmu];
    }

private:
    struct DeviceEntry {
        bool valid = false;
        std::uint16_t domain = 0;
        const IoPageTable* table = nullptr;
        bool unmanaged = false;
        std::uint16_t pmu = 0; // slot in pmu_ (0: not registered)
    };

    void dma(int port, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // Walk for `iova`; returns the walk result and advances `t` (absolute) past the reads.
    IoPageTable::Walk walk(const DeviceEntry& dev, std::uint64_t iova, Time& t);
    void fault(tlm::tlm_generic_payload& tx, std::uint16_t rid, IommuFault::Reason r, Time at);
    void trace_xlate(bool walk, unsigned slot, Time b, Time e, unsigned reads);
    void trace_occupancy();

    IommuParams p_;
    Iotlb iotlb_;
    // Walk caches for the non-leaf levels: value = physical address of the next table.
    std::vector<SetAssocCache<std::uint64_t>> walk_cache_;
    std::vector<Time> walker_free_at_;
    Resource cmd_proc_;
    std::vector<DeviceEntry> devices_;
    std::vector<IommuFault> fault_log_;
    std::vector<RequesterCounters> pmu_{1}; // [0]: requesters without counters of their own
    tlm::tlm_generic_payload walk_tx_;
    std::uint64_t walk_buf_ = 0;
    TraceWriter* trace_ = nullptr;
};

} // namespace iosim
