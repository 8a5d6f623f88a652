// PcieTopology: paths (hops, latency, narrowest link, shared link ids), IOMMU groups with and
// without ACS and for multi-function devices, every configuration error by its message, DOT output.
#include "models/pcie/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

using namespace iosim;
using Kind = TopoNode::Kind;
using Strings = std::vector<std::string>;

namespace {

// Bytes/s per direction, spelled out from the spec (GT/s / 8 x lanes x encoding).
constexpr double kGen2x1 = 5e9 / 8 * 1 * (8.0 / 10.0);
constexpr double kGen3x4 = 8e9 / 8 * 4 * (128.0 / 130.0);
constexpr double kGen4x4 = 16e9 / 8 * 4 * (128.0 / 130.0);

// A desktop: an NVMe SSD on one root port; a switch on the other holding a Wi-Fi card and a
// two-function device.
//   rc -(0)-> rp0 -(2)-> nvme0                      Gen5 x16 20 ns, Gen4 x4 250 ns
//   rc -(1)-> rp1 -(3)-> sw0 -(4)-> wifi0           Gen4 x16 20 ns, Gen3 x4 200 ns, Gen2 x1 150 ns
//                            -(5)-> dual            Gen4 x4 150 ns
std::vector<TopoNode> desktop_nodes(bool acs) {
    return {
        {"rc", Kind::RootComplex},
        {"rp0", Kind::RootPort},
        {"rp1", Kind::RootPort},
        {"nvme0", Kind::Endpoint, false, 1, 0x0100},
        {"sw0", Kind::Switch, acs},
        {"wifi0", Kind::Endpoint, false, 1, 0x0300},
        {"dual", Kind::Endpoint, false, 2, 0x0400},
    };
}

std::vector<TopoLink> desktop_links() {
    return {
        {"rc", "rp0", 5, 16, 20 * kNs},    {"rc", "rp1", 4, 16, 20 * kNs},
        {"rp0", "nvme0", 4, 4, 250 * kNs}, {"rp1", "sw0", 3, 4, 200 * kNs},
        {"sw0", "wifi0", 2, 1, 150 * kNs}, {"sw0", "dual", 4, 4, 150 * kNs},
    };
}

// Two switches in a chain on rp0, an endpoint on rp1:
//   rc -> rp0 -> swA -> swB -> e1, e2;  swA -> e3;  rc -> rp1 -> e4
std::vector<TopoNode> chain_nodes(bool acs_a, bool acs_b) {
    return {
        {"rc", Kind::RootComplex}, {"rp0", Kind::RootPort},      {"rp1", Kind::RootPort},
        {"e4", Kind::Endpoint},    {"swA", Kind::Switch, acs_a}, {"swB", Kind::Switch, acs_b},
        {"e1", Kind::Endpoint},    {"e2", Kind::Endpoint},       {"e3", Kind::Endpoint},
    };
}

std::vector<TopoLink> chain_links() {
    return {
        {"rc", "rp0", 4, 16, 10 * kNs},  {"rc", "rp1", 4, 16, 10 * kNs},
        {"rp0", "swA", 4, 8, 100 * kNs}, {"swA", "swB", 4, 8, 100 * kNs},
        {"swB", "e1", 4, 4, 100 * kNs},  {"swB", "e2", 4, 4, 100 * kNs},
        {"swA", "e3", 4, 4, 100 * kNs},  {"rp1", "e4", 4, 4, 100 * kNs},
    };
}

std::string error_of(const std::vector<TopoNode>& nodes, const std::vector<TopoLink>& links) {
    try {
        PcieTopology::build(nodes, links);
    } catch (const TopologyError& e) {
        return e.what();
    }
    return "(no error)";
}

std::vector<unsigned> shared_links(const DevicePath& a, const DevicePath& b) {
    std::vector<unsigned> x = a.link_ids, y = b.link_ids, out;
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(out));
    return out;
}

