// Set-associative cache keyed by (domain, tag): the storage behind the IOTLB and the page-walk
// caches. Functional only (the timing shell charges the latencies). Every line is allocated in the
// constructor, so lookups and fills never touch the heap.
#pragma once
#include "models/common/rng.h"

#include <cassert>
#include <cstdint>
#include <vector>

namespace iosim {

enum class CachePolicy : std::uint8_t { Lru, Fifo, Random };

template <class V> class SetAssocCache {
public:
    // `entries` must be a multiple of `ways`; ways == entries is fully associative. `seed` feeds
    // the Random policy only.
    SetAssocCache(unsigned entries, unsigned ways, CachePolicy policy, std::uint64_t seed)
        : entries_(entries), ways_(ways), sets_(ways ? entries / ways : 0), policy_(policy),
          rng_(seed, "set_assoc_cache"), lines_(entries) {
        assert(entries > 0 && ways > 0 && entries % ways == 0);
        while ((1u << index_bits_) < sets_)
            ++index_bits_;
    }

    // A hit makes the line most recently used (LRU only; FIFO and Random ignore hits).
    V* lookup(std::uint16_t dom, std::uint64_t tag) {
        Line* l = find(dom, tag);
        if (!l) return nullptr;
        if (policy_ == CachePolicy::Lru) l->stamp = ++clock_;
        return &l->value;
    }
    // Probe without touching the replacement state (tests, debug dumps).
    const V* peek(std::uint16_t dom, std::uint64_t tag) const {
        const Line* l = find(dom, tag);
        return l ? &l->value : nullptr;
    }

    // Overwrites the line holding the same key (a refill: it becomes the newest line under both
    // LRU and FIFO); otherwise fills an invalid way, else evicts the policy's victim.
    void insert(std::uint16_t dom, std::uint64_t tag, const V& v) {
        Line* set = &lines_[static_cast<std::size_t>(set_index(dom, tag)) * ways_];
        Line* victim = nullptr;
        for (unsigned w = 0; w < ways_; ++w) {
            if (set[w].valid && set[w].dom == dom && set[w].tag == tag) {
                victim = &set[w];
                break;
            }
            if (!victim && !set[w].valid) victim = &set[w];
        }
        if (!victim) {
            ++evictions_;
            if (policy_ == CachePolicy::Random) {
                victim = &set[rng_.below(ways_)];
            } else {
                victim = &set[0]; // smallest stamp = least recently used / oldest fill
                for (unsigned w = 1; w < ways_; ++w)
                    if (set[w].stamp < victim->stamp) victim = &set[w];
            }
        }
        if (!victim->valid) ++occupancy_;
        *victim = Line{tag, ++clock_, dom, true, v};
    }

    // pred(uint16_t dom, uint64_t tag, const V&) -> bool. Returns the number of lines dropped.
    template <class Pred> unsigned invalidate_if(Pred pred) {
        unsigned n = 0;
        for (Line& l : lines_) {
            if (l.valid && pred(l.dom, l.tag, static_cast<const V&>(l.value))) {
                l.valid = false;
                ++n;
            }
        }
        occupancy_ -= n;
        return n;
    }
    // Probe one key for an in-place change of its value, without touching the replacement state
    // (the safety statistics mark an entry stale). Null if absent.
    V* peek_mut(std::uint16_t dom, std::uint64_t tag) {
        Line* l = find(dom, tag);
        return l ? &l->value : nullptr;
    }
    // fn(uint16_t dom, uint64_t tag, V&) on every valid line.
    template <class Fn> void for_each_valid(Fn fn) {
        for (Line& l : lines_)
            if (l.valid) fn(l.dom, l.tag, l.value);
    }
    // Drop one key, probing only its set. Returns whether it was present.
    bool erase(std::uint16_t dom, std::uint64_t tag) {
        Line* l = find(dom, tag);
        if (!l) return false;
        l->valid = false;
        --occupancy_;
        return true;
    }
    unsigned invalidate_domain(std::uint16_t dom) {
        return invalidate_if([dom](std::uint16_t d, std::uint64_t, const V&) { return d == dom; });
    }
    unsigned invalidate_all() {
        return invalidate_if([](std::uint16_t, std::uint64_t, const V&) { return true; });
    }

    // XOR-fold of the tag into index-sized chunks (as hashed cache indexes do), offset by a
    // per-domain constant. Linear over GF(2), so any aligned run of consecutive tags, and any
    // power-of-two stride (2 MiB apart in 4 KiB units, say), spreads evenly over the sets
    // instead of piling into one as plain modulo indexing would.
    unsigned set_index(std::uint16_t dom, std::uint64_t tag) const {
        if (index_bits_ == 0) return 0;
        std::uint64_t x = tag ^ (std::uint64_t{dom} * 0x9e3779b97f4a7c15ull);
        for (unsigned sh = index_bits_; sh < 64; sh *= 2)
            x ^= x >> sh; // prefix XOR by doubling
        const auto i = static_cast<unsigned>(x & ((std::uint64_t{1} << index_bits_) - 1));
        return i < sets_ ? i : i % sets_; // sets_ need not be a power of two
    }

    unsigned occupancy() const { return occupancy_; }
    unsigned entries() const { return entries_; }
    unsigned ways() const { return ways_; }
    unsigned sets() const { return sets_; }
    CachePolicy policy() const { return policy_; }
    std::uint64_t evictions() const { return evictions_; } // valid lines replaced by a new key

private:
    struct Line {
        std::uint64_t tag = 0;
        std::uint64_t stamp = 0; // LRU: last use; FIFO/Random: fill time
        std::uint16_t dom = 0;
        bool valid = false;
        V value{};
    };

    const Line* find(std::uint16_t dom, std::uint64_t tag) const {
        const Line* set = &lines_[static_cast<std::size_t>(set_index(dom, tag)) * ways_];
        for (unsigned w = 0; w < ways_; ++w)
            if (set[w].valid && set[w].dom == dom && set[w].tag == tag) return &set[w];
        return nullptr;
    }
    Line* find(std::uint16_t dom, std::uint64_t tag) {
        return const_cast<Line*>(static_cast<const SetAssocCache*>(this)->find(dom, tag));
    }

    unsigned entries_, ways_, sets_;
    unsigned index_bits_ = 0; // ceil(log2(sets_))
    CachePolicy policy_;
    Rng rng_;
    std::vector<Line> lines_; // sets_ x ways_, row-major; never resized
    std::uint64_t clock_ = 0;
    std::uint64_t evictions_ = 0;
    unsigned occupancy_ = 0;
};

} // namespace iosim
