// NVMe queue state shared by the controller model and the driver model. The submission and
// completion queues live in host memory at DMA addresses from dma_alloc_coherent; the controller
// fetches each 64-byte SQE and posts each 16-byte CQE by timed DMA at those addresses. The
// entries' contents are kept here, in host-side arrays both sides index, so that the simulation
// does not need the backing store to run (DESIGN.md principle 5 keeps real bytes for data pages
// and page tables).
#pragma once
#include <cstdint>
#include <vector>

namespace iosim {

constexpr std::uint32_t kNvmeSqeBytes = 64;
constexpr std::uint32_t kNvmeCqeBytes = 16;
constexpr std::uint64_t kNvmeDoorbellBase = 0x1000; // NVMe 1.4 §3.1.24, DSTRD = 0

enum class NvmeOpcode : std::uint8_t { Write = 0x01, Read = 0x02 };

struct NvmeSqe {
    NvmeOpcode opcode = NvmeOpcode::Read;
    std::uint16_t cid = 0;
    std::uint64_t offset = 0; // byte offset on the namespace (SLBA x LBA size)
    std::uint32_t bytes = 0;  // (NLB + 1) x LBA size
    std::uint64_t prp1 = 0;
    std::uint64_t prp2 = 0;                  // second page, or the PRP list's DMA address
    std::uint32_t prp_count = 0;             // data pages described
    const std::uint64_t* prp_list = nullptr; // contents of the PRP list page (host memory)
};

struct NvmeCqe {
    std::uint16_t cid = 0;
    std::uint16_t status = 0; // 0 = success; 0x4 = data transfer error (NVMe generic status)
};

struct NvmeQueuePair {
    std::uint16_t qid = 0;
    std::uint32_t depth = 0;
    std::uint64_t sq_dma = 0, cq_dma = 0;
    std::uint32_t vector = 0;
    // Create I/O Completion Queue CDW11.IEN (NVMe 1.4 §5.3): false for a polled queue (SPDK),
    // which gets no MSI-X message.
    bool irq_enabled = true;
    // If sized to `depth` by the host: the time (ps) each CQE's DMA write reached memory, so that
    // a polling host sees an entry no earlier than it landed.
    std::vector<std::uint64_t> cq_posted_at;
    std::vector<NvmeSqe> sq;
    std::vector<NvmeCqe> cq;
    // Host side (sq_head_seen: the SQ head the controller reported in its CQEs)
    std::uint32_t sq_tail = 0, cq_head = 0, sq_head_seen = 0;
    // Controller side
    std::uint32_t sq_head = 0, sq_tail_db = 0, cq_tail = 0, cq_head_db = 0;
};

inline std::uint64_t nvme_sq_doorbell(std::uint16_t qid) {
    return kNvmeDoorbellBase + 8ull * qid;
}
inline std::uint64_t nvme_cq_doorbell(std::uint16_t qid) {
    return kNvmeDoorbellBase + 8ull * qid + 4;
}

// The data an LBA holds: every 8-byte word at namespace byte offset o reads o ^ kSalt, so a test
// can tell whether a block landed at the right physical page.
constexpr std::uint64_t kNvmePatternSalt = 0x5eed5eed00c0ffeeull;
inline std::uint64_t nvme_pattern_word(std::uint64_t offset) {
    return offset ^ kNvmePatternSalt;
}

} // namespace iosim
