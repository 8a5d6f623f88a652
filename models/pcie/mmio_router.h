// The root complex's address decoding of CPU MMIO: each device's BAR is a window of the CPU's
// MMIO space; a write or read inside window i goes out on binding i of `out` with the address made
// relative to the window (the device sees BAR offsets, as its registers are specified). An address
// in no window gets TLM_ADDRESS_ERROR_RESPONSE (a master abort).
// Sockets: in (from the CPU's out_mmio), out (one binding per window, in add_window order).
// Not modelled: BAR sizing and assignment by enumeration (the platform places the windows),
// config space, prefetchable windows, MMIO reads of the root complex itself.
#pragma once
#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

class MmioRouter : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<MmioRouter> in;
    tlm_utils::multi_passthrough_initiator_socket<MmioRouter> out;

    explicit MmioRouter(const sc_core::sc_module_name& name);

    // The next binding of `out` serves [base, base + size). Windows must not overlap (asserted).
    void add_window(std::uint64_t base, std::uint64_t size);

    std::uint64_t decode_errors = 0;

private:
    void route(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    struct Window {
        std::uint64_t base, size;
    };
    std::vector<Window> windows_;
};

} // namespace iosim
