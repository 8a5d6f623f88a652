// Platform::register_stats: every model's counters in the one Stats registry, under the names of
// DESIGN.md's output contract and the README's Outputs table (workloads, iommu, kernel, cpu,
// devices, pcie, memory, vfio).
#include "sim/platform.h"

#include "models/common/event_queue.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace iosim {

namespace {

std::string key_of(Fn f) {
    return std::string(fn_name(f));
}

std::string fmt_rid(std::uint16_t rid) { // rid:0xBBDF (bus, device, function)
    char b[16];
    std::snprintf(b, sizeof b, "rid:0x%04x", rid);
    return b;
}

} // namespace

void Platform::register_stats() {
    Stats& s = stats_;
    auto window_s = [this] { return to_s(window_end - window_start); };

    // workloads.<name>
    for (auto& w : workloads_)
        w->register_stats(s, window_s);

    // iommu
    Iommu* mmu = iommu_.get();
    s.text("iommu.mode", [mmu] { return std::string(to_string(mmu->mode())); });
    Iotlb& tlb = mmu->iotlb_mut();
    s.counter("iommu.iotlb.lookups", &tlb.lookups);
    s.counter("iommu.iotlb.hits", &tlb.hits);
    s.counter("iommu.iotlb.misses", &tlb.misses);
    s.value("iommu.iotlb.hit_rate",
            [&tlb] { return tlb.lookups ? std::round(1e6 * tlb.hits / tlb.lookups) / 1e6 : 0.0; });
    s.value("iommu.iotlb.entries_used", [&tlb] { return tlb.occupancy(); });
    s.counter("iommu.translations", &mmu->translations);
    s.counter("iommu.passthrough", &mmu->passthrough);
    s.counter("iommu.walk.walks", &mmu->walks);
    s.counter("iommu.walk.memory_reads", &mmu->walk_reads);
    static const char* kLevels[] = {"pml4e", "pdpte", "pde"};
    for (int l = 0; l < 3; ++l) {
        s.counter(std::string("iommu.walk.cache.") + kLevels[l] + ".hits",
                  &mmu->walk_cache_hits[l]);
        s.counter(std::string("iommu.walk.cache.") + kLevels[l] + ".misses",
                  &mmu->walk_cache_misses[l]);
    }
    s.time_ns("iommu.walk.busy_ns", &mmu->walk_ps);
    s.time_ns("iommu.walk.wait_ns", &mmu->walk_wait_ps);
    s.counter("iommu.invalidation.commands", &mmu->cmd_total);
    s.counter("iommu.invalidation.invalidate_pages", &mmu->cmd_inv_pages);
    s.counter("iommu.invalidation.invalidate_all", &mmu->cmd_inv_all);
    s.counter("iommu.invalidation.completion_waits", &mmu->cmd_completion_waits);
    IommuDriver* drv = drv_.get();
    s.time_ns("iommu.invalidation.wait_ns", &drv->wait_ps);
    s.time_ns("iommu.invalidation.lock_spin_ns", &drv->lock_spin_ps);
    s.time_ns("iommu.invalidation.busy_ns", &mmu->cmd_busy_ps);
    s.counter("iommu.faults", &mmu->faults_total);
    s.counter("iommu.faults_dropped", &mmu->faults_dropped);

    // iommu.pmu: hardware-style counters, named as the real PMUs name them (README "Hardware-style
    // counters" gives each event's meaning, its model quantity and its source). Only events the
    // model counts faithfully; a model quantity appears under each name that counts it.
    s.counter("iommu.pmu.hits_4k", &mmu->hits_4k);
    s.counter("iommu.pmu.hits_2m", &mmu->hits_2m);
    s.counter("iommu.pmu.fills", &mmu->fills);
    s.counter("iommu.pmu.fills_2m", &mmu->fills_2m);
    const std::string amd = "iommu.pmu.amd.", intel = "iommu.pmu.intel.";
    auto count = [&s](const std::string& name, const std::uint64_t* v) {
        s.value(name, [v] { return static_cast<double>(*v); });
    };
    count(amd + "mem_pass_untrans", &mmu->passthrough);
    count(amd + "mem_target_abort", &mmu->faults_total);
    count(amd + "mem_trans_total", &mmu->translations);
    count(amd + "mem_iommu_tlb_pte_hit", &mmu->hits_4k);
    count(amd + "mem_iommu_tlb_pde_hit", &mmu->hits_2m);
    s.value(amd + "mem_iommu_tlb_pte_mis",
            [&tlb, mmu] { return static_cast<double>(tlb.misses - mmu->fills_2m); });
    count(amd + "mem_iommu_tlb_pde_mis", &mmu->fills_2m);
    count(amd + "page_tbl_read_tot", &mmu->walk_reads);
    count(amd + "cmd_processed", &mmu->cmd_total);
    s.value(amd + "cmd_processed_inv",
            [mmu] { return static_cast<double>(mmu->cmd_inv_pages + mmu->cmd_inv_all); });
    count(intel + "UNC_IIO_IOMMU0.FIRST_LOOKUPS", &tlb.lookups);
    count(intel + "UNC_IIO_IOMMU0.4K_HITS", &mmu->hits_4k);
    count(intel + "UNC_IIO_IOMMU0.2M_HITS", &mmu->hits_2m);
    count(intel + "UNC_IIO_IOMMU0.MISSES", &mmu->fills);
    count(intel + "UNC_IIO_IOMMU1.NUM_MEM_ACCESSES", &mmu->walk_reads);
    // pcm-iio's page-walk-cache events (event 0x41, umask 0x08 / 0x04 / 0x02)
    count(intel + "pcm_iio.512G_Cache_Hit", &mmu->walk_cache_hits[0]);
    count(intel + "pcm_iio.1G_Cache_Hit", &mmu->walk_cache_hits[1]);
    count(intel + "pcm_iio.2M_Cache_Hit", &mmu->walk_cache_hits[2]);
    // Per requester (the AMD PMU's devid filter); `other`: requesters without counters.
    auto& per = mmu->requester_counters();
    auto by_device = [&s, &per](const std::string& dev, std::size_t slot) {
        const std::string k = "iommu.pmu.by_device." + dev + ".";
        Iommu::RequesterCounters* r = &per[slot];
        s.counter(k + "translations", &r->translations);
        s.counter(k + "passthrough", &r->passthrough);
        s.counter(k + "lookups", &r->lookups);
        s.counter(k + "hits", &r->hits);
        s.counter(k + "misses", &r->misses);
        s.counter(k + "walks", &r->walks);
        s.counter(k + "walk_reads", &r->walk_reads);
        s.counter(k + "faults", &r->faults);
    };
    by_device("other", 0);
    for (const auto& [dev, rid] : pmu_devices_)
        by_device(dev, mmu->register_requester(rid));

    // kernel
    DmaApi* d = dma_.get();
    s.counter("kernel.dma.map_calls", &d->map_calls);
    s.counter("kernel.dma.unmap_calls", &d->unmap_calls);
    s.counter("kernel.dma.map_sg_calls", &d->map_sg_calls);
    s.counter("kernel.dma.unmap_sg_calls", &d->unmap_sg_calls);
    s.counter("kernel.dma.ptes_mapped", &d->ptes_mapped);
    s.counter("kernel.dma.ptes_unmapped", &d->ptes_unmapped);
    s.counter("kernel.iova.alloc_fast", &d->iova_alloc_fast);
    s.counter("kernel.iova.alloc_slow", &d->iova_alloc_slow);
    s.counter("kernel.iova.alloc_failed", &d->iova_alloc_failed);
    s.time_ns("kernel.iova.rbtree_lock_spin_ns", &d->iova_rbtree_lock_spin_ps);
    s.counter("kernel.flush_queue.flushes", &d->fq_flushes);
    s.counter("kernel.flush_queue.flushes_full", &d->fq_flushes_full);
    s.counter("kernel.flush_queue.flushes_timer", &d->fq_flushes_timer);
    s.counter("kernel.flush_queue.entries", &d->fq_entries);
    s.counter("kernel.flush_queue.freed", &d->fq_freed);

    // cpu
    Cpu* cpu = cpu_.get();
    for (unsigned i = 0; i < cpu->cores(); ++i) {
        s.value("cpu.core." + std::to_string(i) + ".utilization", [this, cpu, i] {
            const double w = static_cast<double>(window_end - window_start);
            return w > 0 ? std::round(1e6 * cpu->busy_ps[i] / w) / 1e6 : 0.0;
        });
    }
    auto busy_total = [cpu] {
        std::uint64_t b = 0;
        for (auto v : cpu->busy_ps)
            b += v;
        return b;
    };
    s.value("cpu.cores", [cpu] { return cpu->cores(); });
    s.value("cpu.utilization", [this, cpu, busy_total] {
        const double w = static_cast<double>(window_end - window_start) * cpu->cores();
        return w > 0 ? std::round(1e6 * busy_total() / w) / 1e6 : 0.0;
    });
    s.value("cpu.busy_ns", [busy_total] { return std::round(to_ns(busy_total())); });
    s.value("cpu.ns_per_io", [this, busy_total] {
        const std::uint64_t n = ios_completed();
        return n ? std::round(to_ns(busy_total()) / n) : 0.0;
    });
    s.counter("cpu.irqs", &cpu->irqs);
    s.counter("cpu.work_items", &cpu->items);
    KernelAccounting& acct = cpu->accounting();
    for (std::size_t i = 0; i < kFnCount; ++i) {
        if (fn_stack_only(static_cast<Fn>(i))) continue; // never accounted (--stacks only)
        const std::string name = key_of(static_cast<Fn>(i));
        s.time_ns("cpu.busy_ns_by_function." + name, &acct.excl_ps[i]);
        s.time_ns("cpu.inclusive_ns_by_function." + name, &acct.incl_ps[i]);
        s.counter("cpu.calls_by_function." + name, &acct.calls[i]);
    }
    s.on_reset([cpu] { cpu->reset_busy(sim_now()); });

    // devices and links
    NvmeCtrl* n = nvme_.get();
    s.counter("devices.nvme0.commands", &n->commands);
    s.counter("devices.nvme0.reads", &n->reads);
    s.counter("devices.nvme0.writes", &n->writes);
    s.counter("devices.nvme0.bytes_read", &n->bytes_read);
    s.counter("devices.nvme0.bytes_written", &n->bytes_written);
    s.counter("devices.nvme0.sqe_fetches", &n->sqe_fetches);
    s.counter("devices.nvme0.msis", &n->msis);
    s.counter("devices.nvme0.dma_errors", &n->dma_errors);
    if (wifi_) {
        // devices.wifi0: the NIC and its air; kernel.mt76: the driver
        Mt7921* w = wifi_.get();
        const std::string k = "devices.wifi0.";
        s.counter(k + "tx_packets", &w->tx_packets);
        s.counter(k + "tx_bytes", &w->tx_bytes);
        s.counter(k + "tx_ampdus", &w->tx_ampdus);
        s.counter(k + "tx_subframes", &w->tx_subframes);
        s.counter(k + "rx_packets", &w->rx_packets);
        s.counter(k + "rx_bytes", &w->rx_bytes);
        s.counter(k + "rx_ampdus", &w->rx_ampdus);
        s.counter(k + "rx_subframes", &w->rx_subframes);
        s.counter(k + "rx_dropped", &w->rx_dropped);
        s.counter(k + "ap_dropped", &w->ap_dropped);
        s.counter(k + "tx_free_events", &w->tx_free_events);
        s.counter(k + "desc_fetches", &w->desc_fetches);
        s.counter(k + "msis", &w->msis);
        s.counter(k + "dma_errors", &w->dma_errors);
        s.counter(k + "stale_doorbells", &w->stale_doorbells);
        // Airtime inside the window: the access running at the reset counts from there on, the
        // one running at the end only up to it.
        s.on_reset([w] {
            const Time now = sim_now();
            w->air_busy_ps = w->air_busy_until() > now ? w->air_busy_until() - now : 0;
        });
        auto air_in_window = [w, this] {
            const Time over =
                w->air_busy_until() > window_end ? w->air_busy_until() - window_end : 0;
            return static_cast<double>(w->air_busy_ps - over);
        };
        s.value(k + "air_busy_ns", [air_in_window] { return std::round(air_in_window() / 1e3); });
        s.value(k + "air_utilization", [air_in_window, this] {
            const double win = static_cast<double>(window_end - window_start);
            return win > 0 ? std::round(1e6 * air_in_window() / win) / 1e6 : 0.0;
        });
        s.value(k + "ampdu_subframes_mean", [w] {
            const std::uint64_t n = w->tx_ampdus + w->rx_ampdus;
            return n ? std::round(100.0 * (w->tx_subframes + w->rx_subframes) / n) / 100 : 0.0;
        });
        s.value(k + "phy_rate_bits_per_s", [w] { return std::round(w->air().phy_rate_bps()); });
        Mt76Driver* m = wifi_drv_.get();
        s.counter("kernel.mt76.tx_queued", &m->tx_queued);
        s.counter("kernel.mt76.tx_busy", &m->tx_busy);
        s.counter("kernel.mt76.tx_free_events", &m->tx_free_events);
        s.counter("kernel.mt76.tx_free_unmaps", &m->tx_free_unmaps);
        s.counter("kernel.mt76.tx_freed", &m->tx_freed);
        s.counter("kernel.mt76.tx_cleaned", &m->tx_cleaned);
        s.counter("kernel.mt76.rx_frames", &m->rx_frames);
        s.counter("kernel.mt76.irqs", &m->irqs);
        s.counter("kernel.mt76.napi_polls", &m->napi_polls);
        s.counter("kernel.mt76.napi_budget_hits", &m->napi_budget_hits);
        // page_pool keeps its own totals: report what happened after the warm-up
        s.value("kernel.mt76.page_pool.maps",
                [m, this] { return static_cast<double>(m->page_pool().maps() - pool_maps0_); });
        s.value("kernel.mt76.page_pool.unmaps",
                [m, this] { return static_cast<double>(m->page_pool().unmaps() - pool_unmaps0_); });
        s.value("kernel.mt76.page_pool.recycled", [m, this] {
            return static_cast<double>(m->page_pool().recycled() - pool_recycled0_);
        });
        s.value("kernel.mt76.page_pool.pages_in_flight",
                [m] { return static_cast<double>(m->page_pool().pages_in_flight()); });
        s.on_reset([m, this] {
            pool_maps0_ = m->page_pool().maps();
            pool_unmaps0_ = m->page_pool().unmaps();
            pool_recycled0_ = m->page_pool().recycled();
        });
    }
    if (dmabench_) {
        // devices.dmabench0: the DMA benchmark engine (models/dmabench)
        DmaBench* b = dmabench_.get();
        const std::string k = "devices.dmabench0.";
        s.counter(k + "transfers", &b->transfers);
        s.counter(k + "bytes", &b->bytes);
        s.counter(k + "requests", &b->pieces);
        s.counter(k + "dma_errors", &b->dma_errors);
        s.counter(k + "stray_dmas", &b->stray_dmas);
        s.value(k + "max_outstanding", [b] { return b->max_outstanding; });
        s.text(k + "mode", [b] { return std::string(b->params().rogue ? "rogue" : "benchmark"); });
        const std::string page = dmabench_page_size_, addresses = dmabench_addresses_;
        s.text(k + "page_size", [page] { return page; });
        s.text(k + "addresses", [addresses] { return addresses; });
        const DmaBenchBuffer buf = dmabench_buf_;
        s.value(k + "buffer_bytes", [buf] { return static_cast<double>(buf.bytes); });
        s.value(k + "buffer_leaves", [buf] { return buf.leaves; });
    }
    for (auto& seg : segments_) {
        if (!seg) continue;
        PcieSegment* l = seg.get();
        const std::string k = "pcie." + l->name + ".";
        s.counter(k + "up_bytes", &l->up_bytes);
        s.counter(k + "down_bytes", &l->down_bytes);
        s.value(k + "up_utilization", [l, this] {
            const double w = static_cast<double>(window_end - window_start);
            return w > 0 ? std::round(1e6 * l->up_busy_ps / w) / 1e6 : 0.0;
        });
        s.value(k + "down_utilization", [l, this] {
            const double w = static_cast<double>(window_end - window_start);
            return w > 0 ? std::round(1e6 * l->down_busy_ps / w) / 1e6 : 0.0;
        });
        s.on_reset([l] { l->up_busy_ps = l->down_busy_ps = 0; });
    }
    for (const std::string& dev : topo_.topology.endpoints()) {
        const int g = topo_.topology.group_of(dev);
        s.value("pcie.iommu_group." + dev, [g] { return g; });
        // The path as the topology gives it: one-way latency (links and switches) and the
        // narrowest link's bytes/s per direction (the root complex's internal edge excluded).
        const DevicePath& p = topo_.topology.path(dev);
        const double lat = std::round(to_ns(p.latency)), bw = std::round(p.bandwidth);
        s.value("pcie.path." + dev + ".latency_ns", [lat] { return lat; });
        s.value("pcie.path." + dev + ".bytes_per_s", [bw] { return bw; });
    }
    Memory* m = mem_.get();
    s.counter("memory.reads", &m->reads);
    s.counter("memory.writes", &m->writes);
    s.counter("memory.read_bytes", &m->read_bytes);
    s.counter("memory.write_bytes", &m->write_bytes);
    s.time_ns("memory.busy_ns", &m->busy_ps);
    register_safety_stats();
    register_vfio_stats();
    if (!nvme_drv_) return; // nvme0 bound to vfio-pci
    NvmeDriver* nd = nvme_drv_.get();
    s.counter("kernel.nvme.submitted", &nd->submitted);
    s.counter("kernel.nvme.completed", &nd->completed);
    s.counter("kernel.nvme.errors", &nd->errors);
    s.counter("kernel.nvme.irqs", &nd->irqs);
    s.counter("kernel.nvme.cq_doorbells", &nd->cq_doorbells);
}

