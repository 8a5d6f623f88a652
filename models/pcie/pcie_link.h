// A PCIe link between a device and the root complex: one Resource per direction whose service time
// is the bytes on the wire (payload plus per-TLP overhead, TLPs cut at max_payload / max read
// request) at the link's data rate, plus a one-way latency.
// - Device memory writes are posted: the device is charged the upstream serialisation only; the
//   write reaches the host after the link latency and the host's own delay is not waited for.
// - Device memory reads are non-posted: request TLPs go up, the host answers (IOMMU + DRAM), the
//   completions come down, each way paying serialisation and latency.
// - Host MMIO writes (doorbells) go down, posted.
// Covers: bandwidth per generation and width with encoding overhead, TLP overhead, latency,
// contention per direction. Does not cover: flow-control credits, replays, ACK/NAK DLLPs, ordering
// rules beyond FIFO per direction.
#pragma once
#include "models/common/resource.h"
#include "models/common/time.h"
#include "models/pcie/pcie_rate.h"

#include <cstdint>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

struct PcieLinkParams {
    unsigned gen = 4;
    unsigned lanes = 4;
    Time latency = 250 * kNs;
    unsigned max_payload = 256;
    unsigned max_read_request = 512;
    unsigned tlp_overhead = 24;
};

class PcieLink : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<PcieLink> in_dma;      // from the device's DMA engine
    tlm_utils::simple_initiator_socket<PcieLink> out_dma;  // to the IOMMU (or DRAM when off)
    tlm_utils::simple_target_socket<PcieLink> in_mmio;     // from the CPU
    tlm_utils::simple_initiator_socket<PcieLink> out_mmio; // to the device's registers

    PcieLink(const sc_core::sc_module_name& name, const PcieLinkParams& p);

    double bytes_per_s() const { return bw_; }
    std::uint64_t up_bytes = 0, down_bytes = 0, tlps_up = 0, tlps_down = 0;
    Time up_busy_ps = 0, down_busy_ps = 0;

private:
    void dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    Resource::Grant send(Resource& dir, Time at, std::uint64_t payload, std::uint64_t tlps,
                         bool up);

    PcieLinkParams p_;
    double bw_;
    Resource up_, down_;
};

} // namespace iosim
