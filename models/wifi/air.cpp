#include "models/wifi/air.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace iosim {
namespace {

// Data subcarriers N_SD: VHT §21.5 (52/108/234/468), HE RU 242/484/996/2x996 §27.5 (234/468/
// 980/1960).
unsigned data_subcarriers(Standard s, unsigned width_mhz) {
    switch (width_mhz) {
    case 20:
        return s == Standard::He ? 234 : 52;
    case 40:
        return s == Standard::He ? 468 : 108;
    case 80:
        return s == Standard::He ? 980 : 234;
    case 160:
        return s == Standard::He ? 1960 : 468;
    }
    throw std::invalid_argument("wifi: channel width must be 20, 40, 80 or 160 MHz, got " +
                                std::to_string(width_mhz));
}

// Coded bits per subcarrier per stream (N_BPSCS) and coding rate R = num / den, per MCS:
// BPSK 1/2, QPSK 1/2, 3/4, 16-QAM 1/2, 3/4, 64-QAM 2/3, 3/4, 5/6, 256-QAM 3/4, 5/6,
// 1024-QAM 3/4, 5/6 (HE only).
struct Modulation {
    unsigned bpscs, num, den;
};
constexpr Modulation kMcs[12] = {{1, 1, 2}, {2, 1, 2}, {2, 3, 4},  {4, 1, 2},
                                 {4, 3, 4}, {6, 2, 3}, {6, 3, 4},  {6, 5, 6},
                                 {8, 3, 4}, {8, 5, 6}, {10, 3, 4}, {10, 5, 6}};

// VHT MCS/NSS/width combinations the standard's rate tables exclude (§21.5): N_DBPS not an
// integer, or not divisible over the BCC encoders.
bool vht_excluded(unsigned width_mhz, unsigned nss, unsigned mcs) {
    switch (width_mhz) {
    case 20:
        return mcs == 9 && nss % 3 != 0;
    case 80:
        return (mcs == 6 && (nss == 3 || nss == 7)) || (mcs == 9 && nss == 6);
    case 160:
        return mcs == 9 && nss == 3;
    }
    return false;
}

std::string streams(unsigned nss) {
    return std::to_string(nss) + (nss == 1 ? " spatial stream" : " spatial streams");
}

} // namespace

std::uint32_t data_bits_per_symbol(Standard s, unsigned width_mhz, unsigned nss, unsigned mcs) {
    const unsigned nsd = data_subcarriers(s, width_mhz);
    if (nss < 1 || nss > 8)
        throw std::invalid_argument("wifi: spatial streams must be 1..8, got " +
                                    std::to_string(nss));
    if (s == Standard::Vht && mcs > 9)
        throw std::invalid_argument("wifi: VHT (802.11ac) MCS must be 0..9 (1024-QAM is 802.11ax "
                                    "only), got " +
                                    std::to_string(mcs));
    if (mcs > 11)
        throw std::invalid_argument("wifi: HE (802.11ax) MCS must be 0..11, got " +
                                    std::to_string(mcs));
    if (s == Standard::Vht && vht_excluded(width_mhz, nss, mcs))
        throw std::invalid_argument("wifi: VHT (802.11ac) MCS " + std::to_string(mcs) + " with " +
                                    streams(nss) + " at " + std::to_string(width_mhz) +
                                    " MHz is not a valid combination (IEEE 802.11 §21.5)");
    const Modulation& m = kMcs[mcs];
    // Integer arithmetic, floored once: N_SD x N_BPSCS x N_SS x R
    return static_cast<std::uint32_t>(std::uint64_t{nsd} * m.bpscs * nss * m.num / m.den);
}

Time symbol_duration(Standard s, GuardInterval gi) {
    if (s == Standard::He) {
        const Time base = 12800 * kNs; // 256-point FFT per 20 MHz: 78.125 kHz spacing
        switch (gi) {
        case GuardInterval::Gi0_8:
            return base + 800 * kNs;
        case GuardInterval::Gi1_6:
            return base + 1600 * kNs;
        case GuardInterval::Gi3_2:
            return base + 3200 * kNs;
        case GuardInterval::Gi0_4:
            break;
        }
        throw std::invalid_argument("wifi: HE (802.11ax) guard interval must be 0.8, 1.6 or "
                                    "3.2 us, got 0.4 us");
    }
    const Time base = 3200 * kNs; // 312.5 kHz spacing
    switch (gi) {
    case GuardInterval::Gi0_8:
        return base + 800 * kNs;
    case GuardInterval::Gi0_4:
        return base + 400 * kNs;
    case GuardInterval::Gi1_6:
    case GuardInterval::Gi3_2:
        break;
    }
    throw std::invalid_argument(std::string("wifi: VHT (802.11ac) guard interval must be 0.8 or "
                                            "0.4 us, got ") +
                                (gi == GuardInterval::Gi1_6 ? "1.6" : "3.2") + " us");
}

double phy_rate_bps(Standard s, unsigned width_mhz, unsigned nss, unsigned mcs, GuardInterval gi) {
    const std::uint32_t dbps = data_bits_per_symbol(s, width_mhz, nss, mcs);
    return static_cast<double>(dbps) / to_s(symbol_duration(s, gi));
}

