// Stub initiator and target for binding sockets a configuration leaves unused, and for tests
// (STYLE.md habit 8: every model is driven through its sockets on one harness).
#pragma once
#include "models/common/event_queue.h"
#include "models/common/tlm_ext.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

// An initiator that sends only what a test asks it to, at the current simulated time.
class StubInitiator : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<StubInitiator> out;

    explicit StubInitiator(const sc_core::sc_module_name& name, std::uint16_t requester_id = 0)
        : sc_core::sc_module(name), out("out") {
        ext_ = new DmaExt;
        ext_->requester_id = requester_id;
        tx_.set_extension(ext_);
        tx_.set_byte_enable_ptr(nullptr);
        tx_.set_dmi_allowed(false);
    }

    struct Result {
        tlm::tlm_response_status status;
        Time delay;
        DmaExt::Xlate xlate;
    };
    Result access(bool write, std::uint64_t addr, void* data, unsigned len, Time delay = 0) {
        tx_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
        tx_.set_address(addr);
        tx_.set_data_ptr(static_cast<unsigned char*>(data));
        tx_.set_data_length(len);
        tx_.set_streaming_width(len);
        tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        ext_->xlate = DmaExt::Xlate::None;
        sc_core::sc_time d = to_sc(delay);
        out->b_transport(tx_, d);
        return {tx_.get_response_status(), d.value(), ext_->xlate};
    }
    Result write(std::uint64_t addr, void* data, unsigned len, Time delay = 0) {
        return access(true, addr, data, len, delay);
    }
    Result read(std::uint64_t addr, void* data, unsigned len, Time delay = 0) {
        return access(false, addr, data, len, delay);
    }

private:
    tlm::tlm_generic_payload tx_;
    DmaExt* ext_; // owned by tx_
};

// A target that records what reaches it and answers after a fixed latency.
class StubTarget : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<StubTarget> in;

    struct Access {
        bool write;
        std::uint64_t addr;
        unsigned len;
        Time at; // absolute arrival time (now + annotated delay)
        std::vector<std::uint8_t> data;
    };

    explicit StubTarget(const sc_core::sc_module_name& name, Time latency = 0)
        : sc_core::sc_module(name), in("in"), latency_(latency) {
        in.register_b_transport(this, &StubTarget::b_transport);
    }

    std::vector<Access> accesses;
    tlm::tlm_response_status respond = tlm::TLM_OK_RESPONSE;

private:
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
        Access a{
            tx.is_write(), tx.get_address(), tx.get_data_length(), sim_now() + delay.value(), {}};
        if (tx.get_data_ptr() && tx.is_write())
            a.data.assign(tx.get_data_ptr(), tx.get_data_ptr() + tx.get_data_length());
        accesses.push_back(std::move(a));
        delay += to_sc(latency_);
        tx.set_response_status(respond);
    }
    Time latency_;
};

} // namespace iosim
