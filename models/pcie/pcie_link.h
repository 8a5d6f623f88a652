// A device's PCIe path to the root complex: the links it crosses (PcieSegment), each with one
// Resource per direction whose service time is the bytes on the wire (payload plus per-TLP
// overhead, TLPs cut at max_payload / max read request) at that link's data rate, plus its one-way
// latency. Devices behind one switch share the segments above it, so their traffic contends there.
// - Device memory writes are posted: the device is charged the serialisation on its own link only;
//   the write reaches the host after crossing every link and the host's delay is not waited for.
// - Device memory reads are non-posted: request TLPs go up, the host answers (IOMMU + DRAM), the
//   completions come down, each way crossing every link.
// - Host MMIO writes (doorbells) go down, posted.
// - MSIs: the device's interrupt write arrives with its own delay (the device model's msi_latency,
//   no link booking), but never before the device's earlier posted writes (the last 16 issued
//   before it) reached the host: PCIe
//   ordering does not let a posted write pass an earlier one on the same path, so an interrupt
//   cannot overtake the data or completion it announces, even when a shared link delays them.
// - A shared link serves transfers in the order they are booked (first free gap), with no
//   arbitration between the switch's ports and no flow-control credits: a device that books much
//   posted data ahead (an SSD streaming large reads) delays another device's writes behind all of
//   it, an upper bound of the interference a fair arbiter would give.
// A transfer crosses the links cut-through: it may start on the next link once its first bytes
// have arrived (previous start + latency + the switch's traversal), and cannot finish there before
// it has finished on the previous one (+ latency + traversal).
// Covers: bandwidth per generation and width with encoding overhead, TLP overhead, latency,
// contention per direction and per shared link, switch traversal latency. Does not cover:
// flow-control credits, replays, ACK/NAK DLLPs, ordering rules beyond FIFO per direction,
// peer-to-peer traffic, contention inside the root complex (its edge to a root port adds latency
// only).
#pragma once
#include "models/common/resource.h"
#include "models/common/time.h"
#include "models/pcie/pcie_rate.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

struct PcieLinkParams {
    // The device's own link, when the PcieLink owns it (a path of one link, as in tests).
    unsigned gen = 4;
    unsigned lanes = 4;
    Time latency = 250 * kNs;
    // The device's TLP sizes (negotiated per device).
    unsigned max_payload = 256;
    unsigned max_read_request = 512;
    unsigned tlp_overhead = 24;
};

// One PCIe link, shared by every device whose path crosses it.
struct PcieSegment {
    PcieSegment(std::string name_, unsigned gen, unsigned lanes, Time latency_)
        : name(std::move(name_)), bytes_per_s(pcie_bytes_per_s(gen, lanes)), latency(latency_) {}
    std::string name;
    double bytes_per_s;
    Time latency;
    Resource up, down;
    std::uint64_t up_bytes = 0, down_bytes = 0, tlps_up = 0, tlps_down = 0;
    Time up_busy_ps = 0, down_busy_ps = 0;
};

// One link of a path, from the device up. `after` is added once a transfer has crossed it going up
// (before it going down): the traversal of the switch at its upstream end, or the root complex's
// internal latency.
struct PcieHop {
    PcieSegment* seg;
    Time after = 0;
};

class PcieLink : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<PcieLink> in_dma;      // from the device's DMA engine
    tlm_utils::simple_initiator_socket<PcieLink> out_dma;  // to the IOMMU (or DRAM when off)
    tlm_utils::simple_target_socket<PcieLink> in_mmio;     // from the CPU
    tlm_utils::simple_initiator_socket<PcieLink> out_mmio; // to the device's registers
    tlm_utils::simple_target_socket<PcieLink> in_msi;      // the device's MSI writes
    tlm_utils::simple_initiator_socket<PcieLink> out_msi;  // to the CPU's interrupt delivery

    // A path of one link of its own (p.gen, p.lanes, p.latency).
    PcieLink(const sc_core::sc_module_name& name, const PcieLinkParams& p);
    // A path over shared links, device first (non-empty; the segments outlive the link).
    PcieLink(const sc_core::sc_module_name& name, const PcieLinkParams& p,
             std::vector<PcieHop> path);

    // Bytes/s of the narrowest link of the path.
    double bytes_per_s() const;
    const std::vector<PcieHop>& path() const { return path_; }
    PcieSegment& segment(std::size_t i = 0) { return *path_.at(i).seg; }
    // When the device's last posted write reached the host (0: none yet).
    Time last_posted_arrival() const { return last_posted_; }

private:
    void dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void msi(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // Sends `payload` bytes in `tlps` TLPs from `at` over the whole path; returns when the last
    // byte arrives at the far end, and in *first_end when it has left the first link.
    // Posted transfers (writes) keep their order on every link of the path, as PCIe requires of
    // posted requests on one path: one issued later starts on a link no earlier than the one
    // issued before it.
    Time send(bool up, Time at, std::uint64_t payload, std::uint64_t tlps, bool posted,
              Time* first_end = nullptr);

    PcieLinkParams p_;
    std::unique_ptr<PcieSegment> own_;
    std::vector<PcieHop> path_;
    Time last_posted_ = 0;
    // The device's latest posted writes: (issued, reached the host), for MSI ordering.
    std::array<std::pair<Time, Time>, 16> recent_posted_{};
    std::size_t recent_next_ = 0;
    struct Posted {
        Time arrival = 0, start = 0; // of the latest-issued posted write on a hop
    };
    std::vector<Posted> posted_[2]; // per direction (0 down, 1 up), per hop
};

} // namespace iosim
