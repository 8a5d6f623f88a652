#include "models/pcie/mmio_router.h"

#include <cassert>

namespace iosim {

MmioRouter::MmioRouter(const sc_core::sc_module_name& name)
    : sc_core::sc_module(name), in("in"), out("out") {
    in.register_b_transport(this, &MmioRouter::route);
}

void MmioRouter::add_window(std::uint64_t base, std::uint64_t size) {
    assert(size > 0 && base + size > base);
    for ([[maybe_unused]] const Window& w : windows_)
        assert(base + size <= w.base || w.base + w.size <= base);
    windows_.push_back({base, size});
}

void MmioRouter::route(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const std::uint64_t a = tx.get_address();
    for (std::size_t i = 0; i < windows_.size(); ++i) {
        const Window& w = windows_[i];
        if (a - w.base < w.size && a - w.base + tx.get_data_length() <= w.size) {
            tx.set_address(a - w.base);
            out[static_cast<int>(i)]->b_transport(tx, delay);
            tx.set_address(a);
            return;
        }
    }
    ++decode_errors;
    tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

} // namespace iosim
