#include "models/memory/memory.h"

#include "models/common/event_queue.h"
#include "models/common/tlm_ext.h"

namespace iosim {

Memory::Memory(const sc_core::sc_module_name& name, const MemoryParams& p)
    : sc_core::sc_module(name), in("in"), p_(p),
      channel_bw_(p.bandwidth / static_cast<double>(p.channels)), channels_(p.channels) {
    in.register_b_transport(this, &Memory::b_transport);
    in.register_transport_dbg(this, &Memory::transport_dbg);
}

void Memory::b_transport(int, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const std::uint64_t addr = tx.get_address();
    const unsigned len = tx.get_data_length();
    if (addr + len > p_.size) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    Time arrival = sim_now() + delay.value();
    Resource& ch = channels_[(addr >> 12) % channels_.size()];
    Time xfer = transfer_time(len, channel_bw_);
    auto g = ch.acquire(arrival, xfer);
    busy_ps += xfer;
    delay = to_sc(g.end + p_.latency - sim_now());

    unsigned char* data = tx.get_data_ptr();
    if (tx.is_write()) {
        ++writes;
        write_bytes += len;
        if (p_.backing_store && data) store_.write(addr, data, len);
    } else if (tx.is_read()) {
        ++reads;
        read_bytes += len;
        if (p_.backing_store && data) store_.read(addr, data, len);
    }
    if (check_strays_) {
        if (auto* ext = tx.get_extension<DmaExt>(); ext && ext->intent == DmaExt::Intent::Stray) {
            ++stray_reached;
            if (tx.is_write()) {
                ++stray_writes_reached;
                if (owners_ && owners_->owned(addr, len)) ++stray_corrupted_reused;
            }
        }
    }
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned Memory::transport_dbg(int, tlm::tlm_generic_payload& tx) {
    const std::uint64_t addr = tx.get_address();
    const unsigned len = tx.get_data_length();
    if (addr + len > p_.size) return 0;
    if (tx.is_write())
        store_.write(addr, tx.get_data_ptr(), len);
    else
        store_.read(addr, tx.get_data_ptr(), len);
    return len;
}

} // namespace iosim
