#include "sim/config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "sim/config/units.h"

namespace iosim::cfg {
namespace {

// ---------------------------------------------------------------------------------------------
// The schema as a tree of dotted segments, for walking YAML mappings and --set keys.

struct SNode {
    std::string name;    // segment; "*" for user-named instances
    std::string pattern; // dotted path with "*" segments
    const Param* param = nullptr;
    std::vector<std::unique_ptr<SNode>> children; // in schema order

    const SNode* literal(std::string_view seg) const {
        for (const auto& c : children)
            if (c->name == seg && c->name != "*") return c.get();
        return nullptr;
    }
    const SNode* star() const {
        for (const auto& c : children)
            if (c->name == "*") return c.get();
        return nullptr;
    }
    const SNode* find(std::string_view seg) const {
        const SNode* c = literal(seg);
        return c ? c : star();
    }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& c : children)
            out.push_back(c->name);
        return out;
    }
};

const SNode& tree() {
    static const SNode root = [] {
        SNode r;
        for (const Param& p : schema()) {
            SNode* n = &r;
            std::size_t start = 0;
            while (true) {
                std::size_t dot = p.key.find('.', start);
                std::string seg = p.key.substr(start, dot - start);
                SNode* next = nullptr;
                for (auto& c : n->children)
                    if (c->name == seg) next = c.get();
                if (!next) {
                    n->children.push_back(std::make_unique<SNode>());
                    next = n->children.back().get();
                    next->name = seg;
                    next->pattern = p.key.substr(0, dot);
                }
                n = next;
                if (dot == std::string::npos) break;
                start = dot + 1;
            }
            n->param = &p;
        }
        return r;
    }();
    return root;
}

// Every parameter and section pattern, parents before children.
void all_patterns(const SNode& n, std::vector<std::string>& out) {
    for (const auto& c : n.children) {
        out.push_back(c->pattern);
        all_patterns(*c, out);
    }
}

std::vector<std::string> split_dots(const std::string& key) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        std::size_t dot = key.find('.', start);
        out.push_back(key.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i)
        out += (i ? sep : "") + v[i];
    return out;
}

std::string last_segment(const std::string& key) {
    auto dot = key.rfind('.');
    return dot == std::string::npos ? key : key.substr(dot + 1);
}

// "did you mean": `typed` is the dotted key as the user wrote it (possibly longer than the part
// that failed), `parent` the deepest known section above the unknown segment. Tries, in order: the
// whole key with a small typo anywhere; a typo in the unknown segment among its siblings; the same
// name elsewhere in the tree (a key put in the wrong section).
std::string suggest(const std::string& typed, const std::string& unknown_seg, const SNode& parent,
                    const std::string& parent_path) {
    const auto typed_segs = split_dots(typed);
    std::vector<std::string> cands;
    {
        std::vector<std::string> pats;
        all_patterns(tree(), pats);
        for (const auto& pat : pats) {
            auto segs = split_dots(pat);
            for (std::size_t i = 0; i < segs.size(); ++i) {
                if (segs[i] != "*") continue;
                // Fill a "*" with the name the user wrote at that position, if any.
                bool named = i + 1 < typed_segs.size() && !typed_segs[i].empty();
                segs[i] = named ? typed_segs[i] : "<name>";
            }
            cands.push_back(join(segs, "."));
        }
    }
    std::string best = closest(typed, cands, std::max<std::size_t>(2, typed.size() / 10));
    if (!best.empty()) return best;

    const std::string prefix = parent_path.empty() ? "" : parent_path + ".";
    std::vector<std::string> siblings;
    for (const auto& n : parent.names())
        if (n != "*") siblings.push_back(n);
    if (parent_path.empty()) siblings.push_back("compare");
    best = closest(unknown_seg, siblings);
    if (!best.empty()) return prefix + best;

    // Same (or nearly the same) last segment elsewhere; closest overall wins.
    std::size_t best_seg = std::max<std::size_t>(1, (unknown_seg.size() + 1) / 3) + 1;
    std::size_t best_full = 0;
    for (const auto& c : cands) {
        std::size_t ds = edit_distance(unknown_seg, last_segment(c));
        std::size_t df = edit_distance(typed, c);
        if (ds < best_seg || (ds == best_seg && df < best_full))
            best = c, best_seg = ds, best_full = df;
    }
    return best;
}

