// Config: loading, layering, defaults, named instances, dump round trip, compare, and the exact
// message of every kind of user mistake.
#include "sim/config/config.h"
#include "sim/config/units.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace iosim::cfg {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        // Parameterised tests are named "Case/N": keep the folder flat so TearDown removes it.
        std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::replace(name.begin(), name.end(), '/', '_');
        dir_ = fs::temp_directory_path() /
               ("iosim_config_test_" + std::to_string(::getpid()) + "_" + name);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        std::string path = (dir_ / name).string();
        std::ofstream(path) << text;
        return path;
    }

    // The ConfigError message of loading `files` and `sets`, or "(no error)".
    static std::string error_of(const std::vector<std::string>& files,
                                const std::vector<std::string>& sets = {}) {
        try {
            Config::load(files, sets);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "(no error)";
    }

    fs::path dir_;
};

TEST_F(ConfigTest, SchemaIsConsistent) {
    EXPECT_NO_THROW(check_schema());
}

TEST_F(ConfigTest, DefaultsForEveryKey) {
    Config c = Config::load({}, {});
    EXPECT_EQ(c.time("sim.duration"), 20 * kMs);
    EXPECT_EQ(c.time("sim.warmup"), 2 * kMs);
    EXPECT_EQ(c.integer("sim.seed"), 1);
    EXPECT_EQ(c.integer("platform.cpu.cores"), 8);
    EXPECT_EQ(c.hz("platform.cpu.frequency"), 3e9);
    EXPECT_EQ(c.bytes("platform.memory.size"), 16ull << 30);
    EXPECT_EQ(c.bytes_per_s("platform.memory.bandwidth"), 51.2e9);
    EXPECT_FALSE(c.flag("platform.memory.backing_store"));
    EXPECT_EQ(c.str("platform.iommu.mode"), "lazy");
    EXPECT_EQ(c.time("platform.nvme.controller.cmd_latency"), 1500 * kNs);
    EXPECT_EQ(c.time("platform.nvme.msix.coalesce_time"), 0u);
    EXPECT_EQ(c.cycles("kernel.cost.alloc_iova"), 600u);
    EXPECT_EQ(c.cycles("kernel.cost.amd_iommu_flush_iotlb_all"), 150u);
    EXPECT_TRUE(c.names("workloads").empty());
    EXPECT_TRUE(c.compare().empty());

    // Every non-wildcard key has a value of its type.
    for (const Param& p : schema()) {
        if (p.key.find('*') != std::string::npos) continue;
        SCOPED_TRACE(p.key);
        switch (p.type) {
        case Type::Int:
            EXPECT_NO_THROW(c.integer(p.key));
            break;
        case Type::Float:
            EXPECT_NO_THROW(c.real(p.key));
            break;
        case Type::Bool:
            EXPECT_NO_THROW(c.flag(p.key));
            break;
        case Type::Enum:
        case Type::Str:
            EXPECT_EQ(c.str(p.key), p.def);
            break;
        case Type::Time:
            EXPECT_EQ(c.time(p.key), parse_time(p.def));
            break;
        case Type::Size:
            EXPECT_EQ(c.bytes(p.key), parse_size(p.def));
            break;
        case Type::Freq:
            EXPECT_EQ(c.hz(p.key), parse_freq(p.def));
            break;
        case Type::Bandwidth:
            EXPECT_EQ(c.bytes_per_s(p.key), parse_bandwidth(p.def));
            break;
        case Type::Rate:
            EXPECT_EQ(c.rate(p.key), parse_rate(p.def));
            break;
        case Type::Cycles:
            EXPECT_EQ(c.cycles(p.key), parse_cycles(p.def));
            break;
        }
    }
}

