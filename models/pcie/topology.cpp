#include "models/pcie/topology.h"
#include "models/pcie/pcie_rate.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/depth_first_search.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>

namespace iosim {

namespace {

using Kind = TopoNode::Kind;

// Vertex i is nodes[i]; an edge carries the index of its link, so results map back to the config.
struct EdgeProps {
    unsigned link;
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                    EdgeProps>;
using Vertex = boost::graph_traits<Graph>::vertex_descriptor;
using Edge = boost::graph_traits<Graph>::edge_descriptor;
constexpr std::size_t kNone = ~std::size_t{0};

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::RootComplex:
        return "root complex";
    case Kind::RootPort:
        return "root port";
    case Kind::Switch:
        return "switch";
    case Kind::Endpoint:
        return "endpoint";
    }
    return "?";
}

std::string a_kind(Kind k) {
    return (k == Kind::Endpoint ? "an " : "a ") + std::string(kind_name(k));
}

std::string q(const std::string& s) {
    return "'" + s + "'";
}

std::string rid(unsigned id) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02x:%02x.%u", (id >> 8) & 0xff, (id >> 3) & 0x1f, id & 7);
    return buf;
}

[[noreturn]] void fail(const std::string& msg) {
    throw TopologyError(msg);
}
[[noreturn]] void fail_link(std::size_t link, const std::string& msg, bool upstream_end = false) {
    throw TopologyError(msg, static_cast<int>(link), {}, upstream_end);
}
[[noreturn]] void fail_node(const std::string& node, const std::string& msg) {
    throw TopologyError(msg, -1, node);
}

// Records the first back edge (a cycle) and the DFS tree parent of each vertex, so that the
// cycle can be spelled out: with at most one parent per node, the tree path from the back edge's
// target down to its source is the cycle.
struct CycleFinder : boost::default_dfs_visitor {
    std::vector<Vertex>* parent;
    std::optional<Edge>* back;
    void tree_edge(Edge e, const Graph& g) const { (*parent)[target(e, g)] = source(e, g); }
    void back_edge(Edge e, const Graph&) const {
        if (!*back) *back = e;
    }
};

// BFS from the root complex: the tree edge into each reached vertex (its uplink), and the
// isolation domain it sits in: the highest switch above it whose downstream ports lack ACS, or
// none. Highest, because the first non-isolated bus from the root captures everything below it
// (a lower non-ACS switch cannot carve a smaller group out of a larger one).
struct TreeRecorder : boost::default_bfs_visitor {
    const std::vector<TopoNode>* nodes;
    std::vector<std::optional<Edge>>* uplink;
    std::vector<std::size_t>* domain;
    void tree_edge(Edge e, const Graph& g) const {
        const Vertex u = source(e, g), v = target(e, g);
        (*uplink)[v] = e;
        const TopoNode& up = (*nodes)[u];
        const bool open = up.kind == Kind::Switch && !up.acs;
        (*domain)[v] = (*domain)[u] != kNone ? (*domain)[u] : (open ? u : kNone);
    }
};

// Inside a DOT quoted string; "\\n" added after escaping is DOT's line break.
std::string dot_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::string dot_id(const std::string& s) {
    return "\"" + dot_escape(s) + "\"";
}

} // namespace