// ---------------------------------------------------------------- DMA safety (issue 4)
// safety.*: IOMMU faults by reason and device, where the DMAs marked Intent::Stray (fault
// injection, a rogue engine) ended, stale IOTLB hits, and the window from unmap to invalidation.

std::string Platform::device_name(std::uint16_t rid) const {
    auto it = device_names_.find(rid);
    return it != device_names_.end() ? it->second : fmt_rid(rid);
}

nlohmann::json Platform::fault_log() const {
    nlohmann::json j;
    // Counted since the warm-up reset (the drain included); the log keeps the run's first faults.
    j["total"] = iommu_->faults_total;
    j["dropped"] = iommu_->faults_dropped;
    j["log_size"] = iommu_->fault_log_size();
    nlohmann::json recs = nlohmann::json::array();
    for (const IommuFault& f : iommu_->faults()) {
        char iova[32];
        std::snprintf(iova, sizeof iova, "0x%llx", static_cast<unsigned long long>(f.iova));
        recs.push_back({{"device", device_name(f.requester_id)},
                        {"requester_id", fmt_rid(f.requester_id).substr(4)},
                        {"iova", iova},
                        {"access", f.write ? "write" : "read"},
                        {"reason", to_string(f.reason)},
                        {"time_ns", f.at / kNs}});
    }
    j["faults"] = std::move(recs);
    return j;
}

