#include "models/iommu/iommu.h"

#include "models/common/event_queue.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace iosim {

const char* to_string(IommuMode m) {
    switch (m) {
    case IommuMode::Off:
        return "off";
    case IommuMode::Passthrough:
        return "passthrough";
    case IommuMode::Strict:
        return "strict";
    case IommuMode::Lazy:
        return "lazy";
    }
    return "?";
}

IommuMode iommu_mode_from(const std::string& s) {
    if (s == "off") return IommuMode::Off;
    if (s == "passthrough") return IommuMode::Passthrough;
    if (s == "strict") return IommuMode::Strict;
    if (s == "lazy") return IommuMode::Lazy;
    throw std::invalid_argument("unknown IOMMU mode '" + s + "'");
}

const char* to_string(IommuFault::Reason r) {
    switch (r) {
    case IommuFault::Reason::NotPresent:
        return "not_present";
    case IommuFault::Reason::NoDomain:
        return "no_domain";
    case IommuFault::Reason::Permission:
        return "permission";
    }
    return "?";
}

// Shift of the IOVA bits that select an entry at walk depth 0 (root), 1, 2.
static constexpr unsigned kLevelShift[3] = {39, 30, 21};

Iommu::Iommu(const sc_core::sc_module_name& name, const IommuParams& p)
    : sc_core::sc_module(name), in_dma("in_dma"), out_mem("out_mem"), out_walk("out_walk"),
      in_regs("in_regs"), p_(p), iotlb_(p.iotlb), walker_free_at_(std::max(1u, p.walker_slots), 0),
      devices_(65536) {
    in_dma.register_b_transport(this, &Iommu::dma);
    in_regs.register_b_transport(this, &Iommu::regs);
    if (p.walk_cache_entries > 0) {
        for (unsigned i = 0; i < 3; ++i)
            walk_cache_.emplace_back(p.walk_cache_entries,
                                     std::min(p.walk_cache_ways, p.walk_cache_entries),
                                     CachePolicy::Lru, p.iotlb.seed + 1 + i);
    }
    fault_log_.reserve(p.fault_log_size);
    walk_tx_.set_data_ptr(reinterpret_cast<unsigned char*>(&walk_buf_));
    walk_tx_.set_data_length(8);
    walk_tx_.set_streaming_width(8);
    walk_tx_.set_byte_enable_ptr(nullptr);
    walk_tx_.set_dmi_allowed(false);
}

void Iommu::set_trace(TraceWriter* t) {
    trace_ = t;
    if (!t) return;
    t->process(TraceWriter::kPidIommu, "IOMMU", 1);
    t->thread(TraceWriter::kPidIommu, TraceWriter::kTidCmdQueue, "command queue", 0);
    for (unsigned s = 0; s < walker_free_at_.size(); ++s)
        t->thread(TraceWriter::kPidIommu, TraceWriter::kTidWalker + s,
                  "walker " + std::to_string(s), static_cast<int>(1 + s));
}

// A translation the DMA in flight (TraceWriter::dma_begin) points its arrow at: a walk on its
// walker slot's track (one after the other there), or an IOTLB hit as an async slice (hits
// overlap). The arrow exists when the translation is in the window.
void Iommu::trace_xlate(bool walk, unsigned slot, Time b, Time e, unsigned reads) {
    const std::uint64_t flow = trace_->dma_flow();
    const auto dir = flow ? TraceWriter::Flow::In : TraceWriter::Flow::None;
    bool written;
    if (walk) {
        char args[32];
        std::snprintf(args, sizeof(args), "\"reads\":%u", reads);
        written = trace_->slice(TraceWriter::kPidIommu, TraceWriter::kTidWalker + slot, "xlate",
                                "page walk", b, e, args, flow, dir);
    } else {
        written = trace_->async(TraceWriter::kPidIommu, "xlate", "IOTLB hit",
                                flow ? flow : trace_->new_id(), b, e, {}, flow, dir);
    }
    if (written && flow) trace_->xlate_traced(e);
}

// Valid IOTLB entries, sampled when they change, at the SystemC time of the change (the IOTLB
// changes when the call happens, ahead of the annotated times, which are not in order).
void Iommu::trace_occupancy() {
    trace_->counter(TraceWriter::kPidIommu, "IOTLB entries", sim_now(), iotlb_.occupancy());
}

void Iommu::attach(std::uint16_t requester_id, std::uint16_t domain, const IoPageTable* table,
                   bool unmanaged) {
    DeviceEntry& e = devices_[requester_id];
    e.valid = true;
    e.domain = domain;
    e.table = table;
    e.unmanaged = unmanaged;
}