std::string describe(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    if (n.IsNull()) return "nothing";
    return fmt::format("'{}'", n.Scalar());
}

// "an integer", "a time like '20ms'", "one of off, passthrough, strict, lazy".
std::string expected(const Param& p) {
    switch (p.type) {
    case Type::Int:
        return "an integer";
    case Type::Float:
        return "a number";
    case Type::Bool:
        return "true or false";
    case Type::Enum:
        return "one of " + join(p.choices);
    case Type::Str:
        return "a string";
    case Type::Time:
        return fmt::format("a time like '{}'", canonical(p, p.def));
    case Type::Size:
        return fmt::format("a size like '{}'", canonical(p, p.def));
    case Type::Freq:
        return fmt::format("a frequency like '{}'", canonical(p, p.def));
    case Type::Bandwidth:
        return fmt::format("a bandwidth like '{}'", canonical(p, p.def));
    case Type::Rate:
        return fmt::format("a transfer rate like '{}'", canonical(p, p.def));
    case Type::Cycles:
        return "a cycle count";
    }
    return "a value";
}

bool valid_name(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
}

// ---------------------------------------------------------------------------------------------

class Loader {
public:
    std::map<std::string, std::string> values;  // concrete key -> value as written
    std::map<std::string, std::string> origins; // concrete key -> where it was last set
    std::map<std::string, std::vector<std::string>> instances;
    struct Compare {
        std::string key;
        std::vector<std::string> values;
        std::string where; // for errors found after all layers are in
    };
    std::vector<Compare> compare;

    void file(const std::string& path) {
        file_ = path;
        in_set_ = false;
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) fail_plain("cannot read file: is a directory");
        std::ifstream in(path, std::ios::binary);
        if (!in) fail_plain(fmt::format("cannot read file: {}", std::strerror(errno)));
        std::stringstream ss;
        ss << in.rdbuf();
        std::vector<YAML::Node> docs;
        try {
            docs = YAML::LoadAll(ss.str());
        } catch (const YAML::Exception& e) {
            fail(e.mark, "", "invalid YAML: " + e.msg);
        }
        if (docs.size() > 1)
            fail(docs[1].Mark(), "", "more than one YAML document; a config file holds one");
        if (docs.empty() || docs[0].IsNull()) return;
        const YAML::Node& root = docs[0];
        if (!root.IsMap())
            fail(root.Mark(), "",
                 fmt::format("expected a mapping of sections ({}), got {}", sections(),
                             describe(root)));
        section(root, tree(), "");
    }

    void set(const std::string& text) {
        set_ = text;
        in_set_ = true;
        const YAML::Mark none = YAML::Mark::null_mark();
        auto eq = text.find('=');
        if (eq == std::string::npos) fail(none, "", "expected KEY=VALUE");
        std::string key = text.substr(0, eq);
        while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
            key.pop_back();
        while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front())))
            key.erase(0, 1);
        if (key.empty()) fail(none, "", "expected KEY=VALUE, but KEY is empty");
        YAML::Node value;
        try {
            value = YAML::Load(text.substr(eq + 1));
        } catch (const YAML::Exception& e) {
            fail(none, key, "cannot parse the value as YAML: " + e.msg);
        }
        if (key == "compare") return compare_section(value);
        if (key.rfind("compare.", 0) == 0) return compare_entry(key.substr(8), value, none);

        const SNode* n = &tree();
        std::string path;
        for (const auto& seg : split_dots(key)) {
            const SNode* c = n->param ? nullptr : n->find(seg);
            if (!c || seg.empty()) unknown(none, key, seg, *n, path);
            std::string parent = path;
            path += (path.empty() ? "" : ".") + seg;
            if (c->name == "*") instance(none, parent, seg, path);
            n = c;
        }
        assign(value, *n, path, none);
    }

    // Compare keys that name instances (workloads.X.iodepth) need X to exist once all layers are
    // in.
    void check_compare_names() const {
        for (const Compare& c : compare) {
            const auto segs = split_dots(c.key);
            const SNode* n = &tree();
            std::string path;
            for (const auto& seg : segs) {
                n = n->find(seg);
                if (n->name == "*") {
                    auto it = instances.find(path);
                    const auto& have =
                        it == instances.end() ? std::vector<std::string>{} : it->second;
                    if (std::find(have.begin(), have.end(), seg) == have.end()) {
                        std::string what = fmt::format("'{}' is not defined under {}", seg, path);
                        std::string near = closest(seg, have);
                        if (!near.empty())
                            what += fmt::format("; did you mean '{}'?", near);
                        else if (!have.empty())
                            what += fmt::format(" (defined: {})", join(have));
                        else
                            what += fmt::format(" ({} has no entries)", path);
                        throw ConfigError(
                            fmt::format("{}: error: compare.{}: {}", c.where, c.key, what));
                    }
                }
                path += (path.empty() ? "" : ".") + seg;
            }
        }
    }

