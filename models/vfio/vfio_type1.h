// VFIO type1 IOMMU backend (drivers/vfio/vfio_iommu_type1.c, v5.15-6.x, the v2 interface),
// functional core: containers and groups, VFIO_IOMMU_MAP_DMA and VFIO_IOMMU_UNMAP_DMA over one
// IoPageTable domain. No time: each call returns what it did, counted per kernel function
// (shared/reference/kernel-dma-paths.md §5, §7), for the timing shell to charge.
//
// Map: vfio_dma_do_map checks; vfio_pin_map_dma pins the range one maximal physically contiguous
// run at a time (vfio_pin_pages_remote, batches of 512 pages through pin_user_pages_remote,
// RLIMIT_MEMLOCK per page), then vfio_iommu_map -> iommu_map per run, whose __iommu_map loop calls
// ops->map_pages once per iommu_pgsize step with the largest naturally aligned page the table has.
//
// Unmap: vfio_dma_do_unmap -> vfio_remove_dma -> vfio_unmap_unpin per covered mapping. The page
// table is the only record of the pinned pages, so the loop reads it back: iommu_iova_to_phys, then
// (only if !fgsp) one more iommu_iova_to_phys per 4 KiB page while the run stays contiguous, then
// unmap_unpin_fast (iommu_unmap_fast, no flush; a region recorded). Every 512 regions
// (VFIO_IOMMU_TLB_SYNC_MAX), and once at the end if any are pending, vfio_sync_unpin: one
// iommu_iotlb_sync (on AMD one INVALIDATE_IOMMU_PAGES over the gathered range + COMPLETION_WAIT)
// and then the unpin of every 4 KiB page of the batch.
//   fgsp (AMD v1; vfio_test_domain_fgsp finds an 8 KiB map unmapped whole): iommu_unmap_fast of
//     4 KiB removes the whole leaf, so iova_to_phys calls = regions = leaves.
//   !fgsp (Intel VT-d): calls = npages + nruns - 1 per mapping (each run's pages, plus the probe
//     that finds its end, except at the end of the mapping); regions = runs.
//   iotlb_syncs = ceil(regions / 512) per mapping. Pages unpinned = pages pinned.
// VFIO domains are IOMMU_DOMAIN_UNMANAGED: iommu.strict / lazy mode does not apply to them.
//
// Layouts that give the reference capture's 3307 iommu_iova_to_phys calls from vfio_unmap_unpin
// (bpftrace sums every ioctl of the capture; iova and vaddr 2 MiB aligned):
//   AMD, fully fragmented (f = 0): 3307 x 4 KiB = 13,545,472 B (12.9 MiB); 7 syncs.
//   AMD, mostly 2 MiB: 4 GiB + 237 x 4 KiB in one mapping with 2 of its 2048 whole chunks
//     fragmented (at f = 0.999 about 2 fragment; whether exactly 2 do depends on the seed):
//     2046 x 2 MiB + 1261 x 4 KiB leaves; 7 syncs.
//   AMD, f = 1, 3307 x 2 MiB = 6.46 GiB; 7 syncs.
//   AMD, several ioctls: e.g. 2 GiB + 2 GiB of guest RAM at f = 1 (2048 leaves) plus 4.9 MiB of
//     small fragmented regions (1259 x 4 KiB leaves).
//   Intel (!fgsp), f = 0: 1654 x 4 KiB (6.5 MiB): 1654 + 1654 - 1 = 3307; 4 syncs. (~13 MiB only if
//     physically contiguous: one 3307-page run.)
//   In general one mapping has C + 511 k + t leaves: C whole chunks, k of them fragmented, t pages
//     in partial chunks (t <= 1022). So 4 GiB exactly gives 3070 or 3581, never 3307, and 4 GiB of
//     huge pages needs 1259 more 4 KiB leaves from other mappings.
//
// Modelled as one domain per container (every group behind the same IOMMU joins it); the
// multi-domain path (plain iommu_unmap in the other domains first) is not. See README.md.
#pragma once
#include "models/iommu/io_page_table.h"
#include "models/vfio/phys_layout.h"

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iosim {

// clang-format off
#define IOSIM_VFIO_FNS(X)                                                                          \
    X(vfio_iommu_type1_ioctl)      /* per ioctl */                                                 \
    X(vfio_test_domain_fgsp)       /* once, when the first group creates the domain */             \
    X(vfio_dma_do_map)                                                                             \
    X(vfio_pin_map_dma)                                                                            \
    X(vfio_pin_pages_remote)       /* per physically contiguous run */                             \
    X(vaddr_get_pfns)              /* per batch refill of <= 512 pages */                          \
    X(pin_user_pages_remote)       /* per batch refill */                                          \
    X(vfio_lock_acct)              /* per run at map, per mapping at unmap */                      \
    X(vfio_iommu_map)              /* per run */                                                   \
    X(iommu_map)                   /* per run and domain */                                        \
    X(iommu_v1_map_pages)          /* per iommu_pgsize step of __iommu_map */                      \
    X(vfio_dma_do_unmap)                                                                           \
    X(vfio_remove_dma)             /* per mapping removed */                                       \
    X(vfio_unmap_unpin)            /* per mapping removed */                                       \
    X(iommu_iova_to_phys)          /* leaf lookups, and !fgsp probes */                            \
    X(unmap_unpin_fast)            /* per region */                                                \
    X(iommu_unmap_fast)            /* per region */                                                \
    X(vfio_sync_unpin)             /* per batch of <= 512 regions */                               \
    X(iommu_iotlb_sync)            /* per batch: one invalidation + completion wait */             \
    X(vfio_unpin_pages_remote)     /* per region */                                                \
    X(put_pfn)                     /* per 4 KiB page unpinned */                                   \
    X(unpin_user_pages_dirty_lock) /* per 4 KiB page unpinned */
// clang-format on

enum class VfioFn : std::uint8_t {
#define IOSIM_X(name) name,
    IOSIM_VFIO_FNS(IOSIM_X)
#undef IOSIM_X
        kCount
};
constexpr std::size_t kVfioFnCount = static_cast<std::size_t>(VfioFn::kCount);
std::string_view vfio_fn_name(VfioFn f);

// Calls per kernel function.
struct VfioCalls {
    std::array<std::uint64_t, kVfioFnCount> n{};
    std::uint64_t& operator[](VfioFn f) { return n[static_cast<std::size_t>(f)]; }
    std::uint64_t operator[](VfioFn f) const { return n[static_cast<std::size_t>(f)]; }
    VfioCalls& operator+=(const VfioCalls& o);
};

// The capture's stack into iommu_iova_to_phys from VFIO_IOMMU_UNMAP_DMA, innermost first
// (vfio_dma_do_unmap and vfio_iommu_type1_unmap_dma are inlined into the ioctl).
inline constexpr std::array<std::string_view, 7> kVfioUnmapStack = {
    "iommu_iova_to_phys",
    "vfio_unmap_unpin",
    "vfio_remove_dma",
    "vfio_iommu_type1_ioctl",
    "__x64_sys_ioctl",
    "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe"};

// A refused call: a user mistake, with the errno Linux returns where there is one. Nothing changed.
class VfioError : public std::runtime_error {
public:
    enum class Code {
        kInval,     // -EINVAL
        kExist,     // -EEXIST: overlaps an existing mapping
        kNoSpc,     // -ENOSPC: dma_entry_limit mappings exist
        kNoMem,     // -ENOMEM: RLIMIT_MEMLOCK
        kBusy,      // group already in the container
        kNotViable, // group not wholly bound to vfio (VFIO_GROUP_FLAGS_VIABLE clear)
    };
    VfioError(Code c, const std::string& what) : std::runtime_error(what), code_(c) {}
    Code code() const { return code_; }

private:
    Code code_;
};

// An inclusive IOVA range, as struct vfio_iova.
struct IovaRange {
    std::uint64_t first;
    std::uint64_t last;
};

struct VfioParams {
    static constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

    // Fine-grained super pages: true on AMD v1, false on Intel VT-d (vfio_test_domain_fgsp). The
    // page table here holds only 4 KiB and 2 MiB leaves, so the probe cannot be run on it: given.
    bool fgsp = true;
    // RLIMIT_MEMLOCK of the process in bytes (Linux default 8 MiB; libvirt raises it to the guest
    // size; CAP_IPC_LOCK = unlimited).
    std::uint64_t rlimit_memlock_bytes = kUnlimited;
    // vfio_iommu_type1's dma_entry_limit module parameter: vfio_dma mappings per container.
    std::uint32_t dma_entry_limit = 65535;
    // Reserved regions excluded from the valid IOVA ranges (amd_iommu_get_resv_regions): the MSI
    // window and the HyperTransport hole.
    std::vector<IovaRange> reserved = {{0xfee00000ull, 0xfeefffffull},
                                       {0xfd00000000ull, 0xffffffffffull}};
};

class VfioContainer {
public:
    struct MapResult {
        std::uint64_t bytes = 0;
        std::uint64_t pages_pinned = 0;    // 4 KiB pages, all charged to locked_vm
        std::uint64_t runs = 0;            // maximal physically contiguous runs
        std::uint64_t pin_batches = 0;     // pin_user_pages_remote calls: ceil(pages / 512)
        std::uint64_t iommu_map_calls = 0; // one per run (one domain)
        std::uint64_t map_pages_calls = 0; // iommu_v1_map_pages: one per iommu_pgsize step
        std::uint64_t ptes_written = 0;    // leaf PTEs = leaves_4k + leaves_2m
        std::uint64_t leaves_4k = 0;
        std::uint64_t leaves_2m = 0;
        std::uint64_t tables_allocated = 0; // page-table pages (alloc_pte)
        // map_pages calls that freed an emptied level-1 table under a new 2 MiB leaf: each flushes
        // the domain (one invalidation + completion wait), as iommu_v1_map_pages does on `updated`.
        std::uint64_t map_flushes = 0;
        VfioCalls calls;
    };

    // One vfio_sync_unpin: the IOTLB range the sync invalidates (the gather, merged on bare metal)
    // and the regions and pages unpinned after it; `iova_to_phys_calls` and `leaves` are the
    // lookups and leaf PTEs cleared since the previous sync (what the timing shell charges before
    // this sync).
    struct SyncBatch {
        IovaRange gathered;
        std::uint64_t regions;
        std::uint64_t pages;
        std::uint64_t iova_to_phys_calls = 0;
        std::uint64_t leaves = 0;
    };

    struct UnmapResult {
        std::uint64_t bytes = 0; // unmap->size: the mappings removed, whole
        std::uint64_t dmas_removed = 0;
        std::uint64_t iova_to_phys_calls = 0; // fgsp: one per leaf; !fgsp: + one per page probed
        std::uint64_t leaves_unmapped = 0;    // leaf PTEs cleared
        std::uint64_t regions = 0;            // unmap_unpin_fast calls
        std::uint64_t iotlb_syncs = 0;        // ceil(regions / 512) per mapping
        std::uint64_t pages_unpinned = 0;     // 4 KiB pages
        std::vector<SyncBatch> syncs;         // in order
        VfioCalls calls;
    };

    // `domain` is the container's IOMMU_DOMAIN_UNMANAGED page table (the platform points the
    // groups' devices at it); `mm` the process whose memory is pinned. Both outlive the container.
    VfioContainer(IoPageTable& domain, UserMemory& mm, VfioParams params = {});

    // VFIO_GROUP_SET_CONTAINER for IOMMU group `group` whose devices are `members`, `requested`
    // being those the user binds to vfio-pci and assigns. Linux takes a group only whole: throws
    // kNotViable naming the first member not requested ("group 7 is not viable: device
    // 0000:03:00.1 is not bound to vfio-pci"), kInval for an empty group or a requested device
    // outside it, kBusy if the group is already attached.
    void attach_group(unsigned group, const std::vector<std::string>& members,
                      const std::vector<std::string>& requested);
    bool has_group(unsigned group) const { return groups_.count(group) != 0; }

    // VFIO_IOMMU_MAP_DMA: maps [iova, iova + bytes) to the pages behind user address `vaddr`
    // (faulted in from `mm` on first use) with `prot` (kPermRead | kPermWrite). Throws VfioError,
    // with nothing pinned or mapped, on: no group; no permission, zero size or a 4 KiB-unaligned
    // iova/vaddr/size, wrap-around, a range outside the 48-bit aperture or over a reserved region
    // (kInval); overlap with a mapping (kExist); dma_entry_limit (kNoSpc); RLIMIT_MEMLOCK (kNoMem:
    // Linux finds it page by page and unwinds through vfio_remove_dma; that unwinding is not
    // charged here).
    MapResult map_dma(std::uint64_t iova, std::uint64_t vaddr, std::uint64_t bytes,
                      std::uint8_t prot);

    // VFIO_IOMMU_UNMAP_DMA (v2): removes every mapping inside [iova, iova + bytes); a range that
    // would split a mapping is kInval. No mapping inside: success, bytes = 0.
    UnmapResult unmap_dma(std::uint64_t iova, std::uint64_t bytes);
    // VFIO_DMA_UNMAP_FLAG_ALL (the per-mapping work of container release is the same).
    UnmapResult unmap_all();

    bool fgsp() const { return params_.fgsp; }
    std::size_t dma_count() const { return dmas_.size(); }
    std::uint64_t mapped_bytes() const;               // sum of the vfio_dma sizes
    const VfioCalls& calls() const { return calls_; } // since construction

private:
    struct Dma {
        std::uint64_t iova, vaddr, size;
        std::uint8_t prot;
    };
    struct Region {
        std::uint64_t iova, phys, bytes;
    };

    void remove_dma(const Dma& dma, UnmapResult& r);
    std::uint64_t sync_unpin(std::vector<Region>& regions, UnmapResult& r);
    // iommu_iova_to_phys, counted; 0 = not mapped, as the kernel reads it.
    std::uint64_t iova_to_phys(std::uint64_t iova, UnmapResult& r);

    IoPageTable& domain_;
    UserMemory& mm_;
    VfioParams params_;
    std::map<unsigned, std::vector<std::string>> groups_;
    std::map<std::uint64_t, Dma> dmas_; // by iova (the vfio_dma rbtree)
    VfioCalls calls_;
    std::uint64_t synced_calls_ = 0,
                  synced_leaves_ = 0; // of the unmap in progress, at the last sync
};

} // namespace iosim
