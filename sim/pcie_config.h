// The platform's PCIe topology from the configuration (platform.pcie.*), shared by the platform's
// elaboration and `sim --topology`. Without any platform.pcie.nodes or links, every device of the
// platform sits alone on a root port of its own, its link from platform.<device>.link.
#pragma once
#include "models/pcie/topology.h"
#include "sim/config/config.h"

#include <string>
#include <vector>

namespace iosim {

// A device of the platform: the endpoint name the topology and the stats use, and the config
// section of its parameters.
struct PlatformDevice {
    std::string name;    // "nvme0"
    std::string section; // "platform.nvme"
};

// The modelled devices the configuration has, in elaboration order.
std::vector<PlatformDevice> platform_devices(const cfg::Config& c);

struct PlatformTopology {
    PcieTopology topology;
    std::vector<std::string> link_names; // per topology link: its name under platform.pcie.links
    bool from_config = false;            // false: the default, one root port per device
};

// Throws cfg::ConfigError, naming the key and where it was set, for a structure the topology
// refuses (a node connected twice, unconnected, a cycle, an unknown node...), a device of the
// platform that is not an endpoint of it, or a device link key set alongside a topology.
PlatformTopology topology_from_config(const cfg::Config& c);

} // namespace iosim