// The text of DOT cluster `n`, from its header to its closing brace.
std::string cluster(const std::string& dot, int n) {
    const std::string head = "subgraph cluster_group" + std::to_string(n) + " {";
    const auto at = dot.find(head);
    if (at == std::string::npos) return "";
    return dot.substr(at, dot.find("    }\n", at) - at);
}

} // namespace

// ---- paths ----------------------------------------------------------------------------------

TEST(TopologyPath, EndpointOnRootPort) {
    const auto t = PcieTopology::build(desktop_nodes(false), desktop_links());
    const DevicePath& p = t.path("nvme0");
    EXPECT_EQ(p.hops, (Strings{"rc", "rp0", "nvme0"}));
    EXPECT_EQ(p.link_ids, (std::vector<unsigned>{0, 2}));
    EXPECT_EQ(p.latency, 270 * kNs); // 20 + 250, no switch
    EXPECT_DOUBLE_EQ(p.bandwidth, kGen4x4);
    EXPECT_EQ(p.narrowest_gen, 4u);
    EXPECT_EQ(p.narrowest_lanes, 4u);
}

TEST(TopologyPath, BehindSwitchAddsSwitchLatencyAndTakesNarrowestLink) {
    const auto t = PcieTopology::build(desktop_nodes(false), desktop_links());
    const DevicePath& w = t.path("wifi0");
    EXPECT_EQ(w.hops, (Strings{"rc", "rp1", "sw0", "wifi0"}));
    EXPECT_EQ(w.link_ids, (std::vector<unsigned>{1, 3, 4}));
    EXPECT_EQ(w.latency, (20 + 200 + 150) * kNs + PcieTopology::kDefaultSwitchLatency);
    EXPECT_EQ(w.latency, 520 * kNs);
    EXPECT_DOUBLE_EQ(w.bandwidth, kGen2x1); // the last link
    EXPECT_EQ(w.narrowest_gen, 2u);
    EXPECT_EQ(w.narrowest_lanes, 1u);

    // The Gen4 x4 device is held back by the switch's Gen3 x4 uplink, in the middle of its path.
    const DevicePath& d = t.path("dual");
    EXPECT_EQ(d.hops, (Strings{"rc", "rp1", "sw0", "dual"}));
    EXPECT_EQ(d.link_ids, (std::vector<unsigned>{1, 3, 5}));
    EXPECT_EQ(d.latency, 520 * kNs);
    EXPECT_DOUBLE_EQ(d.bandwidth, kGen3x4);
    EXPECT_EQ(d.narrowest_gen, 3u);
    EXPECT_EQ(d.narrowest_lanes, 4u);
}

TEST(TopologyPath, AcsDoesNotChangePaths) {
    const auto a = PcieTopology::build(desktop_nodes(false), desktop_links());
    const auto b = PcieTopology::build(desktop_nodes(true), desktop_links());
    for (const auto& ep : a.endpoints()) {
        EXPECT_EQ(a.path(ep).hops, b.path(ep).hops) << ep;
        EXPECT_EQ(a.path(ep).link_ids, b.path(ep).link_ids) << ep;
        EXPECT_EQ(a.path(ep).latency, b.path(ep).latency) << ep;
        EXPECT_DOUBLE_EQ(a.path(ep).bandwidth, b.path(ep).bandwidth) << ep;
    }
}

TEST(TopologyPath, DevicesBehindOneSwitchShareItsUplink) {
    const auto t = PcieTopology::build(desktop_nodes(true), desktop_links());
    EXPECT_EQ(shared_links(t.path("wifi0"), t.path("dual")), (std::vector<unsigned>{1, 3}));
    EXPECT_TRUE(shared_links(t.path("nvme0"), t.path("wifi0")).empty());
    EXPECT_TRUE(shared_links(t.path("nvme0"), t.path("dual")).empty());
    // Link ids index links(): the shared uplink is rp1 -> sw0.
    EXPECT_EQ(t.links()[3].upstream, "rp1");
    EXPECT_EQ(t.links()[3].downstream, "sw0");
    EXPECT_DOUBLE_EQ(t.link_bytes_per_s(3), kGen3x4);
}