void Platform::register_safety_stats() {
    Stats& s = stats_;
    Iommu* mmu = iommu_.get();
    Memory* mem = mem_.get();
    const bool translated = mmu->mode() == IommuMode::Strict || mmu->mode() == IommuMode::Lazy;
    // off and passthrough: no translation, so nothing stops a DMA to memory that was unmapped.
    s.value("safety.unprotected", [translated] { return translated ? 0.0 : 1.0; });
    s.value("safety.faults.total", [mmu] { return static_cast<double>(mmu->faults_total); });
    s.value("safety.faults.dropped", [mmu] { return static_cast<double>(mmu->faults_dropped); });
    for (unsigned r = 0; r < 3; ++r)
        s.counter(std::string("safety.faults.by_reason.") +
                      to_string(static_cast<IommuFault::Reason>(r)),
                  &mmu->faults_by_reason[r]);
    // By device: the per-requester counters (iommu.pmu.by_device.<dev>.faults) under their names.
    for (const auto& [name, rid] : pmu_devices_)
        s.value("safety.faults.by_device." + name,
                [mmu, rid = rid] { return static_cast<double>(mmu->counters_of(rid).faults); });
    s.on_reset([mmu, mem] {
        // read through values (safety.stray.issued, reached_memory), not counters
        mmu->stray_seen = mmu->stray_reached = mem->stray_reached = 0;
    });
    // With the IOMMU off nothing upstream of memory sees a DMA's intent: memory counts them, and
    // its count is the number issued (the stray addresses are inside memory). Otherwise the
    // IOMMU counts what it forwarded and memory answered.
    const bool off = mmu->mode() == IommuMode::Off;
    s.value("safety.stray.issued", [mmu, mem, off] {
        return static_cast<double>(off ? mem->stray_reached : mmu->stray_seen);
    });
    s.counter("safety.stray.blocked", &mmu->stray_blocked);
    s.value("safety.stray.reached_memory", [mmu, mem, off] {
        return static_cast<double>(off ? mem->stray_reached : mmu->stray_reached);
    });
    s.counter("safety.stray.via_stale_iotlb", &mmu->stray_via_stale);
    s.counter("safety.stray.via_mapping", &mmu->stray_via_mapping);
    s.counter("safety.stray.corrupted_reused_memory", &mem->stray_corrupted_reused);
    // Whether the reuse check ran (it needs the backing store: platform.memory.backing_store).
    const bool reuse = page_owners_ != nullptr;
    s.value("safety.reuse_tracked", [reuse] { return reuse ? 1.0 : 0.0; });
    s.counter("safety.stale_iotlb_hits", &mmu->stale_iotlb_hits);
    s.histogram("safety.lazy_window_ns", &dma_->lazy_window_ns);
    s.counter("devices.nvme0.stray_dmas", &nvme_->stray_issued);
    if (wifi_) {
        s.counter("devices.wifi0.tx_dma_dropped", &wifi_->tx_dma_dropped);
        s.counter("devices.wifi0.stray_dmas", &wifi_->stray_issued);
    }
}