unsigned Iommu::register_requester(std::uint16_t requester_id) {
    DeviceEntry& e = devices_[requester_id];
    if (e.pmu == 0) {
        e.pmu = static_cast<std::uint16_t>(pmu_.size());
        pmu_.emplace_back();
    }
    return e.pmu;
}

void Iommu::fault(tlm::tlm_generic_payload& tx, std::uint16_t rid, IommuFault::Reason r, Time at) {
    ++faults_total;
    ++pmu_[devices_[rid].pmu].faults;
    ++faults_by_reason[static_cast<unsigned>(r)];
    if (auto* ext = tx.get_extension<DmaExt>(); ext && ext->intent == DmaExt::Intent::Stray)
        ++stray_blocked;
    if (fault_log_.size() < p_.fault_log_size) {
        fault_log_.push_back({rid, tx.get_address(), tx.is_write(), r, at});
    } else {
        ++faults_dropped;
    }
    tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

IoPageTable::Walk Iommu::walk(const DeviceEntry& dev, std::uint64_t iova, Time& t) {
    IoPageTable::Walk w = dev.table->walk(iova);
    ++walks;

    // Deepest cached non-leaf entry first, as the hardware's page-directory caches are probed.
    unsigned first = 0;
    if (!walk_cache_.empty()) {
        for (int d = 2; d >= 0; --d) {
            if (w.levels_read <= static_cast<unsigned>(d) + 1)
                continue; // entry is a leaf or absent
            if (walk_cache_[d].lookup(dev.domain, iova >> kLevelShift[d])) {
                ++walk_cache_hits[d];
                first = static_cast<unsigned>(d) + 1;
                break;
            }
            ++walk_cache_misses[d];
        }
    }

    // One walker slot for the whole walk.
    auto slot = std::min_element(walker_free_at_.begin(), walker_free_at_.end());
    const Time start = std::max(t, *slot);
    walk_wait_ps += start - t;
    const Time now = sim_now();
    Time cur = start;
    for (unsigned d = first; d < w.levels_read; ++d) {
        walk_tx_.set_command(tlm::TLM_READ_COMMAND);
        walk_tx_.set_address(w.entry_addr[d]);
        walk_tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_core::sc_time dl = to_sc(cur - now);
        out_walk->b_transport(walk_tx_, dl);
        cur = now + dl.value() + p_.walk_read_overhead;
        ++walk_reads;
    }
    *slot = cur;
    RequesterCounters& pc = pmu_[dev.pmu];
    ++pc.walks;
    pc.walk_reads += w.levels_read - first;
    if (trace_)
        trace_xlate(true, static_cast<unsigned>(slot - walker_free_at_.begin()), start, cur,
                    w.levels_read - first);
    walk_ps += cur - start;
    t = cur;

    if (!walk_cache_.empty()) {
        for (unsigned d = first; d < 3 && d + 1 < w.levels_read; ++d)
            walk_cache_[d].insert(dev.domain, iova >> kLevelShift[d], w.table_phys[d + 1]);
    }
    return w;
}

void Iommu::dma(int, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    auto* ext = tx.get_extension<DmaExt>();
    const std::uint16_t rid = ext ? ext->requester_id : 0;
    const bool stray = ext && ext->intent == DmaExt::Intent::Stray;
    stray_seen += stray;
    // Passthrough: the identity domain for every device, except one attached to an unmanaged
    // domain with a page table (a group assigned to VFIO: iommu_attach_group replaces the default
    // identity domain, as Linux does under iommu.passthrough=1).
    RequesterCounters& pc = pmu_[devices_[rid].pmu];
    if (p_.mode == IommuMode::Passthrough && !(devices_[rid].valid && devices_[rid].unmanaged)) {
        ++passthrough;
        ++pc.passthrough;
        out_mem->b_transport(tx, delay);
        if (stray) stray_reached += tx.is_response_ok();
        return;
    }
    const std::uint64_t iova = tx.get_address();
    const Time now = sim_now();
    Time t = now + delay.value();
    ++translations;
    ++pc.translations;

    const DeviceEntry& dev = devices_[rid];
    if (!dev.valid) {
        if (ext) ext->xlate = DmaExt::Xlate::Fault;
        fault(tx, rid, IommuFault::Reason::NoDomain, t);
        return;
    }

    std::uint64_t phys_base;
    unsigned shift;
    std::uint8_t perm;
    bool stale = false;
    t += p_.iotlb_hit_latency;
    ++pc.lookups;
    if (const Translation* tr = iotlb_.lookup(dev.domain, iova)) {
        ++pc.hits;
        ++(tr->page_shift == 12 ? hits_4k : hits_2m);
        if (trace_) trace_xlate(false, 0, t - p_.iotlb_hit_latency, t, 0);
        phys_base = tr->phys_base;
        shift = tr->page_shift;
        perm = tr->perm;
        if (ext) ext->xlate = DmaExt::Xlate::Hit;
        stale = tr->stale; // the kernel already cleared this PTE: only the IOTLB still has it
    } else {
        ++pc.misses;
        IoPageTable::Walk w = walk(dev, iova, t);
        if (!w.present) {
            if (ext) ext->xlate = DmaExt::Xlate::Fault;
            fault(tx, rid, IommuFault::Reason::NotPresent, t);
            delay = to_sc(t - now);
            return;
        }
        shift = w.page_shift;
        phys_base = w.phys & ~((std::uint64_t{1} << shift) - 1);
        perm = w.perm;
        iotlb_.insert(dev.domain, iova,
                      Translation{phys_base, static_cast<std::uint8_t>(shift), perm, false});
        ++fills;
        if (shift != 12) ++fills_2m;
        if (trace_) trace_occupancy();
        if (ext) ext->xlate = DmaExt::Xlate::Walk;
    }
    if ((tx.is_write() && !(perm & kPermWrite)) || (tx.is_read() && !(perm & kPermRead))) {
        if (ext) ext->xlate = DmaExt::Xlate::Fault;
        fault(tx, rid, IommuFault::Reason::Permission, t);
        delay = to_sc(t - now);
        return;
    }
    stale_iotlb_hits += stale;
    if (stray) ++(stale ? stray_via_stale : stray_via_mapping);
    const std::uint64_t mask = (std::uint64_t{1} << shift) - 1;
    tx.set_address(phys_base | (iova & mask));
    delay = to_sc(t - now);
    out_mem->b_transport(tx, delay);
    if (stray) stray_reached += tx.is_response_ok();
    tx.set_address(iova);
}

void Iommu::regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    if (tx.get_address() != kRegCmdTail || !tx.is_write() ||
        tx.get_data_length() != sizeof(IommuCommand)) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    auto* cmd = reinterpret_cast<IommuCommand*>(tx.get_data_ptr());
    const Time arrival = sim_now() + delay.value() + p_.doorbell_latency;
    Time service = 0;
    switch (cmd->op) {
    case IommuCommand::Op::InvalidatePages:
        ++cmd_inv_pages;
        service = p_.inv_pages_latency;
        iotlb_.invalidate_range(cmd->domain, cmd->iova, cmd->size);
        // PDE=1 (as the Linux AMD driver sets it): cached directory entries whose region
        // overlaps the range go too, at every level.
        for (std::size_t d = 0; d < walk_cache_.size(); ++d) {
            const unsigned shift = kLevelShift[d];
            if (cmd->size == 0) break;
            const std::uint64_t last =
                cmd->size - 1 > ~0ull - cmd->iova ? ~0ull : cmd->iova + cmd->size - 1;
            const std::uint64_t lo = cmd->iova >> shift, hi = last >> shift; // inclusive tags
            if (hi - lo < 16) { // a short range: probe the sets of the few tags it covers
                for (std::uint64_t tag = lo; tag <= hi; ++tag)
                    walk_cache_[d].erase(cmd->domain, tag);
            } else {
                walk_cache_[d].invalidate_if(
                    [&](std::uint16_t dom, std::uint64_t tag, const std::uint64_t&) {
                        return dom == cmd->domain && tag >= lo && tag <= hi;
                    });
            }
        }
        break;
    case IommuCommand::Op::InvalidateAll:
        ++cmd_inv_all;
        service = p_.inv_all_latency;
        iotlb_.invalidate_domain(cmd->domain);
        for (auto& c : walk_cache_)
            c.invalidate_domain(cmd->domain);
        break;
    case IommuCommand::Op::CompletionWait:
        ++cmd_completion_waits;
        service = p_.completion_wait_latency;
        break;
    }
    ++cmd_total;
    cmd_busy_ps += service;
    auto g = cmd_proc_.acquire(arrival, service);
    cmd->complete_at = g.end;
    if (trace_) {
        static constexpr const char* kName[] = {"INVALIDATE_IOMMU_PAGES", "INVALIDATE_IOMMU_ALL",
                                                "COMPLETION_WAIT"};
        trace_->slice(TraceWriter::kPidIommu, TraceWriter::kTidCmdQueue, "iommu_cmd",
                      kName[static_cast<unsigned>(cmd->op)], g.start, g.end);
        if (cmd->op != IommuCommand::Op::CompletionWait) trace_occupancy();
    }
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

} // namespace iosim