TEST(TopologyPath, SwitchLatencyParameterCountsEachSwitch) {
    const auto none = PcieTopology::build(desktop_nodes(false), desktop_links(), 0);
    EXPECT_EQ(none.switch_latency(), 0u);
    EXPECT_EQ(none.path("wifi0").latency, 370 * kNs);
    EXPECT_EQ(none.path("nvme0").latency, 270 * kNs);
    const auto slow = PcieTopology::build(desktop_nodes(false), desktop_links(), 300 * kNs);
    EXPECT_EQ(slow.path("wifi0").latency, 670 * kNs);
    EXPECT_EQ(slow.path("nvme0").latency, 270 * kNs);

    // Two switches crossed: 4 links of 10 + 100 + 100 + 100 ns and 2 x 300 ns.
    const auto chain = PcieTopology::build(chain_nodes(true, true), chain_links(), 300 * kNs);
    EXPECT_EQ(chain.path("e1").hops, (Strings{"rc", "rp0", "swA", "swB", "e1"}));
    EXPECT_EQ(chain.path("e1").latency, 910 * kNs);
    EXPECT_EQ(chain.path("e3").latency, 510 * kNs);
}

TEST(TopologyPath, BandwidthPerGenerationAndWidth) {
    const double enc[] = {0, 0.8, 0.8, 128.0 / 130, 128.0 / 130, 128.0 / 130, 242.0 / 256};
    const double gts[] = {0, 2.5e9, 5e9, 8e9, 16e9, 32e9, 64e9};
    for (unsigned gen = 1; gen <= 6; ++gen)
        for (unsigned lanes : {1u, 2u, 4u, 8u, 16u}) {
            const auto t = PcieTopology::build(
                {{"rc", Kind::RootComplex}, {"rp", Kind::RootPort}, {"ep", Kind::Endpoint}},
                {{"rc", "rp", 6, 16, 0}, {"rp", "ep", gen, lanes, 0}});
            EXPECT_DOUBLE_EQ(t.path("ep").bandwidth, gts[gen] / 8 * lanes * enc[gen])
                << "Gen" << gen << " x" << lanes;
        }
    EXPECT_DOUBLE_EQ(kGen2x1, 500e6);
}

TEST(TopologyPath, EndpointsInNodeOrder) {
    const auto t = PcieTopology::build(desktop_nodes(false), desktop_links());
    EXPECT_EQ(t.endpoints(), (Strings{"nvme0", "wifi0", "dual"}));
    EXPECT_EQ(t.root_complex(), "rc");
}

// ---- IOMMU groups ---------------------------------------------------------------------------

TEST(TopologyGroups, SwitchWithoutAcsSharesOneGroup) {
    const auto t = PcieTopology::build(desktop_nodes(false), desktop_links());
    EXPECT_EQ(t.groups(), (std::vector<Strings>{{"nvme0"}, {"wifi0", "dual"}}));
    EXPECT_EQ(t.group_of("nvme0"), 0);
    EXPECT_EQ(t.group_of("wifi0"), 1);
    EXPECT_EQ(t.group_of("dual"), 1);
}

TEST(TopologyGroups, SwitchWithAcsIsolatesEachEndpoint) {
    const auto t = PcieTopology::build(desktop_nodes(true), desktop_links());
    // The two functions of "dual" still share their group: one member stands for both.
    EXPECT_EQ(t.groups(), (std::vector<Strings>{{"nvme0"}, {"wifi0"}, {"dual"}}));
    EXPECT_EQ(t.group_of("nvme0"), 0);
    EXPECT_EQ(t.group_of("wifi0"), 1);
    EXPECT_EQ(t.group_of("dual"), 2);
}

