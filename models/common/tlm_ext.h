// TLM extensions shared by the models.
#pragma once
#include "models/common/time.h"

#include <cstdint>

#include <tlm>

namespace iosim {

// Who issued a DMA: the PCIe requester ID the IOMMU indexes its device table with. Initiators set
// it once on their pooled payloads (no per-transaction allocation).
struct DmaExt : tlm::tlm_extension<DmaExt> {
    std::uint16_t requester_id = 0;
    // Filled by the IOMMU for statistics and tests: did this transaction hit the IOTLB, walk,
    // fault.
    enum class Xlate : std::uint8_t { None, Hit, Walk, Fault } xlate = Xlate::None;
    // Set by an initiator that misbehaves on purpose (fault injection, a rogue DMA engine): the
    // IOMMU and the safety statistics (`safety.`) count where such a DMA ends (blocked, through a
    // stale IOTLB entry, in memory).
    enum class Intent : std::uint8_t { Normal, Stray } intent = Intent::Normal;

    tlm::tlm_extension_base* clone() const override { return new DmaExt(*this); }
    void copy_from(const tlm::tlm_extension_base& e) override {
        *this = static_cast<const DmaExt&>(e);
    }
};

// A device's pooled DMA payload: a DmaExt with its requester ID, owned by the payload (set once,
// no allocation per transaction), no byte enables, no DMI. Returns the extension.
inline DmaExt* init_dma_payload(tlm::tlm_generic_payload& tx, std::uint16_t requester_id) {
    auto* ext = new DmaExt;
    ext->requester_id = requester_id;
    tx.set_extension(ext);
    tx.set_byte_enable_ptr(nullptr);
    tx.set_dmi_allowed(false);
    return ext;
}

// A device's pooled MSI payload: a 4-byte write of `*vector` to the MSI window (0xFEE00000).
inline void init_msi_payload(tlm::tlm_generic_payload& tx, std::uint32_t* vector) {
    tx.set_command(tlm::TLM_WRITE_COMMAND);
    tx.set_address(0xFEE00000);
    tx.set_data_ptr(reinterpret_cast<unsigned char*>(vector));
    tx.set_data_length(4);
    tx.set_streaming_width(4);
    tx.set_byte_enable_ptr(nullptr);
}

// A command for the IOMMU command queue (AMD-Vi command buffer / VT-d invalidation queue), sent
// as the data of a write to the IOMMU's in_regs at kRegCmdTail. A completion wait reports when
// the IOMMU performs its semaphore store (complete_at, absolute time): the driver's wait_on_sem
// polls until its local time passes it.
struct IommuCommand {
    enum class Op : std::uint8_t { InvalidatePages, InvalidateAll, CompletionWait } op;
    std::uint16_t domain = 0;
    std::uint64_t iova = 0;
    std::uint64_t size = 0;
    Time complete_at = 0; // out, CompletionWait only
};

} // namespace iosim

namespace iosim {

// Asked for by an initiator that tracks when its posted writes reach their target (the DMA
// benchmark engine, models/dmabench): the PCIe path (PcieLink) fills `at` (absolute) after the
// host side has taken the write. Absent on other devices' payloads: nothing is done for them.
struct PostedDoneExt : tlm::tlm_extension<PostedDoneExt> {
    Time at = 0;
    tlm::tlm_extension_base* clone() const override { return new PostedDoneExt(*this); }
    void copy_from(const tlm::tlm_extension_base& e) override {
        *this = static_cast<const PostedDoneExt&>(e);
    }
};

} // namespace iosim
