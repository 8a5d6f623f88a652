// PCIe data rate per direction, SystemC-free so that the link model and the topology share it.
#pragma once

namespace iosim {

// Usable bytes per second per direction for a generation and width: GT/s per lane times the
// encoding efficiency (8b/10b for Gen1-2, 128b/130b for Gen3-5, FLIT 242/256 for Gen6), PCI
// Express Base Specification.
inline double pcie_bytes_per_s(unsigned gen, unsigned lanes) {
    static constexpr double kRate[] = {0, 2.5e9, 5e9, 8e9, 16e9, 32e9, 64e9};
    const double enc = gen <= 2 ? 8.0 / 10.0 : (gen <= 5 ? 128.0 / 130.0 : 242.0 / 256.0);
    return kRate[gen] / 8.0 * lanes * enc;
}

} // namespace iosim