TEST(TopologyGroups, MultiFunctionEndpointIsOneGroup) {
    auto nodes = desktop_nodes(true);
    nodes[3].functions = 4; // nvme0 on its root port
    const auto t = PcieTopology::build(nodes, desktop_links());
    EXPECT_EQ(t.groups()[t.group_of("nvme0")], (Strings{"nvme0"}));
    EXPECT_EQ(t.groups().size(), 3u);
    EXPECT_NE(t.to_dot().find("\"nvme0\" [shape=ellipse, label=\"nvme0\\n01:00.0\\n4 functions\"]"),
              std::string::npos);
}

TEST(TopologyGroups, HighestSwitchWithoutAcsTakesItsWholeSubtree) {
    // swA without ACS: everything below it, including what hangs below the isolating swB.
    const auto t = PcieTopology::build(chain_nodes(false, true), chain_links());
    EXPECT_EQ(t.groups(), (std::vector<Strings>{{"e4"}, {"e1", "e2", "e3"}}));
    // Both without ACS: still one group, not one per switch.
    const auto u = PcieTopology::build(chain_nodes(false, false), chain_links());
    EXPECT_EQ(u.groups(), (std::vector<Strings>{{"e4"}, {"e1", "e2", "e3"}}));
}

TEST(TopologyGroups, LowerSwitchWithoutAcsGroupsOnlyItsSubtree) {
    const auto t = PcieTopology::build(chain_nodes(true, false), chain_links());
    EXPECT_EQ(t.groups(), (std::vector<Strings>{{"e4"}, {"e1", "e2"}, {"e3"}}));
    EXPECT_EQ(t.group_of("e1"), t.group_of("e2"));
    EXPECT_NE(t.group_of("e1"), t.group_of("e3"));
}

TEST(TopologyGroups, AcsOnEverySwitchGivesOneGroupPerEndpoint) {
    const auto t = PcieTopology::build(chain_nodes(true, true), chain_links());
    EXPECT_EQ(t.groups(), (std::vector<Strings>{{"e4"}, {"e1"}, {"e2"}, {"e3"}}));
}

TEST(TopologyGroups, NumberedByFirstAppearanceInNodeOrder) {
    auto nodes = desktop_nodes(false);
    std::swap(nodes[3], nodes[6]); // dual listed before nvme0 and wifi0
    const auto t = PcieTopology::build(nodes, desktop_links());
    EXPECT_EQ(t.groups(), (std::vector<Strings>{{"dual", "wifi0"}, {"nvme0"}}));
    EXPECT_EQ(t.group_of("wifi0"), 0);
    EXPECT_EQ(t.group_of("nvme0"), 1);
}

TEST(TopologyGroups, QueriesNameTheirMistake) {
    const auto t = PcieTopology::build(desktop_nodes(false), desktop_links());
    try {
        t.group_of("nvme9");
        FAIL();
    } catch (const TopologyError& e) {
        EXPECT_STREQ(e.what(), "no endpoint 'nvme9' in the topology");
    }
    try {
        t.path("sw0");
        FAIL();
    } catch (const TopologyError& e) {
        EXPECT_STREQ(e.what(), "'sw0' is a switch, not an endpoint");
    }
}

// ---- configuration errors -------------------------------------------------------------------

TEST(TopologyErrors, DesktopIsValid) {
    EXPECT_EQ(error_of(desktop_nodes(false), desktop_links()), "(no error)");
    EXPECT_EQ(error_of(chain_nodes(false, true), chain_links()), "(no error)");
}

TEST(TopologyErrors, UnknownNodeInLink) {
    auto links = desktop_links();
    links.push_back({"sw0", "nvme9", 4, 4, 0});
    EXPECT_EQ(error_of(desktop_nodes(false), links),
              "link 6 ('sw0' -> 'nvme9'): unknown node 'nvme9'");
    links.back() = {"sw9", "nvme0", 4, 4, 0};
    EXPECT_EQ(error_of(desktop_nodes(false), links),
              "link 6 ('sw9' -> 'nvme0'): unknown node 'sw9'");
}