PcieTopology PcieTopology::build(const std::vector<TopoNode>& nodes,
                                 const std::vector<TopoLink>& links, Time switch_latency) {
    PcieTopology t;
    t.nodes_ = nodes;
    t.links_ = links;
    t.switch_latency_ = switch_latency;
    const std::size_t n = nodes.size();

    // Nodes: names, per-kind fields, one root complex, routing IDs.
    std::vector<std::string> roots;
    std::map<unsigned, std::size_t> rids; // routing ID -> node
    for (std::size_t i = 0; i < n; ++i) {
        const TopoNode& nd = nodes[i];
        if (nd.name.empty()) fail("node " + std::to_string(i) + " has an empty name");
        if (!t.index_.emplace(nd.name, i).second)
            fail_node(nd.name, "duplicate node " + q(nd.name));
        if (nd.acs && nd.kind != Kind::Switch)
            fail_node(nd.name,
                      q(nd.name) + " is " + a_kind(nd.kind) + ": acs applies to switches only");
        if (nd.kind == Kind::Endpoint && (nd.functions < 1 || nd.functions > 8))
            fail_node(nd.name, "endpoint " + q(nd.name) + " has " + std::to_string(nd.functions) +
                                   " functions (expected 1..8)");
        if (nd.kind != Kind::Endpoint && nd.functions != 1)
            fail_node(nd.name, q(nd.name) + " is " + a_kind(nd.kind) +
                                   ": functions applies to endpoints only");
        if (nd.kind == Kind::RootComplex) {
            roots.push_back(q(nd.name));
            t.root_ = i;
        }
        if (nd.bus_dev != 0) {
            const unsigned count = nd.kind == Kind::Endpoint ? nd.functions : 1;
            for (unsigned f = 0; f < count; ++f) {
                auto [it, fresh] = rids.emplace(nd.bus_dev + f, i);
                if (!fresh)
                    fail_node(nd.name, q(nodes[it->second].name) + " and " + q(nd.name) +
                                           " overlap at routing ID " + rid(nd.bus_dev + f));
            }
        }
    }
    if (roots.empty()) fail("no root complex");
    if (roots.size() > 1) {
        std::string list;
        for (const auto& r : roots)
            list += (list.empty() ? "" : ", ") + r;
        fail_node(roots.back().substr(1, roots.back().size() - 2),
                  "more than one root complex: " + list);
    }

    // Links: known nodes, gen and width, PCIe's tree rules.
    Graph g(n);
    auto link_id = [&links](std::size_t li) {
        return links[li].name.empty() ? std::to_string(li) : q(links[li].name);
    };
    std::vector<std::size_t> parent_link(n, kNone), child_link(n, kNone);
    for (unsigned li = 0; li < links.size(); ++li) {
        const TopoLink& l = links[li];
        const std::string where =
            "link " + link_id(li) + " (" + q(l.upstream) + " -> " + q(l.downstream) + "): ";
        const auto up_it = t.index_.find(l.upstream);
        if (up_it == t.index_.end()) fail_link(li, where + "unknown node " + q(l.upstream), true);
        const auto down_it = t.index_.find(l.downstream);
        if (down_it == t.index_.end()) fail_link(li, where + "unknown node " + q(l.downstream));
        if (l.gen < 1 || l.gen > 6)
            fail_link(li, where + "gen " + std::to_string(l.gen) + " is out of range (1..6)");
        if (l.lanes == 0 || l.lanes > 16 || (l.lanes & (l.lanes - 1)) != 0)
            fail_link(li, where + std::to_string(l.lanes) + " lanes (expected 1, 2, 4, 8 or 16)");
        const std::size_t u = up_it->second, v = down_it->second;
        const TopoNode &up = nodes[u], &down = nodes[v];
        if (up.kind == Kind::Endpoint)
            fail_link(li, where + "endpoint " + q(up.name) + " cannot have children", true);
        if (down.kind == Kind::RootComplex)
            fail_link(li, where + "the root complex " + q(down.name) +
                              " cannot be downstream of a link");
        if (up.kind == Kind::RootComplex && down.kind != Kind::RootPort)
            fail_link(li, where + "the root complex connects to root ports only, " + q(down.name) +
                              " is " + a_kind(down.kind));
        if (down.kind == Kind::RootPort && up.kind != Kind::RootComplex)
            fail_link(li,
                      where + "root port " + q(down.name) +
                          " must hang from the root complex, not from " + kind_name(up.kind) + " " +
                          q(up.name),
                      true);
        if (parent_link[v] != kNone)
            fail_link(li, q(down.name) + " is connected twice upstream: to " +
                              q(links[parent_link[v]].upstream) + " (link " +
                              link_id(parent_link[v]) + ") and " + q(up.name) + " (link " +
                              link_id(li) + ")");
        parent_link[v] = li;
        // A root port is the upstream end of exactly one link; fan-out needs a switch.
        if (up.kind == Kind::RootPort) {
            if (child_link[u] != kNone)
                fail_link(li,
                          "root port " + q(up.name) + " has more than one downstream link: " +
                              q(links[child_link[u]].downstream) + " (link " +
                              link_id(child_link[u]) + ") and " + q(down.name) + " (link " +
                              link_id(li) + ")",
                          true);
            child_link[u] = li;
        }
        boost::add_edge(u, v, EdgeProps{li}, g);
        t.link_bw_.push_back(pcie_bytes_per_s(l.gen, l.lanes));
    }

    // Cycles: with one parent per node and none for the root complex, a cycle can only be made of
    // nodes the root complex does not reach, so report it before (and instead of) reachability.
    {
        std::vector<Vertex> parent(n);
        std::optional<Edge> back;
        boost::depth_first_search(g, boost::visitor(CycleFinder{{}, &parent, &back}));
        if (back) {
            const Vertex from = boost::source(*back, g), to = boost::target(*back, g);
            std::vector<Vertex> cyc{from};
            while (cyc.back() != to)
                cyc.push_back(parent[cyc.back()]);
            std::reverse(cyc.begin(), cyc.end());
            std::string msg = "cycle: ";
            for (Vertex c : cyc)
                msg += q(nodes[c].name) + " -> ";
            fail_link(g[*back].link, msg + q(nodes[to].name));
        }
    }

    // Reachability, uplinks and isolation domains in one BFS from the root complex.
    std::vector<std::optional<Edge>> uplink(n);
    std::vector<std::size_t> domain(n, kNone);
    boost::breadth_first_search(g, t.root_,
                                boost::visitor(TreeRecorder{{}, &nodes, &uplink, &domain}));
    {
        std::string lost;
        std::size_t first = kNone;
        for (std::size_t i = 0; i < n; ++i)
            if (i != t.root_ && !uplink[i]) {
                lost += (lost.empty() ? "" : ", ") + q(nodes[i].name);
                if (first == kNone) first = i;
            }
        if (!lost.empty())
            fail_node(nodes[first].name,
                      "not connected to the root complex " + q(nodes[t.root_].name) + ": " + lost);
    }

    // Paths: the chain of uplinks from each endpoint to the root complex, reversed.
    t.paths_.resize(n);
    t.group_.assign(n, -1);
    std::map<std::size_t, int> group_by_key; // isolation domain (or the endpoint) -> group
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes[i].kind != Kind::Endpoint) continue;
        DevicePath& p = t.paths_[i];
        for (Vertex v = i;;) {
            p.hops.push_back(nodes[v].name);
            if (nodes[v].kind == Kind::Switch) p.latency += switch_latency;
            if (v == t.root_) break;
            const Edge e = *uplink[v];
            p.link_ids.push_back(g[e].link);
            v = boost::source(e, g);
        }
        std::reverse(p.hops.begin(), p.hops.end());
        std::reverse(p.link_ids.begin(), p.link_ids.end());
        for (std::size_t k = 0; k < p.link_ids.size(); ++k) {
            const unsigned id = p.link_ids[k];
            const TopoLink& l = links[id];
            p.latency += l.latency;
            if (k == 0) continue; // the root complex's internal edge: latency only
            if (k == 1 || t.link_bw_[id] < p.bandwidth) { // strict: the root side wins a tie
                p.bandwidth = t.link_bw_[id];
                p.narrowest_gen = l.gen;
                p.narrowest_lanes = l.lanes;
            }
        }

        // IOMMU group, as pci_device_group (drivers/iommu/iommu.c) forms it, with the rule of
        // the series "iommu: Compute iommu_groups properly for PCIe switches" (J. Gunthorpe,
        // linux-pci, v3 2025-09): everything below the first non-isolated bus shares one group.
        // An endpoint whose whole path isolates (ACS on every switch; root ports assumed to) is
        // a group of its own, all its functions together (get_pci_function_alias_group with no
        // per-function ACS). The older code gave each downstream port of a non-ACS switch a
        // group of its own, which the series calls a bug: sibling ports can reach each other.
        const std::size_t key = domain[i] != kNone ? domain[i] : i;
        auto [it, fresh] = group_by_key.emplace(key, static_cast<int>(t.groups_.size()));
        if (fresh) t.groups_.emplace_back();
        t.group_[i] = it->second;
        t.groups_[it->second].push_back(nodes[i].name);
    }
    return t;
}

