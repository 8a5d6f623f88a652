#include "models/vfio/vfio_type1.h"

#include <algorithm>
#include <iterator>
#include <sstream>
#include <utility>

namespace iosim {

namespace {

constexpr std::uint64_t k4K = 1ull << 12;
constexpr std::uint64_t k2M = 1ull << 21;
constexpr std::size_t kTlbSyncMax = 512;      // VFIO_IOMMU_TLB_SYNC_MAX
constexpr std::uint64_t kPinBatchPages = 512; // VFIO_BATCH_MAX_CAPACITY: one page of pointers

constexpr std::string_view kNames[] = {
#define IOSIM_X(name) #name,
    IOSIM_VFIO_FNS(IOSIM_X)
#undef IOSIM_X
};

std::string hex(std::uint64_t v) {
    std::ostringstream s;
    s << "0x" << std::hex << v;
    return s.str();
}

std::string range(std::uint64_t iova, std::uint64_t bytes) {
    return "[" + hex(iova) + ", " + hex(iova + bytes) + ")";
}

using Code = VfioError::Code;

// __iommu_map over a table with 4 KiB and 2 MiB pages: iommu_pgsize picks the largest page that
// fits the size and the alignment of iova | phys, and a count of them that stops where the next
// larger page could start (only if iova and phys are equally offset in it); each step is one
// ops->map_pages. Returns false, having mapped a prefix, if the table refuses a step.
bool iommu_map(IoPageTable& pt, std::uint64_t iova, std::uint64_t phys, std::uint64_t size,
               std::uint8_t prot, VfioContainer::MapResult& r, std::uint64_t& mapped) {
    mapped = 0;
    while (size) {
        const std::uint64_t merge = iova | phys;
        std::uint64_t pg = k4K, count = size / k4K;
        if (size >= k2M && (merge & (k2M - 1)) == 0) {
            pg = k2M; // no larger size: every whole 2 MiB that remains
            count = size / k2M;
        } else if (((iova ^ phys) & (k2M - 1)) == 0) {
            const std::uint64_t offset = k2M - (merge & (k2M - 1));
            if (offset + k2M <= size) count = offset / k4K;
        }
        const IoPageTable::MapResult m = pt.map(iova, phys, pg * count, prot, pg == k2M);
        if (!m.ok || m.ptes_written != count) return false;
        ++r.calls[VfioFn::iommu_v1_map_pages];
        ++r.map_pages_calls;
        r.ptes_written += count;
        (pg == k2M ? r.leaves_2m : r.leaves_4k) += count;
        r.tables_allocated += m.tables_allocated;
        if (m.tables_freed) ++r.map_flushes;
        iova += pg * count;
        phys += pg * count;
        size -= pg * count;
        mapped += pg * count;
    }
    return true;
}

} // namespace

std::string_view vfio_fn_name(VfioFn f) {
    return kNames[static_cast<std::size_t>(f)];
}

VfioCalls& VfioCalls::operator+=(const VfioCalls& o) {
    for (std::size_t i = 0; i < kVfioFnCount; ++i)
        n[i] += o.n[i];
    return *this;
}

VfioContainer::VfioContainer(IoPageTable& domain, UserMemory& mm, VfioParams params)
    : domain_(domain), mm_(mm), params_(std::move(params)) {}

void VfioContainer::attach_group(unsigned group, const std::vector<std::string>& members,
                                 const std::vector<std::string>& requested) {
    const std::string g = "group " + std::to_string(group);
    if (members.empty()) throw VfioError(Code::kInval, g + " has no devices");
    if (groups_.count(group)) throw VfioError(Code::kBusy, g + " is already in this container");
    auto has = [](const std::vector<std::string>& v, const std::string& s) {
        return std::find(v.begin(), v.end(), s) != v.end();
    };
    for (const std::string& d : requested)
        if (!has(members, d))
            throw VfioError(Code::kInval, "device " + d + " is not in IOMMU " + g);
    // vfio_group_viable: every device of the group must be bound to a vfio driver.
    for (const std::string& d : members)
        if (!has(requested, d))
            throw VfioError(Code::kNotViable,
                            g + " is not viable: device " + d +
                                " is not bound to vfio-pci; an IOMMU group is assigned whole");
    if (groups_.empty()) ++calls_[VfioFn::vfio_test_domain_fgsp]; // the domain is created
    groups_.emplace(group, members);
}

VfioContainer::MapResult VfioContainer::map_dma(std::uint64_t iova, std::uint64_t vaddr,
                                                std::uint64_t bytes, std::uint8_t prot) {
    const std::string what = "VFIO_IOMMU_MAP_DMA " + range(iova, bytes);
    if (groups_.empty())
        throw VfioError(Code::kInval, what + ": no IOMMU group is attached to the container");
    if (!(prot & (kPermRead | kPermWrite)))
        throw VfioError(Code::kInval, what + ": neither read nor write permission");
    if (bytes == 0 || (bytes | iova | vaddr) & (k4K - 1))
        throw VfioError(Code::kInval, what + " from vaddr " + hex(vaddr) +
                                          ": iova, vaddr and size must be 4 KiB aligned, size "
                                          "non-zero");
    const std::uint64_t last = iova + bytes - 1;
    if (last < iova || vaddr + bytes - 1 < vaddr)
        throw VfioError(Code::kInval, what + ": the range wraps around");
    auto next = dmas_.upper_bound(last);
    if (next != dmas_.begin()) {
        const Dma& d = std::prev(next)->second;
        if (d.iova + d.size > iova)
            throw VfioError(Code::kExist, what + ": overlaps the mapping " + range(d.iova, d.size));
    }
    if (dmas_.size() >= params_.dma_entry_limit)
        throw VfioError(Code::kNoSpc, what + ": the container already holds dma_entry_limit (" +
                                          std::to_string(params_.dma_entry_limit) + ") mappings");
    if (last >= IoPageTable::kVaLimit)
        throw VfioError(Code::kInval, what + ": beyond the domain's 48-bit IOVA aperture");
    for (const IovaRange& res : params_.reserved)
        if (iova <= res.last && last >= res.first)
            throw VfioError(Code::kInval, what + ": overlaps the reserved IOVA range [" +
                                              hex(res.first) + ", " + hex(res.last) + "]");
    const std::uint64_t pages = bytes / k4K;
    if (params_.rlimit_memlock_bytes != VfioParams::kUnlimited &&
        mm_.locked_vm() + pages > params_.rlimit_memlock_bytes / k4K)
        throw VfioError(Code::kNoMem, what + ": pinning " + std::to_string(bytes) +
                                          " bytes exceeds RLIMIT_MEMLOCK (" +
                                          std::to_string(params_.rlimit_memlock_bytes) +
                                          " bytes, " + std::to_string(mm_.locked_vm() * k4K) +
                                          " already locked)");

    MapResult r;
    r.bytes = bytes;
    r.pages_pinned = pages;
    VfioCalls& c = r.calls;
    ++c[VfioFn::vfio_iommu_type1_ioctl];
    ++c[VfioFn::vfio_dma_do_map];
    ++c[VfioFn::vfio_pin_map_dma];
    const std::vector<PhysRun> runs = mm_.fault_in(vaddr, bytes);
    std::uint64_t a = iova;
    for (const PhysRun& run : runs) {
        // vfio_pin_pages_remote returns one physically contiguous run; vfio_iommu_map maps it.
        ++r.runs;
        ++c[VfioFn::vfio_pin_pages_remote];
        ++c[VfioFn::vfio_lock_acct];
        ++c[VfioFn::vfio_iommu_map];
        ++c[VfioFn::iommu_map];
        std::uint64_t mapped = 0;
        if (!iommu_map(domain_, a, run.phys, run.bytes, prot, r, mapped)) {
            // The checks above leave nothing to refuse: a simulator bug. Undo, then report.
            domain_.unmap(iova, a + mapped - iova);
            throw std::logic_error(what + ": the page table refused " + range(a, run.bytes));
        }
        a += run.bytes;
    }
    r.iommu_map_calls = r.runs;
    // The pin batch refills with min(pages left in the mapping, 512), and each is used up.
    r.pin_batches = (pages + kPinBatchPages - 1) / kPinBatchPages;
    c[VfioFn::vaddr_get_pfns] += r.pin_batches;
    c[VfioFn::pin_user_pages_remote] += r.pin_batches;
    mm_.account_locked(static_cast<std::int64_t>(pages));
    dmas_.emplace(iova, Dma{iova, vaddr, bytes, prot});
    calls_ += c;
    return r;
}

VfioContainer::UnmapResult VfioContainer::unmap_dma(std::uint64_t iova, std::uint64_t bytes) {
    const std::string what = "VFIO_IOMMU_UNMAP_DMA " + range(iova, bytes);
    if (bytes == 0 || (bytes | iova) & (k4K - 1) || iova + bytes - 1 < iova)
        throw VfioError(Code::kInval, what + ": iova and size must be 4 KiB aligned, size "
                                             "non-zero, no wrap-around");
    const std::uint64_t last = iova + bytes - 1;
    // The v2 interface unmaps whole mappings only: neither end may fall inside one.
    auto containing = [this](std::uint64_t addr) -> const Dma* {
        auto it = dmas_.upper_bound(addr);
        if (it == dmas_.begin()) return nullptr;
        const Dma& d = std::prev(it)->second;
        return addr < d.iova + d.size ? &d : nullptr;
    };
    if (const Dma* d = containing(iova); d && d->iova != iova)
        throw VfioError(Code::kInval,
                        what + ": starts inside the mapping " + range(d->iova, d->size));
    if (const Dma* d = containing(last); d && d->iova + d->size - 1 != last)
        throw VfioError(Code::kInval,
                        what + ": ends inside the mapping " + range(d->iova, d->size));

    UnmapResult r;
    synced_calls_ = synced_leaves_ = 0;
    ++r.calls[VfioFn::vfio_iommu_type1_ioctl];
    ++r.calls[VfioFn::vfio_dma_do_unmap];
    for (auto it = dmas_.lower_bound(iova); it != dmas_.end() && it->first <= last;) {
        remove_dma(it->second, r);
        it = dmas_.erase(it);
    }
    calls_ += r.calls;
    return r;
}

VfioContainer::UnmapResult VfioContainer::unmap_all() {
    UnmapResult r;
    synced_calls_ = synced_leaves_ = 0;
    ++r.calls[VfioFn::vfio_iommu_type1_ioctl];
    ++r.calls[VfioFn::vfio_dma_do_unmap];
    for (const auto& [iova, dma] : dmas_)
        remove_dma(dma, r);
    dmas_.clear();
    calls_ += r.calls;
    return r;
}

std::uint64_t VfioContainer::iova_to_phys(std::uint64_t iova, UnmapResult& r) {
    ++r.calls[VfioFn::iommu_iova_to_phys];
    ++r.iova_to_phys_calls;
    const std::optional<std::uint64_t> p = domain_.iova_to_phys(iova);
    return p ? *p : 0;
}

// vfio_remove_dma -> vfio_unmap_unpin(do_accounting = true), first (only) domain.
void VfioContainer::remove_dma(const Dma& dma, UnmapResult& r) {
    VfioCalls& c = r.calls;
    ++c[VfioFn::vfio_remove_dma];
    ++c[VfioFn::vfio_unmap_unpin];
    r.bytes += dma.size;
    ++r.dmas_removed;

    std::vector<Region> pending;
    pending.reserve(std::min<std::uint64_t>(kTlbSyncMax, dma.size / k4K));
    std::uint64_t unlocked = 0;
    const std::uint64_t end = dma.iova + dma.size;
    for (std::uint64_t iova = dma.iova; iova < end;) {
        const std::uint64_t phys = iova_to_phys(iova, r);
        if (!phys) { // WARN_ON(!phys): skip a page
            iova += k4K;
            continue;
        }
        // Without fine-grained super pages, find the physically contiguous run page by page.
        std::uint64_t len = k4K;
        for (; !params_.fgsp && iova + len < end; len += k4K)
            if (iova_to_phys(iova + len, r) != phys + len) break;

        // unmap_unpin_fast: iommu_unmap_fast removes whole leaves (no flush yet) and may return
        // more than len; the region is unpinned after the next sync.
        ++c[VfioFn::unmap_unpin_fast];
        ++c[VfioFn::iommu_unmap_fast];
        ++r.regions;
        const IoPageTable::UnmapResult u = domain_.unmap(iova, len);
        if (u.bytes_unmapped == 0) // unmap_unpin_slow would fail too: nothing is mapped here
            throw std::logic_error("vfio_unmap_unpin: nothing to unmap at " + hex(iova) +
                                   " although iommu_iova_to_phys found " + hex(phys));
        r.leaves_unmapped += u.ptes_cleared;
        pending.push_back({iova, phys, u.bytes_unmapped});
        iova += u.bytes_unmapped;
        if (pending.size() >= kTlbSyncMax) unlocked += sync_unpin(pending, r);
    }
    if (!pending.empty()) unlocked += sync_unpin(pending, r);
    ++c[VfioFn::vfio_lock_acct];
    mm_.account_locked(-static_cast<std::int64_t>(unlocked));
}

// vfio_sync_unpin: one IOTLB sync for the gathered range, then unpin every region's pages.
std::uint64_t VfioContainer::sync_unpin(std::vector<Region>& regions, UnmapResult& r) {
    VfioCalls& c = r.calls;
    ++c[VfioFn::vfio_sync_unpin];
    ++c[VfioFn::iommu_iotlb_sync];
    ++r.iotlb_syncs;
    SyncBatch b{{~0ull, 0},
                regions.size(),
                0,
                r.iova_to_phys_calls - synced_calls_,
                r.leaves_unmapped - synced_leaves_};
    synced_calls_ = r.iova_to_phys_calls;
    synced_leaves_ = r.leaves_unmapped;
    for (const Region& g : regions) {
        b.gathered.first = std::min(b.gathered.first, g.iova);
        b.gathered.last = std::max(b.gathered.last, g.iova + g.bytes - 1);
        const std::uint64_t pages = g.bytes / k4K;
        ++c[VfioFn::vfio_unpin_pages_remote];
        c[VfioFn::put_pfn] += pages;
        c[VfioFn::unpin_user_pages_dirty_lock] += pages;
        b.pages += pages;
    }
    r.pages_unpinned += b.pages;
    r.syncs.push_back(b);
    regions.clear();
    return b.pages;
}

std::uint64_t VfioContainer::mapped_bytes() const {
    std::uint64_t n = 0;
    for (const auto& [iova, d] : dmas_)
        n += d.size;
    return n;
}

} // namespace iosim
