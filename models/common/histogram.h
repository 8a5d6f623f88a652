// Log-linear histogram of non-negative integers (HDR-style): 2^kSubBits buckets per power of two,
// so a reported percentile is within 1/2^kSubBits (1.6 %) of the true value. Fixed memory, no
// allocation when recording.
#pragma once
#include <array>
#include <cstdint>

namespace iosim {

class Histogram {
public:
    static constexpr unsigned kSubBits = 6;
    static constexpr unsigned kSub = 1u << kSubBits;
    static constexpr unsigned kBuckets = (64 - kSubBits + 1) * kSub;

    void record(std::uint64_t v) {
        ++counts_[index(v)];
        ++count_;
        sum_ += static_cast<double>(v);
        if (v > max_) max_ = v;
        if (v < min_) min_ = v;
    }
    void reset() { *this = Histogram{}; }

    std::uint64_t count() const { return count_; }
    double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
    std::uint64_t max() const { return count_ ? max_ : 0; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    // Smallest recorded bucket value v such that at least q of the samples are <= v (q in [0,1]);
    // reported as the bucket's midpoint, clamped to [min, max].
    std::uint64_t percentile(double q) const;

    static unsigned index(std::uint64_t v) {
        if (v < kSub) return static_cast<unsigned>(v);
        unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(v));
        unsigned shift = msb - kSubBits;
        return (shift + 1) * kSub + static_cast<unsigned>((v >> shift) & (kSub - 1));
    }
    static std::uint64_t lower_bound(unsigned idx) {
        if (idx < kSub) return idx;
        unsigned shift = idx / kSub - 1;
        return (static_cast<std::uint64_t>(kSub) + idx % kSub) << shift;
    }
    static std::uint64_t width(unsigned idx) {
        if (idx < kSub) return 1;
        return std::uint64_t{1} << (idx / kSub - 1);
    }

private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    double sum_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
};

inline std::uint64_t Histogram::percentile(double q) const {
    if (count_ == 0) return 0;
    auto target = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.999999999);
    if (target == 0) target = 1;
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= target) {
            std::uint64_t v = lower_bound(i) + (width(i) - 1) / 2;
            if (v > max_) v = max_;
            if (v < min_) v = min_;
            return v;
        }
    }
    return max_;
}

} // namespace iosim