TEST_F(ConfigTest, LayeringLaterWins) {
    auto base = write("base.yaml", R"(sim:
  duration: 5ms
platform:
  cpu:
    cores: 4
    frequency: 2.5GHz
  iommu:
    mode: strict
)");
    auto overlay = write("overlay.yaml", R"(platform:
  cpu:
    cores: 16
)");
    Config c = Config::load({base, overlay}, {"platform.cpu.cores=32", "sim.seed=7"});
    EXPECT_EQ(c.integer("platform.cpu.cores"), 32);    // --set beats both files
    EXPECT_EQ(c.hz("platform.cpu.frequency"), 2.5e9);  // only in base
    EXPECT_EQ(c.str("platform.iommu.mode"), "strict"); // only in base
    EXPECT_EQ(c.time("sim.duration"), 5 * kMs);
    EXPECT_EQ(c.integer("sim.seed"), 7);
    EXPECT_EQ(c.sources, (std::vector<std::string>{base, overlay}));

    Config d = Config::load({base, overlay}, {});
    EXPECT_EQ(d.integer("platform.cpu.cores"), 16); // overlay beats base
    Config e = Config::load({base}, {"platform.cpu.cores=2", "platform.cpu.cores=3"});
    EXPECT_EQ(e.integer("platform.cpu.cores"), 3); // the last --set wins
}

TEST_F(ConfigTest, SetValuesAreYamlScalars) {
    Config c = Config::load({}, {"platform.iommu.mode=off", "platform.memory.latency=80 ns",
                                 "platform.memory.backing_store=true",
                                 "workloads.j={rw: write, bs: 128KiB}"});
    EXPECT_EQ(c.str("platform.iommu.mode"), "off"); // not YAML 1.1's boolean
    EXPECT_EQ(c.time("platform.memory.latency"), 80 * kNs);
    EXPECT_TRUE(c.flag("platform.memory.backing_store"));
    EXPECT_EQ(c.str("workloads.j.rw"), "write");
    EXPECT_EQ(c.bytes("workloads.j.bs"), 128u * 1024);
}

TEST_F(ConfigTest, NamedInstancesGetDefaultsAndKeepFileOrder) {
    auto base = write("jobs.yaml", R"(workloads:
  zeta:
    rw: read
  alpha:
    bs: 128KiB
    iodepth: 4
  empty:
)");
    auto overlay = write("more.yaml", R"(workloads:
  alpha:
    jobs: 2
  beta: {rw: randwrite}
)");
    Config c = Config::load({base, overlay}, {"workloads.gamma.iodepth=8"});
    EXPECT_EQ(c.names("workloads"),
              (std::vector<std::string>{"zeta", "alpha", "empty", "beta", "gamma"}));
    EXPECT_EQ(c.str("workloads.zeta.rw"), "read");
    EXPECT_EQ(c.integer("workloads.zeta.iodepth"), 32); // default per instance
    EXPECT_EQ(c.bytes("workloads.alpha.bs"), 128u * 1024);
    EXPECT_EQ(c.integer("workloads.alpha.iodepth"), 4);
    EXPECT_EQ(c.integer("workloads.alpha.jobs"), 2); // merged across files
    EXPECT_EQ(c.str("workloads.empty.device"), "nvme0");
    EXPECT_EQ(c.str("workloads.beta.rw"), "randwrite");
    EXPECT_EQ(c.integer("workloads.gamma.iodepth"), 8);
    EXPECT_EQ(c.bytes("workloads.gamma.size"), 1ull << 30);
}

TEST_F(ConfigTest, GetterMisuseIsALogicError) {
    auto f = write("j.yaml", "workloads:\n  j1: {}\n");
    Config c = Config::load({f}, {});
    EXPECT_THROW(c.integer("platform.cpu.corez"), std::logic_error);
    EXPECT_THROW(c.time("platform.cpu.cores"), std::logic_error); // wrong type
    EXPECT_THROW(c.integer("platform.iommu.mode"), std::logic_error);
    EXPECT_THROW(c.str("workloads.nope.rw"), std::logic_error); // no such instance
    EXPECT_THROW(c.str("workloads.*.rw"), std::logic_error);
    EXPECT_THROW(c.names("sim"), std::logic_error);
    EXPECT_THROW(c.names("workloads.j1"), std::logic_error);
    EXPECT_EQ(c.str("workloads.j1.rw"), "randread");
    // A logic_error is not a ConfigError: user mistakes and simulator bugs stay apart.
    try {
        c.integer("nope");
    } catch (const ConfigError&) {
        ADD_FAILURE() << "getter bug reported as a user error";
    } catch (const std::logic_error&) {
    }
}