private:
    std::string file_, set_;
    bool in_set_ = false;

    static std::string sections() {
        auto names = tree().names();
        names.push_back("compare");
        return join(names);
    }

    std::string where(const YAML::Mark& m) const {
        if (in_set_) return fmt::format("--set '{}'", set_);
        if (m.is_null()) return file_;
        return fmt::format("{}:{}:{}", file_, m.line + 1, m.column + 1);
    }

    [[noreturn]] void fail(const YAML::Mark& m, const std::string& key, const std::string& what) {
        throw ConfigError(
            fmt::format("{}: error: {}{}", where(m), key.empty() ? "" : key + ": ", what));
    }
    [[noreturn]] void fail_plain(const std::string& what) {
        throw ConfigError(fmt::format("{}: error: {}", file_, what));
    }

    [[noreturn]] void unknown(const YAML::Mark& m, const std::string& typed, const std::string& seg,
                              const SNode& parent, const std::string& parent_path) {
        if (parent.param)
            fail(m, typed,
                 fmt::format("unknown key; {} is a parameter, not a section", parent_path));
        if (seg.empty()) fail(m, typed, "unknown key; a key name cannot be empty");
        std::string near = suggest(typed, seg, parent, parent_path);
        if (!near.empty()) fail(m, typed, fmt::format("unknown key; did you mean '{}'?", near));
        auto names = parent.names();
        if (parent_path.empty()) names.push_back("compare");
        fail(m, typed, fmt::format("unknown key; expected one of: {}", join(names)));
    }

    void instance(const YAML::Mark& m, const std::string& parent, const std::string& name,
                  const std::string& path) {
        if (!valid_name(name))
            fail(m, path, fmt::format("invalid name '{}'; use letters, digits, '_' and '-'", name));
        auto& v = instances[parent];
        if (std::find(v.begin(), v.end(), name) == v.end()) v.push_back(name);
    }

    // A YAML mapping for section `s` at concrete `path` ("" = top level).
    void section(const YAML::Node& node, const SNode& s, const std::string& path) {
        std::map<std::string, YAML::Mark> seen;
        for (auto it = node.begin(); it != node.end(); ++it) {
            // Copies: yaml-cpp's operator-> returns a proxy, so references would dangle.
            const YAML::Node k = it->first;
            const YAML::Node v = it->second;
            if (!k.IsScalar())
                fail(k.Mark(), path,
                     fmt::format("a key must be a plain name, got {}", describe(k)));
            const std::string name = k.Scalar();
            const std::string child = path.empty() ? name : path + "." + name;
            auto [first, inserted] = seen.emplace(name, k.Mark());
            if (!inserted)
                fail(k.Mark(), child,
                     fmt::format("duplicate key '{}' (first defined at line {})", name,
                                 first->second.line + 1));
            if (path.empty() && name == "compare") {
                compare_section(v);
                continue;
            }
            if (name.find('.') != std::string::npos && s.star() == nullptr) {
                // Dotted keys are a --set convenience; in a file, sections nest.
                auto segs = split_dots(name);
                const SNode* n = &s;
                for (const auto& seg : segs)
                    n = n && !n->param ? n->find(seg) : nullptr;
                if (n)
                    fail(k.Mark(), child,
                         "dotted keys are not allowed in a file; nest each section under its "
                         "parent instead");
            }
            const SNode* c = s.find(name);
            if (!c) unknown(k.Mark(), child, name, s, path);
            if (c->name == "*") instance(k.Mark(), path, name, child);
            if (c->param)
                assign(v, *c, child, k.Mark());
            else
                subsection(v, *c, child);
        }
    }

    void subsection(const YAML::Node& v, const SNode& s, const std::string& path) {
        if (v.IsNull()) return; // "section:" with nothing under it: all defaults
        if (v.IsMap()) return section(v, s, path);
        if (s.star())
            fail(v.Mark(), path,
                 fmt::format("expected a mapping from names to settings, like '{}: {{name1: {{{}: "
                             "...}}}}', got {}",
                             last_segment(path), s.star()->children.front()->name, describe(v)));
        std::vector<std::string> keys = s.names();
        fail(v.Mark(), path,
             fmt::format("expected a section with keys {}; got {}", join(keys), describe(v)));
    }

    void assign(const YAML::Node& v, const SNode& n, const std::string& path,
                const YAML::Mark& key_mark) {
        if (!n.param) {
            if (in_set_ && v.IsScalar())
                fail(key_mark, path,
                     fmt::format("this is a section, not a parameter; set one of its keys: {}",
                                 join(n.names())));
            return subsection(v, n, path);
        }
        const Param& p = *n.param;
        if (v.IsNull()) fail(key_mark, path, "missing value; expected " + expected(p));
        if (!v.IsScalar())
            fail(v.Mark(), path, fmt::format("expected {}, got {}", expected(p), describe(v)));
        check(v, p, path);
        values[path] = v.Scalar();
        origins[path] = where(v.Mark());
    }

    void check(const YAML::Node& v, const Param& p, const std::string& path) {
        try {
            check_value(p, v.Scalar());
        } catch (const ValueError& e) {
            fail(v.Mark(), path, e.what());
        }
    }

    void compare_section(const YAML::Node& v) {
        if (v.IsNull()) return;
        if (!v.IsMap())
            fail(v.Mark(), "compare",
                 fmt::format("expected a mapping from keys to lists of values, like "
                             "'compare: {{platform.iommu.mode: [strict, lazy]}}', got {}",
                             describe(v)));
        std::map<std::string, YAML::Mark> seen;
        for (auto it = v.begin(); it != v.end(); ++it) {
            const YAML::Node k = it->first; // a copy, as in section()
            if (!k.IsScalar())
                fail(k.Mark(), "compare",
                     fmt::format("a key must be a dotted parameter name, got {}", describe(k)));
            auto [first, inserted] = seen.emplace(k.Scalar(), k.Mark());
            if (!inserted)
                fail(k.Mark(), "compare." + k.Scalar(),
                     fmt::format("duplicate key '{}' (first defined at line {})", k.Scalar(),
                                 first->second.line + 1));
            compare_entry(k.Scalar(), it->second, k.Mark());
        }
    }

    void compare_entry(const std::string& key, const YAML::Node& v, const YAML::Mark& key_mark) {
        const std::string label = "compare." + key;
        const SNode* n = &tree();
        std::string path;
        const auto segs = split_dots(key);
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const std::string& seg = segs[i];
            const SNode* c = n->param ? nullptr : n->find(seg);
            if (!c || seg.empty()) {
                std::string near = suggest(key, seg, *n, path);
                fail(key_mark, label,
                     near.empty()
                         ? fmt::format("unknown parameter '{}'", key)
                         : fmt::format("unknown parameter '{}'; did you mean '{}'?", key, near));
            }
            if (c->name == "*" && !valid_name(seg)) {
                auto named = segs;
                named[i] = "NAME";
                fail(key_mark, label,
                     fmt::format("'{}' is not a name; give the {} entry to compare, like '{}'", seg,
                                 path, join(named, ".")));
            }
            path += (path.empty() ? "" : ".") + seg;
            n = c;
        }
        if (!n->param) {
            const SNode* leaf = n;
            while (!leaf->param)
                leaf = leaf->children.front().get();
            auto like = split_dots(key + leaf->pattern.substr(n->pattern.size()));
            for (auto& seg : like)
                if (seg == "*") seg = "NAME";
            fail(key_mark, label,
                 fmt::format("'{}' is a section; compare needs a parameter, like '{}'", key,
                             join(like, ".")));
        }
        const Param& p = *n->param;
        const std::string like = p.type == Type::Enum && p.choices.size() > 1
                                     ? fmt::format("[{}, {}]", p.choices[0], p.choices[1])
                                     : fmt::format("[{}, ...]", canonical(p, p.def));
        if (v.IsNull() || (v.IsSequence() && v.size() == 0))
            fail(v.IsNull() ? key_mark : v.Mark(), label,
                 fmt::format("empty list; give the values to compare, like {}", like));
        if (!v.IsSequence())
            fail(v.Mark(), label,
                 fmt::format("expected a list of values, like {}, got {}", like, describe(v)));
        Compare entry{key, {}, where(key_mark)};
        for (const auto& item : v) {
            if (!item.IsScalar())
                fail(item.Mark(), label,
                     fmt::format("expected {}, got {}", expected(p), describe(item)));
            check(item, p, label);
            entry.values.push_back(item.Scalar());
        }
        for (auto& c : compare)
            if (c.key == key) {
                c = std::move(entry);
                return;
            }
        compare.push_back(std::move(entry));
    }
};