TEST(TopologyErrors, DuplicateNodeName) {
    auto nodes = desktop_nodes(false);
    nodes.push_back({"wifi0", Kind::Endpoint});
    EXPECT_EQ(error_of(nodes, desktop_links()), "duplicate node 'wifi0'");
    nodes.back() = {"", Kind::Endpoint};
    EXPECT_EQ(error_of(nodes, desktop_links()), "node 7 has an empty name");
}

TEST(TopologyErrors, NodeConnectedTwiceUpstream) {
    auto links = desktop_links();
    links.push_back({"sw0", "nvme0", 4, 4, 0});
    EXPECT_EQ(error_of(desktop_nodes(false), links),
              "'nvme0' is connected twice upstream: to 'rp0' (link 2) and 'sw0' (link 6)");
    links.back() = {"sw0", "wifi0", 2, 1, 0}; // the same link twice
    EXPECT_EQ(error_of(desktop_nodes(false), links),
              "'wifi0' is connected twice upstream: to 'sw0' (link 4) and 'sw0' (link 6)");
}

TEST(TopologyErrors, UnconnectedNodes) {
    auto nodes = desktop_nodes(false);
    nodes.push_back({"ghost", Kind::Endpoint});
    EXPECT_EQ(error_of(nodes, desktop_links()), "not connected to the root complex 'rc': 'ghost'");

    // An island: a switch with a device, linked to each other but not to the root complex.
    nodes.back() = {"sw9", Kind::Switch};
    nodes.push_back({"e9", Kind::Endpoint});
    auto links = desktop_links();
    links.push_back({"sw9", "e9", 4, 4, 0});
    EXPECT_EQ(error_of(nodes, links), "not connected to the root complex 'rc': 'sw9', 'e9'");

    // A root port left without its root-complex edge.
    links = desktop_links();
    links.erase(links.begin() + 1);
    EXPECT_EQ(error_of(desktop_nodes(false), links),
              "not connected to the root complex 'rc': 'rp1', 'sw0', 'wifi0', 'dual'");
}

TEST(TopologyErrors, Cycle) {
    auto nodes = desktop_nodes(false);
    nodes.push_back({"swX", Kind::Switch});
    nodes.push_back({"swY", Kind::Switch});
    nodes.push_back({"swZ", Kind::Switch});
    auto links = desktop_links();
    links.push_back({"swX", "swY", 4, 4, 0});
    links.push_back({"swY", "swZ", 4, 4, 0});
    links.push_back({"swZ", "swX", 4, 4, 0});
    EXPECT_EQ(error_of(nodes, links), "cycle: 'swX' -> 'swY' -> 'swZ' -> 'swX'");

    links.resize(desktop_links().size());
    links.push_back({"swY", "swY", 4, 4, 0}); // a switch as its own parent
    EXPECT_EQ(error_of(nodes, links), "cycle: 'swY' -> 'swY'");
}

TEST(TopologyErrors, RootComplexCount) {
    auto nodes = desktop_nodes(false);
    nodes.push_back({"rc1", Kind::RootComplex});
    EXPECT_EQ(error_of(nodes, desktop_links()), "more than one root complex: 'rc', 'rc1'");

    nodes = desktop_nodes(false);
    nodes.erase(nodes.begin());
    EXPECT_EQ(error_of(nodes, {}), "no root complex");
    EXPECT_EQ(error_of({}, {}), "no root complex");
}

TEST(TopologyErrors, EndpointWithChildren) {
    auto nodes = desktop_nodes(false);
    nodes.push_back({"x", Kind::Endpoint});
    auto links = desktop_links();
    links.push_back({"nvme0", "x", 4, 4, 0});
    EXPECT_EQ(error_of(nodes, links),
              "link 6 ('nvme0' -> 'x'): endpoint 'nvme0' cannot have children");
    // An endpoint as a link's upstream is refused whatever hangs below it.
    links.back() = {"wifi0", "sw0", 4, 4, 0};
    EXPECT_EQ(error_of(desktop_nodes(false), links),
              "link 6 ('wifi0' -> 'sw0'): endpoint 'wifi0' cannot have children");
}