TEST_F(ConfigTest, DumpRoundTrips) {
    auto f = write("full.yaml", R"(sim:
  duration: 1500us
platform:
  iommu:
    mode: strict
    iotlb: {entries: 1024, policy: fifo}
  nvme:
    controller:
      cmd_latency: 2000ns
    link: {lanes: 8, max_payload: 512B}
  memory: {bandwidth: 12800MB/s}
kernel:
  cost:
    alloc_iova: 700 cycles
workloads:
  randread: {iodepth: 128}
  seqwrite: {rw: write, bs: 1MiB}
compare:
  platform.iommu.mode: [strict, lazy]
)");
    Config c = Config::load({f}, {});
    const std::string dump = c.dump_yaml();
    EXPECT_NE(dump.find("  duration: 1.5ms\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    mode: strict\n"), std::string::npos);
    EXPECT_NE(dump.find("      cmd_latency: 2us\n"), std::string::npos);
    EXPECT_NE(dump.find("    bandwidth: 12.8GB/s\n"), std::string::npos);
    EXPECT_NE(dump.find("    alloc_iova: 700\n"), std::string::npos);
    EXPECT_NE(
        dump.find("  seqwrite:\n    type: fio\n    device: nvme0\n    rw: write\n    bs: 1MiB\n"),
        std::string::npos);
    EXPECT_EQ(dump.find("compare"), std::string::npos); // a variant's config has no compare
    EXPECT_EQ(dump.rfind("sim:\n", 0), 0u);             // schema order

    Config again = Config::load({write("dump.yaml", dump)}, {});
    EXPECT_EQ(again.dump_yaml(), dump);
    EXPECT_EQ(again.names("workloads"), c.names("workloads"));
    EXPECT_EQ(again.time("sim.duration"), c.time("sim.duration"));
    EXPECT_EQ(again.bytes_per_s("platform.memory.bandwidth"), 12.8e9);
    EXPECT_TRUE(again.compare().empty());

    // Without instances the section is still there, as an empty mapping.
    const std::string plain = Config::load({}, {}).dump_yaml();
    EXPECT_NE(plain.find("\nworkloads: {}\n"), std::string::npos);
    EXPECT_EQ(Config::load({write("plain.yaml", plain)}, {}).dump_yaml(), plain);
}

TEST_F(ConfigTest, CompareSection) {
    auto base = write("cmp.yaml", R"(workloads:
  randread: {}
compare:
  platform.iommu.mode: [off, strict, lazy]
  workloads.randread.iodepth: [1, 32, 128]
  platform.memory.latency: [80ns, 0.1us]
)");
    auto overlay = write("cmp2.yaml", R"(compare:
  workloads.randread.iodepth: [4]
  sim.seed: [1, 2]
)");
    Config c = Config::load({base, overlay}, {"compare.platform.cpu.cores=[4, 8]"});
    using Entry = std::pair<std::string, std::vector<std::string>>;
    std::vector<Entry> want = {
        {"platform.iommu.mode", {"off", "strict", "lazy"}},
        {"workloads.randread.iodepth", {"4"}},          // replaced in place by the later file
        {"platform.memory.latency", {"80ns", "0.1us"}}, // raw, as written
        {"sim.seed", {"1", "2"}},
        {"platform.cpu.cores", {"4", "8"}},
    };
    EXPECT_EQ(c.compare(), want);
    EXPECT_EQ(c.str("platform.iommu.mode"), "lazy"); // compare does not change the base config
}

