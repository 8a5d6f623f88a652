#include "models/common/stats.h"

#include <cmath>
#include <ostream>
#include <stdexcept>

namespace iosim {

void Stats::counter(std::string name, std::uint64_t* v) {
    entries_.push_back({std::move(name), v, {}, {}, nullptr});
}
void Stats::time_ns(std::string name, std::uint64_t* ps) {
    Entry e{std::move(name), ps, {}, {}, nullptr};
    e.ps_to_ns = true;
    entries_.push_back(std::move(e));
}
void Stats::value(std::string name, std::function<double()> fn) {
    entries_.push_back({std::move(name), nullptr, std::move(fn), {}, nullptr});
}
void Stats::text(std::string name, std::function<std::string()> fn) {
    entries_.push_back({std::move(name), nullptr, {}, std::move(fn), nullptr});
}
void Stats::histogram(std::string name, Histogram* h) {
    entries_.push_back({std::move(name), nullptr, {}, {}, h});
}

static nlohmann::json& slot(nlohmann::json& root, const std::string& dotted) {
    nlohmann::json* node = &root;
    std::size_t pos = 0;
    while (true) {
        std::size_t dot = dotted.find('.', pos);
        std::string key =
            dotted.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        node = &(*node)[key];
        if (dot == std::string::npos) return *node;
        pos = dot + 1;
    }
}

static nlohmann::json number(double v) {
    if (!std::isfinite(v)) return nullptr;
    if (v == std::floor(v) && std::fabs(v) < 9e15) return static_cast<std::int64_t>(v);
    return v;
}

nlohmann::json Stats::to_json() const {
    nlohmann::json root = nlohmann::json::object();
    for (const auto& e : entries_) {
        nlohmann::json& s = slot(root, e.name);
        if (e.counter && e.ps_to_ns) {
            s = (*e.counter + 500) / 1000;
        } else if (e.counter) {
            s = *e.counter;
        } else if (e.fn) {
            s = number(e.fn());
        } else if (e.str) {
            s = e.str();
        } else if (e.hist) {
            const Histogram& h = *e.hist;
            s["count"] = h.count();
            s["mean"] = number(std::round(h.mean() * 1000.0) / 1000.0);
            s["p50"] = h.percentile(0.50);
            s["p90"] = h.percentile(0.90);
            s["p99"] = h.percentile(0.99);
            s["p999"] = h.percentile(0.999);
            s["max"] = h.max();
        }
    }
    return root;
}

static void csv_rows(const nlohmann::json& node, const std::string& prefix, std::ostream& os) {
    if (node.is_object()) {
        for (auto it = node.begin(); it != node.end(); ++it)
            csv_rows(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), os);
        return;
    }
    os << prefix << ',';
    if (node.is_string()) {
        os << node.get<std::string>();
    } else {
        os << node.dump();
    }
    os << '\n';
}

void Stats::write_csv(const nlohmann::json& tree, std::ostream& os) {
    os << "key,value\n";
    csv_rows(tree, "", os);
}

} // namespace iosim

namespace iosim {
void Stats::reset() {
    for (auto& e : entries_) {
        if (e.counter) *e.counter = 0;
        if (e.hist) e.hist->reset();
    }
    for (auto& fn : resets_)
        fn();
}
} // namespace iosim