// Calls f(concrete_key, param) for every parameter, instances expanded, in schema order.
template <class F>
void each_key(const SNode& n, const std::string& path,
              const std::map<std::string, std::vector<std::string>>& instances, F&& f) {
    for (const auto& c : n.children) {
        if (c->name == "*") {
            auto it = instances.find(path);
            if (it == instances.end()) continue;
            for (const auto& name : it->second)
                each_key(*c, path + "." + name, instances, f);
            continue;
        }
        std::string child = path.empty() ? c->name : path + "." + c->name;
        if (c->param)
            f(child, *c->param);
        else
            each_key(*c, child, instances, f);
    }
}

} // namespace

Config Config::load(const std::vector<std::string>& files, const std::vector<std::string>& sets) {
    static std::once_flag checked;
    std::call_once(checked, check_schema);

    Loader l;
    for (const auto& f : files)
        l.file(f);
    for (const auto& s : sets)
        l.set(s);
    l.check_compare_names();

    Config c;
    c.sources = files;
    c.instances_ = std::move(l.instances);
    each_key(tree(), "", c.instances_, [&](const std::string& key, const Param& p) {
        auto it = l.values.find(key);
        auto origin = l.origins.find(key);
        c.values_.emplace(key, Entry{&p, it == l.values.end() ? p.def : it->second,
                                     origin == l.origins.end() ? "" : origin->second});
    });
    for (auto& e : l.compare)
        c.compare_.emplace_back(e.key, std::move(e.values));
    return c;
}