Time su_preamble(Standard s, unsigned nss) {
    // Number of (V)HT-LTFs for N_STS (§21.3.8.3.5 Table 21-13, §27.3.11.10 Table 27-18)
    const unsigned nltf = nss <= 2 ? nss : nss <= 4 ? 4 : nss <= 6 ? 6 : 8;
    const Time legacy = 20 * kUs; // L-STF 8 + L-LTF 8 + L-SIG 4
    if (s == Standard::He)        // RL-SIG 4, HE-SIG-A 8, HE-STF 4, 2x HE-LTF 6.4 + GI 0.8
        return legacy + 16 * kUs + nltf * 7200 * kNs;
    return legacy + 12 * kUs + nltf * 4 * kUs + 4 * kUs; // VHT-SIG-A 8, VHT-STF 4, LTFs, SIG-B
}

AirChannel::AirChannel(const PhyConfig& phy, const AirParams& params)
    : phy_(phy), p_(params),
      dbps_(data_bits_per_symbol(phy.standard, phy.width_mhz, phy.nss, phy.mcs)),
      symbol_(symbol_duration(phy.standard, phy.gi)),
      rate_bps_(static_cast<double>(dbps_) / to_s(symbol_)) {
    if (p_.preamble == 0) p_.preamble = su_preamble(phy.standard, phy.nss);
    if (p_.max_subframes == 0) p_.max_subframes = phy.standard == Standard::He ? 256 : 64;
    if (p_.block_ack == 0) p_.block_ack = (p_.max_subframes > 64 ? 40 : 32) * kUs;
    if (p_.pad_to == 0) throw std::invalid_argument("wifi: pad_to must be at least 1 byte");
}

Time AirChannel::access_overhead() const {
    return p_.aifs() + p_.mean_backoff() + p_.preamble + p_.sifs + p_.block_ack;
}

std::uint32_t AirChannel::subframe_bytes(std::uint32_t packet_bytes) const {
    const std::uint64_t mpdu = std::uint64_t{p_.mac_header_bytes} + p_.security_bytes +
                               p_.llc_snap_bytes + packet_bytes + p_.fcs_bytes;
    if (mpdu > p_.max_mpdu_bytes)
        throw std::invalid_argument("wifi: a " + std::to_string(packet_bytes) +
                                    "-byte packet makes a " + std::to_string(mpdu) +
                                    "-byte MPDU, above the maximum of " +
                                    std::to_string(p_.max_mpdu_bytes));
    const std::uint64_t sub = p_.delimiter_bytes + mpdu;
    return static_cast<std::uint32_t>((sub + p_.pad_to - 1) / p_.pad_to * p_.pad_to);
}

Time AirChannel::ppdu_duration(std::size_t packets, std::uint32_t packet_bytes) const {
    // SERVICE field 16 bits + PSDU + 6 tail bits, in whole symbols (§21.4.3, §27.4.3)
    const std::uint64_t bits = 16 + 8ull * packets * subframe_bytes(packet_bytes) + 6;
    const std::uint64_t nsym = (bits + dbps_ - 1) / dbps_;
    return p_.preamble + nsym * symbol_;
}

Time AirChannel::airtime(std::size_t packets, std::uint32_t packet_bytes) const {
    return access_overhead() - p_.preamble + ppdu_duration(packets, packet_bytes);
}

std::size_t AirChannel::max_aggregate(std::uint32_t packet_bytes, AggLimit* limit) const {
    const std::uint32_t sub = subframe_bytes(packet_bytes);
    std::size_t n = p_.max_subframes;
    AggLimit why = AggLimit::Subframes;
    if (p_.max_ampdu_bytes / sub < n) {
        n = p_.max_ampdu_bytes / sub;
        why = AggLimit::AmpduBytes;
    }
    if (n > 0 && ppdu_duration(n, packet_bytes) > p_.max_ppdu) {
        // Largest n whose PPDU fits: duration is monotonic in n
        std::size_t lo = 0, hi = n; // fits(lo) or lo == 0; !fits(hi)
        while (hi - lo > 1) {
            const std::size_t mid = lo + (hi - lo) / 2;
            (ppdu_duration(mid, packet_bytes) <= p_.max_ppdu ? lo : hi) = mid;
        }
        n = lo;
        why = AggLimit::PpduDuration;
    }
    if (n == 0)
        throw std::invalid_argument("wifi: a " + std::to_string(packet_bytes) +
                                    "-byte packet does not fit one A-MPDU (max_ampdu_bytes " +
                                    std::to_string(p_.max_ampdu_bytes) + ", max_ppdu " +
                                    std::to_string(p_.max_ppdu / kNs) + " ns)");
    if (limit) *limit = why;
    return n;
}

TxopResult AirChannel::transmit(std::size_t queued_packets, std::uint32_t packet_bytes, Time now) {
    TxopResult r;
    r.start = std::max(now, free_at_);
    if (queued_packets == 0) {
        r.medium_free = free_at_;
        return r;
    }
    AggLimit why = AggLimit::None;
    const std::size_t max = max_aggregate(packet_bytes, &why);
    r.packets = std::min(queued_packets, max);
    r.limit = queued_packets < max ? AggLimit::Queue : why;
    r.psdu_bytes = std::uint64_t{r.packets} * subframe_bytes(packet_bytes);
    r.airtime = airtime(r.packets, packet_bytes);
    r.medium_free = r.start + r.airtime;
    free_at_ = r.medium_free;
    return r;
}

double AirChannel::saturated_goodput_bps(std::uint32_t packet_bytes) const {
    const std::size_t n = max_aggregate(packet_bytes);
    return 8.0 * static_cast<double>(n) * packet_bytes / to_s(airtime(n, packet_bytes));
}

} // namespace iosim