TEST(TopologyErrors, GenerationAndWidthRanges) {
    for (unsigned gen : {0u, 7u}) {
        auto links = desktop_links();
        links[2].gen = gen;
        EXPECT_EQ(error_of(desktop_nodes(false), links), "link 2 ('rp0' -> 'nvme0'): gen " +
                                                             std::to_string(gen) +
                                                             " is out of range (1..6)");
    }
    for (unsigned lanes : {0u, 3u, 12u, 32u}) {
        auto links = desktop_links();
        links[4].lanes = lanes;
        EXPECT_EQ(error_of(desktop_nodes(false), links),
                  "link 4 ('sw0' -> 'wifi0'): " + std::to_string(lanes) +
                      " lanes (expected 1, 2, 4, 8 or 16)");
    }
}

TEST(TopologyErrors, PcieTreeRules) {
    auto nodes = desktop_nodes(false);
    auto links = desktop_links();
    links.push_back({"sw0", "rc", 4, 4, 0});
    EXPECT_EQ(error_of(nodes, links),
              "link 6 ('sw0' -> 'rc'): the root complex 'rc' cannot be downstream of a link");

    links.back() = {"rc", "nvme0", 4, 4, 0};
    EXPECT_EQ(error_of(nodes, links), "link 6 ('rc' -> 'nvme0'): the root complex connects to "
                                      "root ports only, 'nvme0' is an endpoint");

    nodes.push_back({"rp2", Kind::RootPort});
    links.back() = {"sw0", "rp2", 4, 4, 0};
    EXPECT_EQ(error_of(nodes, links), "link 6 ('sw0' -> 'rp2'): root port 'rp2' must hang from "
                                      "the root complex, not from switch 'sw0'");

    nodes = desktop_nodes(false);
    nodes.push_back({"nvme1", Kind::Endpoint});
    links.back() = {"rp0", "nvme1", 4, 4, 0};
    EXPECT_EQ(error_of(nodes, links), "root port 'rp0' has more than one downstream link: "
                                      "'nvme0' (link 2) and 'nvme1' (link 6)");
}

TEST(TopologyErrors, PerKindFields) {
    auto nodes = desktop_nodes(false);
    nodes[1].acs = true;
    EXPECT_EQ(error_of(nodes, desktop_links()),
              "'rp0' is a root port: acs applies to switches only");
    nodes = desktop_nodes(false);
    nodes[3].acs = true;
    EXPECT_EQ(error_of(nodes, desktop_links()),
              "'nvme0' is an endpoint: acs applies to switches only");

    nodes = desktop_nodes(false);
    nodes[4].functions = 2;
    EXPECT_EQ(error_of(nodes, desktop_links()),
              "'sw0' is a switch: functions applies to endpoints only");
    for (unsigned f : {0u, 9u}) {
        nodes = desktop_nodes(false);
        nodes[5].functions = f;
        EXPECT_EQ(error_of(nodes, desktop_links()),
                  "endpoint 'wifi0' has " + std::to_string(f) + " functions (expected 1..8)");
    }
}

TEST(TopologyErrors, OverlappingRoutingIds) {
    auto nodes = desktop_nodes(false);
    nodes[5].bus_dev = 0x0401; // wifi0 at 04:00.1, which is dual's second function
    EXPECT_EQ(error_of(nodes, desktop_links()), "'wifi0' and 'dual' overlap at routing ID 04:00.1");
    nodes[5].bus_dev = 0x0402; // 04:00.2 is free
    EXPECT_EQ(error_of(nodes, desktop_links()), "(no error)");
}

// ---- DOT ------------------------------------------------------------------------------------

