// 802.11ac/ax air model: PHY rate from the MCS tables, A-MPDU aggregation limits and the per-access
// overhead of one EDCA transmit opportunity (AIFS, backoff, preamble, SIFS, Block Ack). Functional
// and deterministic: the backoff is the mean of CWmin (no random draw, no collisions, no retries,
// one station on an otherwise idle channel). Values and their sources: README.md in this folder.
#pragma once
#include "models/common/time.h"

#include <cstddef>
#include <cstdint>

namespace iosim {

enum class Standard { Vht /* 802.11ac */, He /* 802.11ax */ };
enum class GuardInterval { Gi0_4, Gi0_8, Gi1_6, Gi3_2 }; // microseconds; 0.4 is VHT short GI

// Data bits per OFDM symbol over all streams: N_DBPS = floor(N_SD x N_BPSCS x R x N_SS). The floor
// is what the HE tables list (996-tone MCS 11: 8166); VHT excludes every combination where the
// product is not an integer, or not divisible over its encoders (IEEE 802.11-2020 §21.5).
// Throws std::invalid_argument for a combination the standard does not define.
std::uint32_t data_bits_per_symbol(Standard std, unsigned width_mhz, unsigned nss, unsigned mcs);
// OFDM data symbol including GI: HE 12.8 us + GI (0.8/1.6/3.2), VHT 3.2 us + GI (0.8/0.4).
// Throws std::invalid_argument for a GI the standard does not have.
Time symbol_duration(Standard std, GuardInterval gi);
// N_DBPS / T_SYM in bit/s.
double phy_rate_bps(Standard std, unsigned width_mhz, unsigned nss, unsigned mcs, GuardInterval gi);

struct PhyConfig {
    Standard standard = Standard::He;
    unsigned width_mhz = 80;
    unsigned nss = 2;
    unsigned mcs = 11;
    GuardInterval gi = GuardInterval::Gi0_8;
};

// Preamble of a single-user PPDU with one (V)HT-LTF per stream, in the PHY config's terms:
// HE-SU 20 (L-STF, L-LTF, L-SIG) + 4 (RL-SIG) + 8 (HE-SIG-A) + 4 (HE-STF) + N_LTF x (6.4 + 0.8)
// with 2x HE-LTF; VHT 20 + 8 (VHT-SIG-A) + 4 (VHT-STF) + N_LTF x 4 + 4 (VHT-SIG-B). N_LTF is
// nss rounded up to 1, 2, 4, 6 or 8 (§21.3.8.3.5, §27.3.11.10).
Time su_preamble(Standard std, unsigned nss);

struct AirParams {
    Time slot = 9 * kUs;  // aSlotTime, OFDM PHY in 5/6 GHz
    Time sifs = 16 * kUs; // aSIFSTime
    unsigned aifsn = 3;   // AIFSN[AC_BE], default EDCA parameter set
    unsigned cw_min = 15; // aCWmin; mean backoff cw_min / 2 = 7.5 slots
    // 0 below: derived from the PhyConfig by AirChannel (params() returns the resolved values).
    Time preamble = 0; // su_preamble(standard, nss): 50.4 us for HE 2x2
    // Compressed BlockAck at 24 Mb/s: 20 us legacy preamble + data symbols of 4 us. 256-bit
    // bitmap (56 bytes, when max_subframes > 64): 5 symbols, 40 us; 64-bit (32 bytes): 32 us.
    Time block_ack = 0;

    // A-MPDU limits. 0: 256 subframes for HE, 64 for VHT.
    unsigned max_subframes = 0;
    Time max_ppdu = 5484 * kUs; // aPPDUMaxTime, whole PPDU including the preamble
    // Maximum A-MPDU length exponent 7: 2^20 - 1 bytes (VHT cap.; HE may extend it up to 2^23 - 1)
    std::uint32_t max_ampdu_bytes = 1048575;
    std::uint32_t max_mpdu_bytes = 11454; // VHT/HE maximum MPDU length

    // Per-MPDU bytes around an IP packet: QoS data header 26, CCMP header 8 + MIC 8, LLC/SNAP 8,
    // FCS 4; each A-MPDU subframe adds a 4-byte delimiter and pads to a multiple of 4.
    std::uint32_t mac_header_bytes = 26;
    std::uint32_t security_bytes = 16;
    std::uint32_t llc_snap_bytes = 8;
    std::uint32_t fcs_bytes = 4;
    std::uint32_t delimiter_bytes = 4;
    std::uint32_t pad_to = 4;

    // AIFS = SIFS + AIFSN x slot (43 us for AC_BE)
    Time aifs() const { return sifs + aifsn * slot; }
    Time mean_backoff() const { return cw_min * slot / 2; }
};

enum class AggLimit { None, Queue, Subframes, AmpduBytes, PpduDuration };

struct TxopResult {
    std::size_t packets = 0;      // MPDUs in the A-MPDU; 0 when nothing was queued
    std::uint64_t psdu_bytes = 0; // A-MPDU length
    Time start = 0;               // max(now, medium free): when the access begins
    Time airtime = 0;             // AIFS + backoff + PPDU + SIFS + BlockAck
    Time medium_free = 0;         // start + airtime
    AggLimit limit = AggLimit::None;
};

// One station's transmit direction on its own channel. Throws std::invalid_argument from the
// constructor for an invalid PhyConfig.
class AirChannel {
public:
    explicit AirChannel(const PhyConfig& phy, const AirParams& params = {});

    double phy_rate_bps() const { return rate_bps_; }
    const AirParams& params() const { return p_; } // with the 0s resolved
    // Everything in one access except the data symbols: AIFS + mean backoff + preamble + SIFS +
    // BlockAck (216.9 us for the HE 2x2 defaults)
    Time access_overhead() const;
    // A-MPDU subframe of one packet (delimiter + MPDU + padding). Throws std::invalid_argument if
    // the MPDU exceeds max_mpdu_bytes.
    std::uint32_t subframe_bytes(std::uint32_t packet_bytes) const;
    // Preamble + data symbols (16 service bits + PSDU + 6 tail bits, whole symbols)
    Time ppdu_duration(std::size_t packets, std::uint32_t packet_bytes) const;
    Time airtime(std::size_t packets, std::uint32_t packet_bytes) const;
    // Largest aggregate the limits allow and which limit binds (never Queue). Throws
    // std::invalid_argument if not even one packet fits.
    std::size_t max_aggregate(std::uint32_t packet_bytes, AggLimit* limit = nullptr) const;

    // Sends min(queued, max_aggregate) packets in one access starting at max(now, medium free).
    TxopResult transmit(std::size_t queued_packets, std::uint32_t packet_bytes, Time now);
    Time medium_free_at() const { return free_at_; }

    // IP-packet bits per second with an always-full queue: max aggregate / its airtime.
    double saturated_goodput_bps(std::uint32_t packet_bytes) const;

private:
    PhyConfig phy_;
    AirParams p_;
    std::uint32_t dbps_;
    Time symbol_;
    double rate_bps_;
    Time free_at_ = 0;
};

} // namespace iosim
