// The physical pages behind pinned user memory, with configurable fragmentation. This is what makes
// the VFIO unmap cost emerge from the layout: on AMD (fgsp) vfio_unmap_unpin makes one
// iommu_iova_to_phys per IOMMU leaf, and the leaves follow the physical runs that were pinned.
//
// FragmentedMemory: each whole, 2 MiB-aligned 2 MiB chunk of a virtual range is a 2 MiB-aligned
// huge page (a THP or hugetlbfs page) with probability `contiguous_2m_fraction`, otherwise 512
// scattered 4 KiB pages; a partial chunk at either end of the range is always 4 KiB pages (a huge
// page covers a whole aligned 2 MiB of the VMA). Huge pages come from random free 2 MiB frames of
// the region; 4 KiB pages from frames broken up for them, drawn in random order. Consecutive pieces
// are kept physically non-adjacent where the free pool allows it, so the runs are exactly "one per
// huge page, one per 4 KiB page": mapped at IOVAs congruent to the vaddr modulo 2 MiB, an AMD v1
// table (any power-of-two leaf) and the simulator's 4 KiB/2 MiB table then hold the same leaves.
// Where a piece does land next to its predecessor (a nearly exhausted pool), the runs merge, as
// pinning would.
//
// UserMemory: one process's address space (its mm). The first pin of a virtual range faults it in
// from FragmentedMemory; later pins of the same range see the same pages. It also holds
// mm->locked_vm, which VFIO charges pinned pages to against RLIMIT_MEMLOCK.
//
// Memory handed out is never returned: unpinning leaves pages resident in the process.
#pragma once
#include "models/common/rng.h"

#include <cstdint>
#include <map>
#include <vector>

namespace iosim {

// Physically contiguous bytes starting at `phys`.
struct PhysRun {
    std::uint64_t phys;
    std::uint64_t bytes;
    bool operator==(const PhysRun& o) const { return phys == o.phys && bytes == o.bytes; }
};

struct LayoutParams {
    // Probability that a whole 2 MiB virtual chunk is one 2 MiB-aligned huge page: 0 = fully
    // fragmented 4 KiB pages, 1 = every whole chunk a 2 MiB run. Drawn per chunk, in order.
    double contiguous_2m_fraction = 0;
    std::uint64_t seed = 1;
    // The DRAM region user pages come from: [base_phys, base_phys + size), both 2 MiB aligned,
    // base_phys > 0 (vfio_unmap_unpin reads phys 0 as "not mapped").
    std::uint64_t base_phys = 0;
    std::uint64_t size = 0;
};

class FragmentedMemory {
public:
    static constexpr std::uint64_t kPage = 4096;
    static constexpr std::uint64_t kHuge = 2ull << 20;

    // Throws std::invalid_argument naming the field if `p` is not as documented above.
    explicit FragmentedMemory(const LayoutParams& p);

    // Backs the virtual range [vaddr, vaddr + bytes) (both 4 KiB aligned; vaddr places the 2 MiB
    // chunk grid) with fresh pages and returns its maximal physically contiguous runs in virtual
    // order. All or nothing: throws std::runtime_error, with nothing taken, if the region cannot
    // hold it.
    std::vector<PhysRun> back(std::uint64_t bytes, std::uint64_t vaddr = 0);

    std::uint64_t free_bytes() const { return frames_.size() * kHuge + pages_.size() * kPage; }
    std::uint64_t huge_pages() const { return huge_pages_; }   // 2 MiB chunks backed so far
    std::uint64_t small_pages() const { return small_pages_; } // 4 KiB pages backed so far
    const LayoutParams& params() const { return p_; }

private:
    std::uint64_t take_frame(std::uint64_t avoid);
    std::uint64_t take_page(std::uint64_t avoid);
    void break_frame();

    LayoutParams p_;
    Rng kind_rng_;                      // huge or not, one draw per whole chunk
    Rng place_rng_;                     // which frame or page
    std::vector<std::uint64_t> frames_; // free 2 MiB frames
    std::vector<std::uint64_t> pages_;  // free 4 KiB pages of broken frames
    std::uint64_t huge_pages_ = 0;
    std::uint64_t small_pages_ = 0;
};

class UserMemory {
public:
    explicit UserMemory(FragmentedMemory& mem) : mem_(mem) {}

    // The maximal physical runs behind [vaddr, vaddr + bytes), in virtual order (pin_user_pages:
    // faults in whatever was never touched). Pages faulted in before a failure stay resident.
    std::vector<PhysRun> fault_in(std::uint64_t vaddr, std::uint64_t bytes);
    std::uint64_t resident_bytes() const { return resident_; }

    // mm->locked_vm in 4 KiB pages (__account_locked_vm).
    std::uint64_t locked_vm() const { return locked_vm_; }
    void account_locked(std::int64_t pages);

private:
    struct Region {
        std::uint64_t bytes;
        std::vector<PhysRun> runs;
    };
    FragmentedMemory& mem_;
    std::map<std::uint64_t, Region> regions_; // faulted-in ranges by start vaddr, disjoint
    std::uint64_t resident_ = 0;
    std::uint64_t locked_vm_ = 0;
};

} // namespace iosim