TEST(TopologyDot, GoldenSmallTree) {
    const auto t = PcieTopology::build({{"rc", Kind::RootComplex},
                                        {"rp0", Kind::RootPort},
                                        {"sw0", Kind::Switch, true},
                                        {"a", Kind::Endpoint, false, 1, 0x0200},
                                        {"b", Kind::Endpoint, false, 2}},
                                       {{"rc", "rp0", 4, 16, 0},
                                        {"rp0", "sw0", 4, 8, 0},
                                        {"sw0", "a", 4, 4, 0},
                                        {"sw0", "b", 2, 1, 0}});
    EXPECT_EQ(t.to_dot(), R"(digraph pcie {
    "rc" [shape=box3d, label="rc"];
    "rp0" [shape=box, label="rp0"];
    "sw0" [shape=hexagon, label="sw0\nACS"];
    subgraph cluster_group0 {
        label="IOMMU group 0";
        "a" [shape=ellipse, label="a\n02:00.0"];
    }
    subgraph cluster_group1 {
        label="IOMMU group 1";
        "b" [shape=ellipse, label="b\n2 functions"];
    }
    "rc" -> "rp0" [label="internal"];
    "rp0" -> "sw0" [label="Gen4 x8"];
    "sw0" -> "a" [label="Gen4 x4"];
    "sw0" -> "b" [label="Gen2 x1"];
}
)");
}

TEST(TopologyDot, ClustersFollowGroups) {
    const auto shared = PcieTopology::build(desktop_nodes(false), desktop_links()).to_dot();
    EXPECT_NE(cluster(shared, 0).find("label=\"IOMMU group 0\";"), std::string::npos);
    EXPECT_NE(cluster(shared, 0).find("\"nvme0\""), std::string::npos);
    const std::string g1 = cluster(shared, 1);
    EXPECT_NE(g1.find("label=\"IOMMU group 1\";"), std::string::npos);
    EXPECT_NE(g1.find("\"wifi0\" [shape=ellipse"), std::string::npos);
    EXPECT_NE(g1.find("\"dual\" [shape=ellipse"), std::string::npos);
    EXPECT_EQ(shared.find("cluster_group2"), std::string::npos);
    EXPECT_NE(shared.find("\"sw0\" -> \"wifi0\" [label=\"Gen2 x1\"];"), std::string::npos);
    EXPECT_NE(shared.find("\"rp1\" -> \"sw0\" [label=\"Gen3 x4\"];"), std::string::npos);
    EXPECT_NE(shared.find("\"sw0\" [shape=hexagon, label=\"sw0\"];"), std::string::npos);

    const auto isolated = PcieTopology::build(desktop_nodes(true), desktop_links()).to_dot();
    EXPECT_NE(cluster(isolated, 1).find("\"wifi0\""), std::string::npos);
    EXPECT_EQ(cluster(isolated, 1).find("\"dual\""), std::string::npos);
    EXPECT_NE(cluster(isolated, 2).find("\"dual\""), std::string::npos);
    EXPECT_NE(isolated.find("label=\"sw0\\nACS\""), std::string::npos);

    // Deterministic: the same input gives the same text.
    EXPECT_EQ(isolated, PcieTopology::build(desktop_nodes(true), desktop_links()).to_dot());
}

TEST(TopologyDot, QuotesAreEscaped) {
    const auto t = PcieTopology::build(
        {{"rc", Kind::RootComplex}, {"rp0", Kind::RootPort}, {"we\"ird", Kind::Endpoint}},
        {{"rc", "rp0", 4, 4, 0}, {"rp0", "we\"ird", 4, 4, 0}});
    const std::string dot = t.to_dot();
    EXPECT_NE(dot.find("\"we\\\"ird\" [shape=ellipse, label=\"we\\\"ird\"];"), std::string::npos);
    EXPECT_NE(dot.find("\"rp0\" -> \"we\\\"ird\""), std::string::npos);
}
