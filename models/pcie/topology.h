// PCIe topology, functional core (no SystemC): root complex, root ports, switches and endpoints as
// a Boost.Graph tree built from a node list and a link list. It validates the structure, gives each
// endpoint its path (hops, latency, narrowest link, the links it crosses, so that devices sharing a
// link can share one contended Resource), forms the IOMMU groups Linux would form, and writes the
// graph as Graphviz DOT with the groups marked.
// Covers: ACS on switch downstream ports, multi-function endpoints, switch traversal latency.
// Does not cover: root ports without ACS (assumed to isolate), per-function ACS, DMA aliases
// (PCIe-to-PCI bridges, quirks), peer-to-peer routing, link training/degradation, the
// root-complex fabric beyond one latency and width per root-port edge.
#pragma once
#include "models/common/time.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace iosim {

struct TopoNode {
    enum class Kind { RootComplex, RootPort, Switch, Endpoint };
    std::string name;
    Kind kind = Kind::Endpoint;
    bool acs = false;       // switches only: every downstream port isolates its subtree (ACS)
    unsigned functions = 1; // endpoints only: PCI functions of the device, 1..8
    // Optional routing ID of function 0 (bus << 8 | device << 3 | function), 0 = not given;
    // shown in the DOT output, and given IDs must not overlap.
    std::uint16_t bus_dev = 0;
};

// One PCIe link; the edge from the root complex to a root port stands for the root complex's
// internal path: only its latency counts (its gen and lanes are not a bottleneck and are ignored
// for the narrowest link; the DOT labels it "internal").
struct TopoLink {
    std::string upstream, downstream;
    unsigned gen = 4;         // 1..6
    unsigned lanes = 4;       // 1, 2, 4, 8 or 16
    Time latency = 250 * kNs; // one way, as PcieLinkParams::latency
    std::string name = {};    // optional: errors name the link by it instead of its index
};

// A user mistake in the topology (the config layer adds the key and file position).
class TopologyError : public std::runtime_error {
public:
    // `link` (an index into the links) or `node` (a name): what the error is about, if one is.
    // `upstream_end`: the link's upstream node is at fault (else its downstream one).
    explicit TopologyError(const std::string& what, int link = -1, std::string node = {},
                           bool upstream_end = false)
        : std::runtime_error(what), link(link), node(std::move(node)), upstream_end(upstream_end) {}
    int link;
    std::string node;
    bool upstream_end;
};

struct DevicePath {
    std::vector<std::string> hops; // root complex .. endpoint
    Time latency = 0;              // link latencies + one switch_latency per switch crossed
    double bandwidth = 0;          // bytes/s per direction of the narrowest link
    // The narrowest link (the one nearest the root complex on a tie).
    unsigned narrowest_gen = 0;
    unsigned narrowest_lanes = 0;
    std::vector<unsigned> link_ids; // indices into links(), root complex first
};

class PcieTopology {
public:
    // Port-to-port (cut-through) latency of a switch. An assumption, not a measurement: switch
    // vendors quote on the order of 100-150 ns; we take the upper end.
    static constexpr Time kDefaultSwitchLatency = 150 * kNs;

    // Throws TopologyError naming the node(s) or link at fault.
    static PcieTopology build(const std::vector<TopoNode>& nodes,
                              const std::vector<TopoLink>& links,
                              Time switch_latency = kDefaultSwitchLatency);

    const std::vector<TopoNode>& nodes() const { return nodes_; }
    const std::vector<TopoLink>& links() const { return links_; }
    double link_bytes_per_s(unsigned link_id) const { return link_bw_.at(link_id); }
    const std::string& root_complex() const { return nodes_[root_].name; }
    Time switch_latency() const { return switch_latency_; }

    std::vector<std::string> endpoints() const; // in node order
    const DevicePath& path(const std::string& endpoint) const;

    // IOMMU groups of endpoints, numbered by the first member's position in the node list;
    // members in node order. A multi-function endpoint stands for all its functions.
    const std::vector<std::vector<std::string>>& groups() const { return groups_; }
    int group_of(const std::string& endpoint) const;

    // Graphviz DOT: shape by kind, edges labelled "GenN xW" ("internal" from the root complex),
    // one cluster per IOMMU group.
    std::string to_dot() const;

    PcieTopology() = default; // empty until assigned the result of build()

private:
    std::size_t endpoint_index(const std::string& name) const; // into nodes_; throws

    std::vector<TopoNode> nodes_;
    std::vector<TopoLink> links_;
    std::vector<double> link_bw_;
    std::size_t root_ = 0;
    Time switch_latency_ = kDefaultSwitchLatency;
    std::unordered_map<std::string, std::size_t> index_; // name -> node index
    std::vector<DevicePath> paths_;                      // per node; filled for endpoints
    std::vector<int> group_;                             // per node; -1 unless endpoint
    std::vector<std::vector<std::string>> groups_;
};

} // namespace iosim
