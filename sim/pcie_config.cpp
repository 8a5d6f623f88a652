#include "sim/pcie_config.h"

#include "sim/config/schema.h"
#include "sim/config/units.h"

#include <algorithm>

namespace iosim {

std::vector<PlatformDevice> platform_devices(const cfg::Config& c) {
    std::vector<PlatformDevice> v{{"nvme0", "platform.nvme"}};
    if (c.flag("platform.wifi.present")) v.push_back({"wifi0", "platform.wifi"});
    if (c.flag("platform.dmabench.present")) v.push_back({"dmabench0", "platform.dmabench"});
    return v;
}

namespace {

TopoNode::Kind kind_of(const std::string& k) {
    if (k == "root_complex") return TopoNode::Kind::RootComplex;
    if (k == "root_port") return TopoNode::Kind::RootPort;
    if (k == "switch") return TopoNode::Kind::Switch;
    return TopoNode::Kind::Endpoint;
}

PlatformTopology default_topology(const cfg::Config& c, const std::vector<PlatformDevice>& devs) {
    std::vector<TopoNode> nodes{{"rc", TopoNode::Kind::RootComplex}};
    std::vector<TopoLink> links;
    PlatformTopology t;
    for (const PlatformDevice& d : devs) {
        const std::string k = d.section + ".link.";
        const auto gen = static_cast<unsigned>(c.integer(k + "gen"));
        const auto lanes = static_cast<unsigned>(c.integer(k + "lanes"));
        nodes.push_back({"rp_" + d.name, TopoNode::Kind::RootPort});
        nodes.push_back({d.name, TopoNode::Kind::Endpoint});
        // The root complex's internal path: latency 0 and wider than the port (not contended).
        links.push_back({"rc", "rp_" + d.name, gen, 16, 0, "rc_" + d.name});
        links.push_back({"rp_" + d.name, d.name, gen, lanes, c.time(k + "latency"), d.name});
        t.link_names.push_back("rc_" + d.name);
        t.link_names.push_back(d.name);
    }
    t.topology = PcieTopology::build(nodes, links);
    return t;
}

} // namespace

PlatformTopology topology_from_config(const cfg::Config& c) {
    const auto devs = platform_devices(c);
    const auto node_names = c.names("platform.pcie.nodes");
    const auto link_names = c.names("platform.pcie.links");
    if (node_names.empty() && link_names.empty()) {
        // Without a switch the traversal latency would be ignored: a value set for it is a
        // mistake (the default, as --print-config writes it, is not).
        const std::string sw = "platform.pcie.switch_latency";
        if (c.is_set(sw) && c.time(sw) != cfg::parse_time(cfg::find_param(sw)->def))
            c.fail(sw, "has no effect without a topology: describe the switches under "
                       "platform.pcie.nodes and platform.pcie.links");
        return default_topology(c, devs);
    }

    const std::string first_key = !node_names.empty()
                                      ? "platform.pcie.nodes." + node_names[0] + ".kind"
                                      : "platform.pcie.links." + link_names[0] + ".upstream";
    for (const PlatformDevice& d : devs)
        for (const char* f : {"gen", "lanes", "latency"}) {
            const std::string k = d.section + ".link." + f;
            if (c.is_set(k))
                c.fail(k, "the topology (platform.pcie) gives the links; set " + std::string(f) +
                              " on the link to " + d.name + " under platform.pcie.links instead");
        }

    std::vector<TopoNode> nodes;
    for (const std::string& n : node_names) {
        const std::string k = "platform.pcie.nodes." + n + ".";
        TopoNode nd;
        nd.name = n;
        nd.kind = kind_of(c.str(k + "kind"));
        nd.acs = c.flag(k + "acs");
        nd.functions = static_cast<unsigned>(c.integer(k + "functions"));
        if (c.is_set(k + "acs") && nd.kind != TopoNode::Kind::Switch)
            c.fail(k + "acs",
                   "applies to switches only ('" + n + "' is of kind " + c.str(k + "kind") + ")");
        if (c.is_set(k + "functions") && nd.kind != TopoNode::Kind::Endpoint)
            c.fail(k + "functions",
                   "applies to endpoints only ('" + n + "' is of kind " + c.str(k + "kind") + ")");
        nodes.push_back(nd);
    }
    std::vector<TopoLink> links;
    PlatformTopology t;
    t.from_config = true;
    for (const std::string& n : link_names) {
        const std::string k = "platform.pcie.links." + n + ".";
        TopoLink l;
        l.name = n;
        for (const char* end : {"upstream", "downstream"})
            if (c.str(k + end).empty()) {
                // Blame a key the user did write for this link (the missing one has no position).
                std::string blame = k + end;
                for (const char* f : {"upstream", "downstream", "gen", "lanes", "latency"})
                    if (c.is_set(k + f)) {
                        blame = k + f;
                        break;
                    }
                c.fail(blame, std::string("link '") + n + "' has no " + end +
                                  " node (set platform.pcie.links." + n + "." + end +
                                  " to one of platform.pcie.nodes)");
            }
        l.upstream = c.str(k + "upstream");
        l.downstream = c.str(k + "downstream");
        const bool from_root = std::any_of(nodes.begin(), nodes.end(), [&](const TopoNode& nd) {
            return nd.name == c.str(k + "upstream") && nd.kind == TopoNode::Kind::RootComplex;
        });
        if (from_root)
            for (const char* f : {"gen", "lanes"})
                if (c.is_set(k + f))
                    c.fail(k + f, "a link from the root complex stands for its internal path: "
                                  "only its latency applies (set " +
                                      std::string(f) + " on the link below the root port)");
        l.gen = static_cast<unsigned>(c.integer(k + "gen"));
        l.lanes = static_cast<unsigned>(c.integer(k + "lanes"));
        l.latency = c.time(k + "latency");
        links.push_back(l);
        t.link_names.push_back(n);
    }
    try {
        t.topology = PcieTopology::build(nodes, links, c.time("platform.pcie.switch_latency"));
    } catch (const TopologyError& e) {
        // Blame the link or node the error is about: the end of the link at fault (a second
        // parent, an unknown child or a cycle is made at the downstream end; an endpoint as a
        // parent at the upstream end), the kind for a node.
        std::string key = first_key;
        if (e.link >= 0) {
            key = "platform.pcie.links." + link_names[e.link] +
                  (e.upstream_end ? ".upstream" : ".downstream");
        } else if (!e.node.empty()) {
            key = "platform.pcie.nodes." + e.node + ".kind";
        }
        c.fail(key, std::string("PCIe topology: ") + e.what());
    }
    const auto eps = t.topology.endpoints();
    for (const PlatformDevice& d : devs)
        if (std::find(eps.begin(), eps.end(), d.name) == eps.end())
            c.fail(first_key, "the platform's device '" + d.name +
                                  "' is not an endpoint of the topology; add it under "
                                  "platform.pcie.nodes (kind: endpoint) with a link to it");
    return t;
}

} // namespace iosim