std::vector<std::string> PcieTopology::endpoints() const {
    std::vector<std::string> out;
    for (const auto& nd : nodes_)
        if (nd.kind == Kind::Endpoint) out.push_back(nd.name);
    return out;
}

std::size_t PcieTopology::endpoint_index(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) fail("no endpoint " + q(name) + " in the topology");
    const TopoNode& nd = nodes_[it->second];
    if (nd.kind != Kind::Endpoint) fail(q(name) + " is " + a_kind(nd.kind) + ", not an endpoint");
    return it->second;
}

const DevicePath& PcieTopology::path(const std::string& endpoint) const {
    return paths_[endpoint_index(endpoint)];
}

int PcieTopology::group_of(const std::string& endpoint) const {
    return group_[endpoint_index(endpoint)];
}

std::string PcieTopology::to_dot() const {
    auto node_line = [](const TopoNode& nd) {
        static const char* shape[] = {"box3d", "box", "hexagon", "ellipse"};
        std::string label = dot_escape(nd.name);
        if (nd.bus_dev != 0) label += "\\n" + rid(nd.bus_dev);
        if (nd.kind == Kind::Switch && nd.acs) label += "\\nACS";
        if (nd.functions > 1) label += "\\n" + std::to_string(nd.functions) + " functions";
        return dot_id(nd.name) + " [shape=" + shape[static_cast<int>(nd.kind)] + ", label=\"" +
               label + "\"];\n";
    };
    std::ostringstream os;
    os << "digraph pcie {\n";
    for (const auto& nd : nodes_)
        if (nd.kind != Kind::Endpoint) os << "    " << node_line(nd);
    for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
        os << "    subgraph cluster_group" << gi << " {\n";
        os << "        label=\"IOMMU group " << gi << "\";\n";
        for (const auto& name : groups_[gi])
            os << "        " << node_line(nodes_[index_.at(name)]);
        os << "    }\n";
    }
    for (const auto& l : links_) {
        os << "    " << dot_id(l.upstream) << " -> " << dot_id(l.downstream) << " [label=\"";
        if (l.upstream == nodes_[root_].name)
            os << "internal"; // the root complex's own path: its latency only
        else
            os << "Gen" << l.gen << " x" << l.lanes;
        os << "\"];\n";
    }
    os << "}\n";
    return os.str();
}

} // namespace iosim