std::string Config::where(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) throw std::logic_error("Config::where: no key '" + key + "'");
    return it->second.origin.empty() ? "(default of " + key + ")" : it->second.origin;
}

bool Config::is_set(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) throw std::logic_error("Config::is_set: no key '" + key + "'");
    return !it->second.origin.empty();
}

void Config::fail(const std::string& key, const std::string& what) const {
    throw ConfigError(fmt::format("{}: error: {}: {}", where(key), key, what));
}

const Config::Entry& Config::get(const std::string& key, Type type, const char* getter) const {
    auto it = values_.find(key);
    if (it == values_.end())
        throw std::logic_error(fmt::format("Config::{}: no key '{}' in the schema", getter, key));
    const Param& p = *it->second.param;
    bool ok = p.type == type || (type == Type::Str && p.type == Type::Enum);
    if (!ok)
        throw std::logic_error(
            fmt::format("Config::{}: '{}' is of type {}", getter, key, type_name(p.type)));
    return it->second;
}

std::int64_t Config::integer(const std::string& key) const {
    const std::string& v = get(key, Type::Int, "integer").value;
    const char* b = v.data() + (!v.empty() && v[0] == '+');
    std::int64_t i = 0;
    std::from_chars(b, v.data() + v.size(), i);
    return i;
}
double Config::real(const std::string& key) const {
    const std::string& v = get(key, Type::Float, "real").value;
    const char* b = v.data() + (!v.empty() && v[0] == '+'); // from_chars: no '+', no locale
    double d = 0;
    std::from_chars(b, v.data() + v.size(), d);
    return d;
}
bool Config::flag(const std::string& key) const {
    return get(key, Type::Bool, "flag").value == "true";
}
std::string Config::str(const std::string& key) const {
    return get(key, Type::Str, "str").value;
}
Time Config::time(const std::string& key) const {
    return parse_time(get(key, Type::Time, "time").value);
}
std::uint64_t Config::bytes(const std::string& key) const {
    return parse_size(get(key, Type::Size, "bytes").value);
}
double Config::hz(const std::string& key) const {
    return parse_freq(get(key, Type::Freq, "hz").value);
}
double Config::bytes_per_s(const std::string& key) const {
    return parse_bandwidth(get(key, Type::Bandwidth, "bytes_per_s").value);
}
double Config::rate(const std::string& key) const {
    return parse_rate(get(key, Type::Rate, "rate").value);
}
std::uint64_t Config::cycles(const std::string& key) const {
    return parse_cycles(get(key, Type::Cycles, "cycles").value);
}

