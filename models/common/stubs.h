// Stub initiator and target: the shared harness of the socket-level tests (STYLE.md habit 8), and
// what the platform binds to sockets a configuration leaves unused.
// - StubInitiator sends what it is told at the current simulated time plus a delay, with a
//   DmaExt requester ID; the payload stays inspectable after the call; debug accesses too.
// - StubTarget records every access with its absolute arrival time and write data, adds a fixed
//   latency, and answers with an error for address ranges given to fail().
#pragma once
#include "models/common/event_queue.h"
#include "models/common/tlm_ext.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

class StubInitiator : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<StubInitiator> out;

    explicit StubInitiator(const sc_core::sc_module_name& name, std::uint16_t requester_id = 0)
        : sc_core::sc_module(name), out("out") {
        ext_ = init_dma_payload(tx_, requester_id);
    }

    struct Result {
        tlm::tlm_response_status status;
        Time delay; // annotated delay on return
        DmaExt::Xlate xlate;
        Time at() const { return sim_now() + delay; } // absolute completion time
    };
    Result access(bool write, std::uint64_t addr, void* data, unsigned len, Time delay = 0) {
        prepare(write, addr, data, len);
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
    // transport_dbg: returns the byte count the target moved.
    unsigned debug(bool write, std::uint64_t addr, void* data, unsigned len) {
        prepare(write, addr, data, len);
        return out->transport_dbg(tx_);
    }

    void set_requester(std::uint16_t rid) { ext_->requester_id = rid; }
    void set_intent(DmaExt::Intent i) { ext_->intent = i; } // Stray: a deliberately stray DMA
    // The payload of the last call, as the target left it.
    const tlm::tlm_generic_payload& payload() const { return tx_; }

private:
    void prepare(bool write, std::uint64_t addr, void* data, unsigned len) {
        tx_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
        tx_.set_address(addr);
        tx_.set_data_ptr(static_cast<unsigned char*>(data));
        tx_.set_data_length(len);
        tx_.set_streaming_width(len);
        tx_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    }
    tlm::tlm_generic_payload tx_;
    DmaExt* ext_; // owned by tx_
};

// Records every access with its absolute arrival time and write data, adds a fixed latency, and
// answers `error` for addresses in the ranges given to fail().
class StubTarget : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<StubTarget> in;

    struct Access {
        bool write;
        std::uint64_t addr;
        unsigned len;
        Time at; // absolute arrival time (now + annotated delay)
        std::vector<std::uint8_t> data;
        std::uint32_t u32() const {
            std::uint32_t v = 0;
            std::memcpy(&v, data.data(), std::min<std::size_t>(4, data.size()));
            return v;
        }
        std::uint64_t word(std::size_t i) const {
            std::uint64_t v = 0;
            std::memcpy(&v, data.data() + 8 * i, 8);
            return v;
        }
    };

    explicit StubTarget(const sc_core::sc_module_name& name, Time latency = 0)
        : sc_core::sc_module(name), in("in"), latency_(latency) {
        in.register_b_transport(this, &StubTarget::b_transport);
    }

    void fail(std::uint64_t lo, std::uint64_t hi,
              tlm::tlm_response_status s = tlm::TLM_ADDRESS_ERROR_RESPONSE) {
        errors_.push_back({lo, hi, s});
    }
    // Accesses of one direction, in arrival order of the calls.
    std::vector<Access> writes() const { return filter(true); }
    std::vector<Access> reads() const { return filter(false); }

    std::vector<Access> accesses;

private:
    struct ErrorRange {
        std::uint64_t lo, hi; // [lo, hi)
        tlm::tlm_response_status status;
    };
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
        Access a{
            tx.is_write(), tx.get_address(), tx.get_data_length(), sim_now() + delay.value(), {}};
        if (tx.get_data_ptr() && tx.is_write())
            a.data.assign(tx.get_data_ptr(), tx.get_data_ptr() + tx.get_data_length());
        accesses.push_back(std::move(a));
        delay += to_sc(latency_);
        tlm::tlm_response_status s = tlm::TLM_OK_RESPONSE;
        for (const auto& e : errors_)
            if (tx.get_address() >= e.lo && tx.get_address() < e.hi) s = e.status;
        tx.set_response_status(s);
    }
    std::vector<Access> filter(bool write) const {
        std::vector<Access> out;
        for (const auto& a : accesses)
            if (a.write == write) out.push_back(a);
        return out;
    }
    Time latency_;
    std::vector<ErrorRange> errors_;
};

} // namespace iosim
