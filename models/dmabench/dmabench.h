// A pcie-bench-like DMA engine (Neugebauer et al., "Understanding PCIe performance for end host
// networking", SIGCOMM 2018): a device that does nothing but DMA to a host buffer, to measure
// what the DMA path (PCIe, IOMMU, DRAM) gives one device.
//
// Sockets: out_dma (its DMA, through its PCIe path to the IOMMU), in_regs (BAR: a start/stop
// doorbell), irq_out (MSI; bound as every device's, never used: the benchmark is polled).
//
// Benchmark mode: `inflight` slots each keep one transfer outstanding. A transfer of `transfer`
// bytes goes to an offset of the buffer's window: the window is cut into transfer-sized slots,
// taken in order (sequential) or uniformly at random. A transfer is cut where it would cross a
// 4 KiB boundary, as a DMA engine cuts its TLPs (each piece is its own translation). Reads are
// non-posted: a transfer completes when its last completion arrives. Writes are posted, but a
// slot is held until the write has reached memory (PostedDoneExt, set by the PCIe path; the
// delay of the transport when the engine is bound straight to the IOMMU): the in-flight limit
// stands for the root complex's posted-write buffers and credits, without which an IOMMU stall
// could not slow a writer down. Latency = from issue to completion (reads) or to the write's
// arrival in memory (writes).
// Rogue mode: the same engine DMAs to uniformly random addresses in [0, rogue_span) that no
// driver gave it, each marked DmaExt::Intent::Stray; faults come back as error responses and
// are counted (dma_errors), the engine goes on.
//
// Not modelled: descriptor rings and host-side driver work per transfer (a microbenchmark's
// engine generates its own addresses, as pcie-bench's does), per-TLP scheduling inside the
// engine, PCIe flow-control credits beyond the in-flight limit, caches (DDIO): every access goes
// to DRAM.
#pragma once
#include "models/common/event_queue.h"
#include "models/common/histogram.h"
#include "models/common/rng.h"
#include "models/common/tlm_ext.h"

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

// BAR register: write 1 to start (at the write's arrival), 0 to stop issuing.
constexpr std::uint64_t kDmaBenchRegCtrl = 0x0;

struct DmaBenchParams {
    std::uint16_t requester_id = 0x0300; // bus 3, device 0, function 0
    bool write = false;
    bool random = true;
    std::uint32_t transfer = 64;    // bytes per transfer
    std::uint64_t window = 1 << 20; // bytes of the buffer addressed (>= transfer)
    std::uint32_t inflight = 32;    // transfers outstanding at most
    std::uint64_t count = 0;        // transfers to complete (0: until stopped)
    std::uint64_t seed = 1;
    bool rogue = false;
    std::uint64_t rogue_span = 1ull << 30; // rogue: addresses in [0, rogue_span)
};

class DmaBench : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<DmaBench> out_dma;
    tlm_utils::simple_target_socket<DmaBench> in_regs;
    tlm_utils::simple_initiator_socket<DmaBench> irq_out;

    // Throws std::invalid_argument for a transfer of 0 bytes, a window smaller than a transfer,
    // an in-flight limit of 0.
    DmaBench(const sc_core::sc_module_name& name, const DmaBenchParams& p);

    // What the driver programs at set-up: the DMA address of the buffer's first byte (the IOVA
    // the kernel mapped, or the physical address without translation).
    void set_buffer(std::uint64_t dma_addr) { buffer_ = dma_addr; }
    std::uint64_t buffer() const { return buffer_; }
    const DmaBenchParams& params() const { return p_; }

    // Called at each completed transfer (bytes, latency, whether every piece was answered OK).
    using DoneFn = void (*)(void* owner, std::uint32_t bytes, Time latency, bool ok);
    void set_done(DoneFn fn, void* owner) {
        done_fn_ = fn;
        done_owner_ = owner;
    }

    void start(Time at);
    void stop() { stopping_ = true; } // what is outstanding completes
    bool finished() const { return p_.count && completed_ >= p_.count; }
    std::uint32_t outstanding() const { return outstanding_; }

    // Counters (devices.<name>.*)
    std::uint64_t transfers = 0, bytes = 0, pieces = 0, dma_errors = 0, stray_dmas = 0;
    std::uint32_t max_outstanding = 0;
    Histogram latency_ns;

private:
    void regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void start_event(std::uint64_t);
    void issue(std::uint64_t slot);
    void complete(std::uint64_t slot);
    std::uint64_t next_address();

    DmaBenchParams p_;
    EventQueue events_;
    Rng rng_;
    std::uint64_t buffer_ = 0;
    std::uint64_t slots_; // transfer-sized slots in the window
    std::uint64_t next_slot_ = 0;
    std::uint64_t issued_ = 0, completed_ = 0;
    std::uint32_t outstanding_ = 0;
    bool started_ = false, stopping_ = false;
    std::vector<Time> issued_at_;
    std::vector<bool> slot_ok_;
    std::vector<unsigned char> buf_;
    tlm::tlm_generic_payload tx_;
    DmaExt* ext_; // owned by tx_
    DoneFn done_fn_ = nullptr;
    void* done_owner_ = nullptr;
};

} // namespace iosim
