#include "models/vfio/phys_layout.h"

#include <algorithm>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>

namespace iosim {

namespace {

constexpr std::uint64_t kPage = FragmentedMemory::kPage;
constexpr std::uint64_t kHuge = FragmentedMemory::kHuge;

std::string hex(std::uint64_t v) {
    std::ostringstream s;
    s << "0x" << std::hex << v;
    return s.str();
}

// Calls fn(chunk_bytes, whole) for each piece of [vaddr, vaddr + bytes) cut at 2 MiB boundaries;
// `whole` = the piece is an entire aligned 2 MiB chunk, the only kind a huge page can back.
template <class Fn> void for_each_chunk(std::uint64_t vaddr, std::uint64_t bytes, Fn&& fn) {
    const std::uint64_t end = vaddr + bytes;
    for (std::uint64_t a = vaddr; a < end;) {
        const std::uint64_t next = std::min(end, (a / kHuge + 1) * kHuge);
        fn(next - a, next - a == kHuge);
        a = next;
    }
}

void append(std::vector<PhysRun>& runs, std::uint64_t phys, std::uint64_t bytes) {
    if (!runs.empty() && runs.back().phys + runs.back().bytes == phys)
        runs.back().bytes += bytes;
    else
        runs.push_back({phys, bytes});
}

std::uint64_t end_of(const std::vector<PhysRun>& runs) {
    return runs.empty() ? 0 : runs.back().phys + runs.back().bytes;
}

// Removes a random element of `v`, avoiding the value `avoid` when another one exists.
std::uint64_t take_random(std::vector<std::uint64_t>& v, Rng& rng, std::uint64_t avoid) {
    const std::uint64_t n = v.size();
    std::uint64_t i = rng.below(n);
    if (v[i] == avoid && n > 1) i = (i + 1 + rng.below(n - 1)) % n; // any other index
    const std::uint64_t x = v[i];
    v[i] = v.back();
    v.pop_back();
    return x;
}

} // namespace

FragmentedMemory::FragmentedMemory(const LayoutParams& p)
    : p_(p), kind_rng_(p.seed, "vfio.layout.kind"), place_rng_(p.seed, "vfio.layout.place") {
    const double f = p.contiguous_2m_fraction;
    if (!(f >= 0.0 && f <= 1.0))
        throw std::invalid_argument("contiguous_2m_fraction must be in [0, 1], got " +
                                    std::to_string(f));
    if (p.base_phys == 0 || p.base_phys % kHuge)
        throw std::invalid_argument("base_phys must be a non-zero multiple of 2 MiB, got " +
                                    hex(p.base_phys));
    if (p.size == 0 || p.size % kHuge)
        throw std::invalid_argument("size must be a non-zero multiple of 2 MiB, got " +
                                    std::to_string(p.size));
    frames_.reserve(p.size / kHuge);
    for (std::uint64_t a = p.base_phys; a < p.base_phys + p.size; a += kHuge)
        frames_.push_back(a);
}

void FragmentedMemory::break_frame() {
    const std::uint64_t f = take_random(frames_, place_rng_, ~0ull);
    for (std::uint64_t a = f; a < f + kHuge; a += kPage)
        pages_.push_back(a);
}

std::uint64_t FragmentedMemory::take_frame(std::uint64_t avoid) {
    ++huge_pages_;
    return take_random(frames_, place_rng_, avoid);
}

std::uint64_t FragmentedMemory::take_page(std::uint64_t avoid) {
    ++small_pages_;
    return take_random(pages_, place_rng_, avoid);
}

std::vector<PhysRun> FragmentedMemory::back(std::uint64_t bytes, std::uint64_t vaddr) {
    if (bytes == 0 || (bytes | vaddr) % kPage)
        throw std::invalid_argument("FragmentedMemory::back: bytes (" + std::to_string(bytes) +
                                    ") and vaddr (" + hex(vaddr) +
                                    ") must be 4 KiB aligned, bytes non-zero");
    const double f = p_.contiguous_2m_fraction;

    // Dry run on a copy of the chunk-kind generator: refuse before taking anything.
    Rng probe = kind_rng_;
    std::uint64_t huge = 0, small = 0;
    for_each_chunk(vaddr, bytes, [&](std::uint64_t len, bool whole) {
        if (whole && probe.uniform() < f)
            ++huge;
        else
            small += len / kPage;
    });
    const std::uint64_t short_pages = small > pages_.size() ? small - pages_.size() : 0;
    const std::uint64_t frames_needed = huge + (short_pages + 511) / 512;
    if (frames_needed > frames_.size())
        throw std::runtime_error("vfio: user memory exhausted: backing " + std::to_string(bytes) +
                                 " bytes needs " + std::to_string(frames_needed) +
                                 " free 2 MiB frames, " + std::to_string(frames_.size()) +
                                 " left of the " + std::to_string(p_.size) + "-byte region at " +
                                 hex(p_.base_phys) + "; make the region larger");

    std::vector<PhysRun> runs;
    for_each_chunk(vaddr, bytes, [&](std::uint64_t len, bool whole) {
        if (whole && kind_rng_.uniform() < f) {
            append(runs, take_frame(end_of(runs)), kHuge);
            --huge;
            return;
        }
        for (std::uint64_t i = 0; i < len / kPage; ++i) {
            // Keep two pages to choose from while this call needs more than the pool holds (the
            // dry run reserved those frames), and break a spare frame rather than take the only
            // page left if it would extend the run, so that a non-adjacent page exists.
            const std::uint64_t avoid = end_of(runs);
            const bool need_more = pages_.size() < 2 && small > pages_.size();
            const bool stuck = pages_.size() == 1 && pages_[0] == avoid;
            if ((need_more || stuck) && frames_.size() > huge) break_frame();
            append(runs, take_page(avoid), kPage);
            --small;
        }
    });
    return runs;
}

std::vector<PhysRun> UserMemory::fault_in(std::uint64_t vaddr, std::uint64_t bytes) {
    std::vector<PhysRun> out;
    const std::uint64_t end = vaddr + bytes;
    auto it = regions_.upper_bound(vaddr);
    if (it != regions_.begin()) {
        auto prev = std::prev(it);
        if (prev->first + prev->second.bytes > vaddr) it = prev;
    }
    for (std::uint64_t a = vaddr; a < end;) {
        if (it != regions_.end() && it->first <= a) {
            // Already resident: the slice [a, min(end, region end)) of its runs.
            const std::uint64_t stop = std::min(end, it->first + it->second.bytes);
            std::uint64_t off = it->first; // vaddr of the current run's start
            for (const PhysRun& r : it->second.runs) {
                const std::uint64_t lo = std::max(off, a), hi = std::min(off + r.bytes, stop);
                if (lo < hi) append(out, r.phys + (lo - off), hi - lo);
                off += r.bytes;
                if (off >= stop) break;
            }
            a = stop;
            ++it;
        } else {
            // A gap up to the next resident region: fault it in.
            const std::uint64_t stop = it == regions_.end() ? end : std::min(end, it->first);
            std::vector<PhysRun> runs = mem_.back(stop - a, a);
            for (const PhysRun& r : runs)
                append(out, r.phys, r.bytes);
            it = regions_.emplace_hint(it, a, Region{stop - a, std::move(runs)});
            resident_ += stop - a;
            ++it;
            a = stop;
        }
    }
    return out;
}

void UserMemory::account_locked(std::int64_t pages) {
    if (pages < 0 && static_cast<std::uint64_t>(-pages) > locked_vm_)
        throw std::logic_error("UserMemory: locked_vm would go negative");
    locked_vm_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(locked_vm_) + pages);
}

} // namespace iosim