struct Bad {
    const char* name;
    const char* yaml;
    const char* error; // after "<path>:"
};

class BadFile : public ConfigTest, public ::testing::WithParamInterface<Bad> {};

TEST_P(BadFile, ExactMessage) {
    const Bad& b = GetParam();
    auto path = write(std::string(b.name) + ".yaml", b.yaml);
    EXPECT_EQ(error_of({path}), path + ":" + b.error);
}

// clang-format off
const Bad kBadFiles[] = {
    {"unknown_key", "platform:\n  iommu:\n    mdoe: strict\n",
     "3:5: error: platform.iommu.mdoe: unknown key; did you mean 'platform.iommu.mode'?"},
    {"unknown_top", "platfrom:\n  cpu: {}\n",
     "1:1: error: platfrom: unknown key; did you mean 'platform'?"},
    {"wrong_section", "platform:\n  iotlb:\n    entries: 4\n",
     "2:3: error: platform.iotlb: unknown key; did you mean 'platform.iommu.iotlb'?"},
    {"unknown_in_job", "workloads:\n  j1:\n    iodpeth: 4\n",
     "3:5: error: workloads.j1.iodpeth: unknown key; did you mean 'workloads.j1.iodepth'?"},
    {"unknown_no_near", "platform:\n  cpu:\n    turbo: true\n",
     "3:5: error: platform.cpu.turbo: unknown key; expected one of: cores, frequency"},
    {"dotted_in_file", "platform.iommu.mode: strict\n",
     "1:1: error: platform.iommu.mode: dotted keys are not allowed in a file; nest each section "
     "under its parent instead"},
    {"duplicate_key", "platform:\n  iommu:\n    mode: strict\n    iotlb: {entries: 8}\n    mode: lazy\n",
     "5:5: error: platform.iommu.mode: duplicate key 'mode' (first defined at line 3)"},
    {"duplicate_flow", "sim: {seed: 1, seed: 2}\n",
     "1:16: error: sim.seed: duplicate key 'seed' (first defined at line 1)"},
    {"duplicate_job", "workloads:\n  a: {}\n  a: {iodepth: 2}\n",
     "3:3: error: workloads.a: duplicate key 'a' (first defined at line 2)"},
    {"missing_unit", "platform:\n  memory:\n    latency: 90\n",
     "3:14: error: platform.memory.latency: '90' has no unit; expected a time like '90ns'"},
    {"missing_unit_zero", "sim:\n  warmup: 0\n",
     "2:11: error: sim.warmup: '0' has no unit; expected a time like '0ns'"},
    {"wrong_unit", "platform:\n  memory:\n    latency: 4GHz\n",
     "3:14: error: platform.memory.latency: '4GHz' is not a time: GHz is a frequency unit; use "
     "ps, ns, us, ms or s"},
    {"unit_case", "platform:\n  cpu:\n    frequency: 3 Ghz\n",
     "3:16: error: platform.cpu.frequency: '3 Ghz' has an unknown unit 'Ghz'; did you mean '3GHz'?"},
    {"not_whole", "workloads:\n  j:\n    bs: 1.3KiB\n",
     "3:9: error: workloads.j.bs: '1.3KiB' is not a whole number of bytes"},
    {"wrong_type", "platform:\n  cpu:\n    cores: four\n",
     "3:12: error: platform.cpu.cores: expected an integer, got 'four'"},
    {"float_for_int", "workloads:\n  j:\n    iodepth: 4.5\n",
     "3:14: error: workloads.j.iodepth: expected an integer, got '4.5'"},
    {"bool_yes", "platform:\n  memory:\n    backing_store: yes\n",
     "3:20: error: platform.memory.backing_store: expected true or false, got 'yes'"},
    {"cycles_unit", "kernel:\n  cost:\n    alloc_iova: 600ns\n",
     "3:17: error: kernel.cost.alloc_iova: '600ns' is not a cycle count: ns is a time unit; write "
     "an integer like '600' or '600 cycles'"},
    {"out_of_range", "platform:\n  cpu:\n    cores: 512\n",
     "3:12: error: platform.cpu.cores: 512 is out of range [1, 256]"},
    {"out_of_range_unit", "sim:\n  quantum: 2ms\n",
     "2:12: error: sim.quantum: 2ms is out of range [1ns, 1ms]"},
    {"below_range_unit", "platform:\n  nvme:\n    link:\n      max_payload: 64B\n",
     "4:20: error: platform.nvme.link.max_payload: 64B is out of range [128B, 4KiB]"},
    {"int_overflow", "sim:\n  seed: 99999999999999999999\n",
     "2:9: error: sim.seed: 99999999999999999999 is out of range [0, 9223372036854775807]"},
    {"not_a_choice", "platform:\n  nvme:\n    link:\n      lanes: 3\n",
     "4:14: error: platform.nvme.link.lanes: 3 is not one of 1, 2, 4, 8, 16"},
    {"bad_enum", "platform:\n  iommu:\n    mode: stric\n",
     "3:11: error: platform.iommu.mode: 'stric' is not one of off, passthrough, strict, lazy; did "
     "you mean 'strict'?"},
    {"bad_enum_far", "platform:\n  iommu:\n    iotlb:\n      policy: plru\n",
     "4:15: error: platform.iommu.iotlb.policy: 'plru' is not one of lru, fifo, random; did you "
     "mean 'lru'?"},
    {"bad_enum_none", "workloads:\n  j:\n    rw: randrw\n",
     "3:9: error: workloads.j.rw: 'randrw' is not one of read, write, randread, randwrite"},
    {"map_for_scalar", "platform:\n  cpu:\n    cores: {n: 4}\n",
     "3:12: error: platform.cpu.cores: expected an integer, got a mapping"},
    {"list_for_scalar", "platform:\n  iommu:\n    mode: [strict, lazy]\n",
     "3:11: error: platform.iommu.mode: expected one of off, passthrough, strict, lazy, got a list"},
    {"missing_value", "sim:\n  duration:\n",
     "2:3: error: sim.duration: missing value; expected a time like '20ms'"},
    {"scalar_for_map", "platform:\n  cpu: 8\n",
     "2:8: error: platform.cpu: expected a section with keys cores, frequency; got '8'"},
    {"list_for_jobs", "workloads:\n  - rw: randread\n",
     "2:3: error: workloads: expected a mapping from names to settings, like 'workloads: {name1: "
     "{type: ...}}', got a list"},
    {"bad_job_name", "workloads:\n  my job: {}\n",
     "2:3: error: workloads.my job: invalid name 'my job'; use letters, digits, '_' and '-'"},
    {"top_not_map", "- sim\n",
     "1:1: error: expected a mapping of sections (sim, platform, kernel, safety, workloads, compare), got "
     "a list"},
    {"syntax_flow", "platform:\n  cpu:\n    cores: [1, 2\n",
     "4:1: error: invalid YAML: end of sequence flow not found"},
    {"syntax_map", "sim:\n  seed: 1\n   warmup: 2ms\n",
     "3:10: error: invalid YAML: illegal map value"},
    {"syntax_indent", "sim:\n  - 1\n  seed: 2\n",
     "3:3: error: invalid YAML: end of map not found"},
    {"two_documents", "sim: {seed: 1}\n---\nsim: {seed: 2}\n",
     "3:1: error: more than one YAML document; a config file holds one"},
    {"compare_unknown", "compare:\n  platform.iommu.mdoe: [strict, lazy]\n",
     "2:3: error: compare.platform.iommu.mdoe: unknown parameter 'platform.iommu.mdoe'; did you "
     "mean 'platform.iommu.mode'?"},
    {"compare_empty", "compare:\n  platform.iommu.mode: []\n",
     "2:24: error: compare.platform.iommu.mode: empty list; give the values to compare, like "
     "[off, passthrough]"},
    {"compare_no_list", "compare:\n  platform.iommu.mode:\n",
     "2:3: error: compare.platform.iommu.mode: empty list; give the values to compare, like "
     "[off, passthrough]"},
    {"compare_scalar", "compare:\n  workloads.j.iodepth: 8\nworkloads: {j: {}}\n",
     "2:24: error: compare.workloads.j.iodepth: expected a list of values, like [32, ...], got '8'"},
    {"compare_bad_value", "workloads: {j: {}}\ncompare:\n  workloads.j.iodepth: [1, 0]\n",
     "3:28: error: compare.workloads.j.iodepth: 0 is out of range [1, 65536]"},
    {"compare_section", "compare:\n  platform.iommu: [strict]\n",
     "2:3: error: compare.platform.iommu: 'platform.iommu' is a section; compare needs a "
     "parameter, like 'platform.iommu.mode'"},
    {"compare_no_instance", "workloads:\n  randread: {}\ncompare:\n  workloads.randred.iodepth: [1]\n",
     "4:3: error: compare.workloads.randred.iodepth: 'randred' is not defined under workloads; did "
     "you mean 'randread'?"},
    {"compare_wildcard", "workloads:\n  a: {}\ncompare:\n  workloads.*.iodepth: [1]\n",
     "4:3: error: compare.workloads.*.iodepth: '*' is not a name; give the workloads entry to "
     "compare, like 'workloads.NAME.iodepth'"},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Config, BadFile, ::testing::ValuesIn(kBadFiles),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(ConfigTest, MissingFile) {
    auto path = (dir_ / "nope.yaml").string();
    EXPECT_EQ(error_of({path}), path + ": error: cannot read file: No such file or directory");
    EXPECT_EQ(error_of({dir_.string()}),
              dir_.string() + ": error: cannot read file: is a directory");
}

TEST_F(ConfigTest, ErrorStopsAtTheFirstFileWithAMistake) {
    auto good = write("good.yaml", "sim: {seed: 3}\n");
    auto bad = write("bad.yaml", "\n\nsim: {sed: 3}\n");
    EXPECT_EQ(error_of({good, bad}),
              bad + ":3:7: error: sim.sed: unknown key; did you mean 'sim.seed'?");
}

TEST_F(ConfigTest, BadSet) {
    struct Case {
        const char* set;
        const char* error;
    };
    // clang-format off
    const Case cases[] = {
        {"platform.iommu.mode", "--set 'platform.iommu.mode': error: expected KEY=VALUE"},
        {"=5", "--set '=5': error: expected KEY=VALUE, but KEY is empty"},
        {"platform.iommu.mdoe=strict",
         "--set 'platform.iommu.mdoe=strict': error: platform.iommu.mdoe: unknown key; did you mean "
         "'platform.iommu.mode'?"},
        {"platform.iomu.mode=strict",
         "--set 'platform.iomu.mode=strict': error: platform.iomu.mode: unknown key; did you mean "
         "'platform.iommu.mode'?"},
        {"iodepth=4",
         "--set 'iodepth=4': error: iodepth: unknown key; did you mean 'workloads.<name>.iodepth'?"},
        {"bogus=1",
         "--set 'bogus=1': error: bogus: unknown key; expected one of: sim, platform, kernel, "
         "safety, workloads, compare"},
        {"platform.iommu.mode.x=1",
         "--set 'platform.iommu.mode.x=1': error: platform.iommu.mode.x: unknown key; "
         "platform.iommu.mode is a parameter, not a section"},
        {"platform..mode=1",
         "--set 'platform..mode=1': error: platform..mode: unknown key; a key name cannot be "
         "empty"},
        {"platform.iommu=strict",
         "--set 'platform.iommu=strict': error: platform.iommu: this is a section, not a "
         "parameter; set one of its keys: mode, iotlb, walk_cache, walker, cmd, fault_log_size"},
        {"sim.seed=", "--set 'sim.seed=': error: sim.seed: missing value; expected an integer"},
        {"sim.seed=[1", "--set 'sim.seed=[1': error: sim.seed: cannot parse the value as YAML: "
                        "end of sequence flow not found"},
        {"sim.duration=20", "--set 'sim.duration=20': error: sim.duration: '20' has no unit; "
                            "expected a time like '20ns'"},
        {"platform.cpu.cores=0",
         "--set 'platform.cpu.cores=0': error: platform.cpu.cores: 0 is out of range [1, 256]"},
        {"platform.iommu.mode=[strict, lazy]",
         "--set 'platform.iommu.mode=[strict, lazy]': error: platform.iommu.mode: expected one of "
         "off, passthrough, strict, lazy, got a list"},
        {"workloads.a b.rw=read",
         "--set 'workloads.a b.rw=read': error: workloads.a b: invalid name 'a b'; use letters, "
         "digits, '_' and '-'"},
        {"compare.platform.iommu.mode=[]",
         "--set 'compare.platform.iommu.mode=[]': error: compare.platform.iommu.mode: empty list; "
         "give the values to compare, like [off, passthrough]"},
        {"compare.platform.iommu.mod=[off]",
         "--set 'compare.platform.iommu.mod=[off]': error: compare.platform.iommu.mod: unknown "
         "parameter 'platform.iommu.mod'; did you mean 'platform.iommu.mode'?"},
        {"compare.platform.iommu.mode=[off, stric]",
         "--set 'compare.platform.iommu.mode=[off, stric]': error: compare.platform.iommu.mode: "
         "'stric' is not one of off, passthrough, strict, lazy; did you mean 'strict'?"},
        {"compare.workloads.j.iodepth=[1]",
         "--set 'compare.workloads.j.iodepth=[1]': error: compare.workloads.j.iodepth: 'j' is not "
         "defined under workloads (workloads has no entries)"},
    };
    // clang-format on
    for (const Case& c : cases)
        EXPECT_EQ(error_of({}, {c.set}), c.error) << c.set;
}

TEST_F(ConfigTest, ListParams) {
    const std::string md = list_params(true);
    const std::string text = list_params(false);
    EXPECT_EQ(md.rfind("| key ", 0), 0u);
    EXPECT_NE(md.find("| type "), std::string::npos);
    EXPECT_NE(md.find("| source"), std::string::npos);
    std::set<std::size_t> widths;
    std::size_t lines = 0;
    for (std::size_t pos = 0; pos < md.size();) {
        std::size_t end = md.find('\n', pos);
        std::size_t chars = 0; // UTF-8 code points: sources cite "§4.3"
        for (std::size_t i = pos; i < end; ++i)
            chars += (static_cast<unsigned char>(md[i]) & 0xC0) != 0x80;
        widths.insert(chars);
        pos = end + 1;
        ++lines;
    }
    EXPECT_EQ(widths.size(), 1u) << "Markdown columns are aligned";
    EXPECT_EQ(lines, schema().size() + 2);
    EXPECT_EQ(text.rfind("KEY", 0), 0u);
    for (const Param& p : schema()) {
        EXPECT_NE(md.find("| `" + p.key + "` "), std::string::npos) << p.key;
        EXPECT_NE(text.find("\n" + p.key + " "), std::string::npos) << p.key;
    }
    EXPECT_NE(md.find("`1.5us`"), std::string::npos); // defaults in their natural unit
    EXPECT_NE(text.find("[1us, 1000s]"), std::string::npos);
}

TEST_F(ConfigTest, FindParamMatchesWildcards) {
    ASSERT_NE(find_param("workloads.anything.rw"), nullptr);
    EXPECT_EQ(find_param("workloads.anything.rw")->key, "workloads.*.rw");
    EXPECT_EQ(find_param("platform.iommu.mode")->type, Type::Enum);
    EXPECT_EQ(find_param("platform.iommu"), nullptr);
    EXPECT_EQ(find_param("workloads..rw"), nullptr);
}

} // namespace
} // namespace iosim::cfg
