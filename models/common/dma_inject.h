// Fault injection for a DMA-issuing device (safety.inject.<device>.*): the device misbehaves on
// purpose on one command in `every`, issuing an extra DMA marked DmaExt::Intent::Stray, which the
// IOMMU and the memory count (safety.stray.*). The device ignores the stray DMA's response: its
// own commands complete as they would without it.
//   use_after_unmap: `delay` after the command completed (its CQE posted), the device DMAs its
//                    first data page again: a write for a read command (the buffer it filled),
//                    a read for a write command. By then the driver has usually unmapped it.
//   random_iova:     a 4 KiB write to a page-aligned address drawn uniformly below `range`.
//   write_readonly:  for a write command (buffer mapped DMA_TO_DEVICE, read-only), a write to its
//                    first data page while the command runs.
#pragma once
#include "models/common/rng.h"
#include "models/common/time.h"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace iosim {

struct DmaInjectParams {
    enum class Kind : std::uint8_t { None, UseAfterUnmap, RandomIova, WriteReadOnly };
    Kind kind = Kind::None;
    std::uint64_t every = 100;        // one command in `every` is chosen
    std::uint64_t count = 0;          // at most this many stray DMAs (0: no limit)
    Time start = 0;                   // none before this time
    Time delay = 10 * kUs;            // use_after_unmap: after the command's completion
    std::uint64_t range = 1ull << 32; // random_iova: addresses below this
    std::uint64_t seed = 1;
};

inline DmaInjectParams::Kind dma_inject_kind_from(const std::string& s) {
    using K = DmaInjectParams::Kind;
    if (s == "none") return K::None;
    if (s == "use_after_unmap") return K::UseAfterUnmap;
    if (s == "random_iova") return K::RandomIova;
    if (s == "write_readonly") return K::WriteReadOnly;
    throw std::invalid_argument("unknown injection kind '" + s + "'");
}

// The choice of commands: counts eligible commands, picks every `every`-th from `start` on, up
// to `count`.
class DmaInjector {
public:
    explicit DmaInjector(const DmaInjectParams& p) : p_(p), rng_(p.seed, "dma_inject") {}
    bool enabled() const { return p_.kind != DmaInjectParams::Kind::None; }
    const DmaInjectParams& params() const { return p_; }
    // An eligible command at `now`: whether this one misbehaves.
    bool choose(Time now) {
        if (now < p_.start || (p_.count && injected >= p_.count)) return false;
        if (++seen_ % p_.every != 0) return false;
        ++injected;
        return true;
    }
    std::uint64_t random_address() { return rng_.below(p_.range >> 12) << 12; }

    std::uint64_t injected = 0; // stray DMAs issued

private:
    DmaInjectParams p_;
    Rng rng_;
    std::uint64_t seen_ = 0;
};

} // namespace iosim
