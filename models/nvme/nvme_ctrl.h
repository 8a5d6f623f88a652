// An NVMe SSD controller (NVMe 1.4 PCIe transport), the device side of the NVMe path.
//
// Sockets: in_regs (BAR0: SQ tail / CQ head doorbells), out_dma (all its DMA: SQE fetch, PRP list
// fetch, data, CQE posting), irq_out (MSI-X writes; data = vector).
//
// A doorbell makes the controller fetch the new SQEs by DMA. Each command takes firmware time on
// one of `controller_cores`, then flash: the transfer is cut into flash pages striped over
// channels x dies; each page occupies its die for tR (read) or tPROG (write, into the SSD's write
// cache) and its channel for the page transfer. Reads DMA the data to the host pages of the PRPs
// when the last flash page is ready; writes DMA the data from the host first. Then the CQE is
// posted by DMA and an MSI-X message is sent, optionally coalesced (count and time, NVMe
// Interrupt Coalescing feature). A DMA the IOMMU blocks completes the command with an error.
//
// Not modelled: admin queue and its commands (the driver creates I/O queues directly), SGLs,
// namespaces beyond one, FTL, garbage collection, the SSD's DRAM cache for reads, power states.
#pragma once
#include "models/common/dma_inject.h"
#include "models/common/event_queue.h"
#include "models/common/resource.h"
#include "models/common/tlm_ext.h"
#include "models/common/trace.h"
#include "models/nvme/nvme_queue.h"

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace iosim {

struct NvmeCtrlParams {
    std::uint16_t requester_id = 0x0100; // bus 1, device 0, function 0
    unsigned controller_cores = 4;
    Time cmd_latency = 1500 * kNs;
    unsigned channels = 8;
    unsigned dies_per_channel = 4;
    Time read_latency = 45 * kUs;
    Time program_latency = 12 * kUs;
    double channel_bandwidth = 1.2e9;
    std::uint32_t flash_page = 16384;
    std::uint64_t capacity = 1ull << 40;
    unsigned coalesce_count = 0; // 0 = an MSI per completion
    Time coalesce_time = 0;
    Time msi_latency = 300 * kNs;
    bool generate_data = false; // fill read data with the LBA pattern (needs the backing store)
    DmaInjectParams inject;     // safety.inject.nvme0.*: misbehave on purpose (off by default)
};

class NvmeCtrl : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<NvmeCtrl> in_regs;
    tlm_utils::simple_initiator_socket<NvmeCtrl> out_dma;
    tlm_utils::simple_initiator_socket<NvmeCtrl> irq_out;

    NvmeCtrl(const sc_core::sc_module_name& name, const NvmeCtrlParams& p);

    // What the admin command Create I/O SQ/CQ would set up; the queue memory is the host's.
    void create_io_queue(NvmeQueuePair* q);
    // Injected use-after-unmap DMAs scheduled and not yet issued (the run's drain waits for them).
    std::size_t strays_pending() const { return strays_.size() - free_strays_.size(); }
    // Write each queue's commands (submission to CQE) and their DMAs, with arrows to the DMAs'
    // translations, and its depth to a trace (nullptr: stop). Not owned. After create_io_queue.
    void set_trace(TraceWriter* t);

    std::uint64_t commands = 0, reads = 0, writes = 0, bytes_read = 0, bytes_written = 0;
    std::uint64_t dma_errors = 0, msis = 0, sqe_fetches = 0;
    // Fault injection: stray DMAs issued, and how many of them got an error response.
    std::uint64_t stray_issued = 0, stray_errors = 0;

private:
    struct Cmd {
        NvmeQueuePair* q;
        NvmeSqe sqe;
        bool error = false;
        bool inject = false;        // chosen by the injector
        std::uint64_t trace_id = 0; // --trace: the command's async slice
        Time trace_begin = 0;
    };
    struct Stray {
        bool write;
        std::uint64_t addr;
        std::uint32_t len;
    };

    void regs(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void fetch(std::uint64_t qid);
    void complete(std::uint64_t cmd_index);
    void coalesce_timeout(std::uint64_t qid);
    // DMA at absolute time `at`; returns the time the transfer is done (reads) or has left the
    // device (posted writes); sets `ok` false on an error response.
    Time dma(bool write, std::uint64_t addr, std::uint32_t len, unsigned char* data, Time at,
             bool& ok, const char* what = "data");
    // Data DMA of a command over its PRPs, page by page.
    Time dma_data(Cmd& c, bool to_host, Time at);
    Time flash(const NvmeSqe& sqe, Time at);
    void post_cqe(Cmd& c, Time at);
    void send_msi(NvmeQueuePair& q, Time at);
    std::uint32_t alloc_cmd();
    // Fault injection: a stray DMA now or at `at` (an event), ignoring its response.
    void stray_dma(const Stray& s, Time at);
    void stray_event(std::uint64_t slot);

    NvmeCtrlParams p_;
    EventQueue events_;
    MultiResource fw_;
    std::vector<Resource> dies_, channels_;
    std::vector<NvmeQueuePair*> queues_;
    std::vector<Cmd> cmds_;
    std::vector<std::uint32_t> free_cmds_;
    std::vector<unsigned> pending_irq_; // per queue, completions since the last MSI
    std::vector<bool> coalesce_armed_;
    tlm::tlm_generic_payload tx_;
    DmaExt* ext_; // owned by tx_
    std::vector<std::uint64_t> data_buf_;
    std::uint32_t msi_buf_ = 0;
    tlm::tlm_generic_payload msi_tx_;
    DmaInjector inject_;
    tlm::tlm_generic_payload stray_tx_; // its DmaExt says Intent::Stray
    std::vector<std::uint64_t> stray_buf_;
    std::vector<Stray> strays_; // use_after_unmap: scheduled, by slot
    std::vector<std::uint32_t> free_strays_;
    TraceWriter* trace_ = nullptr;
    const Cmd* trace_cmd_ = nullptr;    // the command whose DMAs are being issued
    std::vector<unsigned> trace_depth_; // per queue, commands fetched and not completed
    void trace_depth(const NvmeQueuePair& q, int delta, Time at);
    void trace_queue(const NvmeQueuePair& q); // names its track group
    [[gnu::noinline]] void trace_dma(const char* what, Time b, Time e);
};

} // namespace iosim