std::vector<std::string> Config::names(const std::string& prefix) const {
    const SNode* n = &tree();
    std::string path;
    for (const auto& seg : split_dots(prefix)) {
        n = n->param ? nullptr : n->find(seg);
        if (!n) break;
        if (n->name == "*") {
            auto it = instances_.find(path);
            if (it == instances_.end() ||
                std::find(it->second.begin(), it->second.end(), seg) == it->second.end())
                n = nullptr;
        }
        if (!n) break;
        path += (path.empty() ? "" : ".") + seg;
    }
    if (!n || !n->star())
        throw std::logic_error(
            fmt::format("Config::names: '{}' is not a section of named entries", prefix));
    auto it = instances_.find(prefix);
    return it == instances_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

void emit(YAML::Emitter& out, const SNode& n, const std::string& path,
          const std::map<std::string, std::vector<std::string>>& instances,
          const std::function<std::string(const std::string&, const Param&)>& value) {
    for (const auto& c : n.children) {
        if (c->name == "*") {
            auto it = instances.find(path);
            if (it == instances.end()) continue;
            for (const auto& name : it->second) {
                out << YAML::Key << name << YAML::Value << YAML::BeginMap;
                emit(out, *c, path + "." + name, instances, value);
                out << YAML::EndMap;
            }
            continue;
        }
        std::string child = path.empty() ? c->name : path + "." + c->name;
        out << YAML::Key << c->name << YAML::Value;
        if (c->param) {
            out << value(child, *c->param);
        } else {
            bool empty = c->star() && instances.find(child) == instances.end();
            if (empty) out << YAML::Flow;
            out << YAML::BeginMap;
            emit(out, *c, child, instances, value);
            out << YAML::EndMap;
        }
    }
}

} // namespace

std::string Config::dump_yaml() const {
    YAML::Emitter out;
    out << YAML::BeginMap;
    emit(out, tree(), "", instances_, [&](const std::string& key, const Param& p) {
        return canonical(p, values_.at(key).value);
    });
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

} // namespace iosim::cfg
