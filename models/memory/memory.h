// DRAM target: a load-to-use latency plus bandwidth per channel, channels interleaved on 4 KiB.
// Each channel is a contended Resource, so DMA and page-walk traffic queue behind each other.
// Covers: timing of reads and writes, optional data (BackingStore), debug access for tests.
// Does not cover: banks, row buffers, refresh, read/write turnaround.
#pragma once
#include "models/common/resource.h"
#include "models/memory/backing_store.h"
#include "models/memory/page_owners.h"

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

namespace iosim {

struct MemoryParams {
    std::uint64_t size = 16ull << 30;
    Time latency = 90 * kNs;
    double bandwidth = 51.2e9; // bytes/s, all channels together
    unsigned channels = 2;
    bool backing_store = false;
};

class Memory : public sc_core::sc_module {
public:
    tlm_utils::multi_passthrough_target_socket<Memory> in;

    Memory(const sc_core::sc_module_name& name, const MemoryParams& p);

    BackingStore& store() { return store_; }
    const MemoryParams& params() const { return p_; }

    // The DMA API's live streaming mappings (backing store on): stray writes into them count as
    // corrupting reused memory. Null: not tracked.
    void set_page_owners(const PageOwners* o) {
        owners_ = o;
        check_strays_ = count_strays_ || owners_;
    }
    // Count the stray DMAs reaching memory here (the platform asks when the IOMMU, which counts
    // them otherwise, is off). Off, and without page owners, the intent is not even looked at.
    void set_count_strays(bool on) {
        count_strays_ = on;
        check_strays_ = count_strays_ || owners_;
    }

    std::uint64_t reads = 0, writes = 0, read_bytes = 0, write_bytes = 0;
    Time busy_ps = 0;
    // DMAs marked DmaExt::Intent::Stray that reached memory (with set_count_strays or page
    // owners); stray writes into a page the kernel had mapped for DMA at that moment (tracked with
    // set_page_owners only).
    std::uint64_t stray_reached = 0, stray_writes_reached = 0, stray_corrupted_reused = 0;

private:
    void b_transport(int port, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    unsigned transport_dbg(int port, tlm::tlm_generic_payload& tx);

    MemoryParams p_;
    double channel_bw_;
    std::vector<Resource> channels_;
    BackingStore store_;
    const PageOwners* owners_ = nullptr;
    bool count_strays_ = false, check_strays_ = false;
};

} // namespace iosim