// ---------------------------------------------------------------- VFIO (issue 3)
// nvme0 bound to vfio-pci and assigned to one workload's process: SPDK's userspace driver
// (ioengine spdk) or a VM (type vm). The process gets a type1 container whose unmanaged domain
// the device's requester id points at (translated in passthrough, strict and lazy alike: VFIO
// domains are not DMA domains, iommu.strict does not apply), or, under mode off, vfio-pci's
// no-IOMMU mode (physical addresses, nothing mapped).

void Platform::register_vfio_stats() {
    if (!vfio_) return;
    Stats& s = stats_;
    VfioDriver* v = vfio_.get();
    // Totals of the run, warm-up included: the set-up (MAP_DMA at start) is not steady state and
    // would otherwise be erased by the reset.
    auto n = [&s](const std::string& name, const std::uint64_t* p) {
        s.value(name, [p] { return static_cast<double>(*p); });
    };
    s.text("vfio.device", [this] { return vfio_device_; });
    s.value("vfio.group", [this] { return vfio_group_; });
    s.text("vfio.owner", [this] { return vfio_owner_; });
    s.text("vfio.mode", [v] {
        return std::string(v->noiommu() ? "no-IOMMU (enable_unsafe_noiommu_mode: the user programs "
                                          "physical addresses; pages pinned, nothing mapped)"
                                        : "type1 (an unmanaged, translated domain for the group)");
    });
    s.text("vfio.strict_applies", [] {
        return std::string("no (VFIO domains are unmanaged: iommu.strict and lazy do not apply)");
    });
    n("vfio.map_dma_calls", &v->map_dma_calls);
    n("vfio.unmap_dma_calls", &v->unmap_dma_calls);
    n("vfio.pages_pinned", &v->pages_pinned);
    n("vfio.pages_unpinned", &v->pages_unpinned);
    n("vfio.leaves_mapped", &v->leaves_mapped);
    n("vfio.leaves_unmapped", &v->leaves_unmapped);
    n("vfio.iova_to_phys_calls", &v->iova_to_phys_calls);
    n("vfio.iotlb_syncs", &v->iotlb_syncs);
    s.value("vfio.map_ns", [v] { return std::round(to_ns(v->map_ps)); });
    s.value("vfio.unmap_ns", [v] { return std::round(to_ns(v->unmap_ps)); });
}

} // namespace iosim
