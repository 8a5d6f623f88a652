#include "models/common/trace.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace iosim {

namespace {
constexpr std::size_t kFlushAt = 1 << 20;

// Nanoseconds, rounded: rounding is monotonic, so slices that nest in picoseconds still nest.
constexpr std::uint64_t round_ns(Time ps) {
    return (ps + 500) / 1000;
}
} // namespace

TraceWriter::TraceWriter(const std::string& path, Time begin, Time end)
    : path_(path), begin_(begin), end_(end) {
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
    buf_.reserve(kFlushAt + 4096);
    buf_ = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
}

TraceWriter::~TraceWriter() {
    try {
        close();
    } catch (...) { // a destructor does not throw; close() reports the error when called
    }
}

void TraceWriter::close() {
    if (!f_) return;
    put_raw("\n]}\n");
    flush();
    const bool bad = std::ferror(f_) != 0;
    const bool closed = std::fclose(f_) == 0;
    f_ = nullptr;
    if (bad || !closed) throw std::runtime_error(path_ + ": write error");
}

void TraceWriter::flush() {
    if (buf_.empty() || !f_) return;
    std::fwrite(buf_.data(), 1, buf_.size(), f_);
    bytes_ += buf_.size();
    buf_.clear();
}

void TraceWriter::put_uint(std::uint64_t v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
    buf_.append(tmp, static_cast<std::size_t>(r.ptr - tmp));
}

void TraceWriter::put_ts(const char* key, std::uint64_t ns) {
    buf_ += ",\"";
    buf_ += key;
    buf_ += "\":";
    put_uint(ns / 1000);
    const auto frac = static_cast<unsigned>(ns % 1000);
    const char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                            static_cast<char>('0' + frac / 10 % 10),
                            static_cast<char>('0' + frac % 10)};
    buf_.append(digits, 4);
}

void TraceWriter::put_str(std::string_view s) {
    buf_ += '"';
    for (char ch : s) {
        if (ch == '"' || ch == '\\') {
            buf_ += '\\';
            buf_ += ch;
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            buf_ += ' ';
        } else {
            buf_ += ch;
        }
    }
    buf_ += '"';
}

void TraceWriter::open_event(char ph, unsigned pid, std::string_view cat, std::string_view name) {
    if (!first_) buf_ += ",\n";
    first_ = false;
    buf_ += "{\"ph\":\"";
    buf_ += ph;
    buf_ += "\",\"pid\":";
    put_uint(pid);
    if (!cat.empty()) {
        buf_ += ",\"cat\":";
        put_str(cat);
    }
    buf_ += ",\"name\":";
    put_str(name);
}

void TraceWriter::put_flow(std::uint64_t flow, Flow dir) {
    if (!flow || dir == Flow::None) return;
    buf_ += ",\"bind_id\":";
    put_uint(flow);
    if (dir == Flow::Out || dir == Flow::Step) buf_ += ",\"flow_out\":true";
    if (dir == Flow::In || dir == Flow::Step) buf_ += ",\"flow_in\":true";
}

void TraceWriter::close_event() {
    buf_ += '}';
    ++events_;
    if (buf_.size() >= kFlushAt) flush();
}

void TraceWriter::process(unsigned pid, std::string_view name, int sort_index) {
    open_event('M', pid, {}, "process_name");
    buf_ += ",\"args\":{\"name\":";
    put_str(name);
    buf_ += "}";
    close_event();
    open_event('M', pid, {}, "process_sort_index");
    buf_ += ",\"args\":{\"sort_index\":";
    put_uint(static_cast<std::uint64_t>(std::max(sort_index, 0)));
    buf_ += "}";
    close_event();
}

void TraceWriter::thread(unsigned pid, unsigned tid, std::string_view name, int sort_index) {
    open_event('M', pid, {}, "thread_name");
    buf_ += ",\"tid\":";
    put_uint(tid);
    buf_ += ",\"args\":{\"name\":";
    put_str(name);
    buf_ += "}";
    close_event();
    open_event('M', pid, {}, "thread_sort_index");
    buf_ += ",\"tid\":";
    put_uint(tid);
    buf_ += ",\"args\":{\"sort_index\":";
    put_uint(static_cast<std::uint64_t>(std::max(sort_index, 0)));
    buf_ += "}";
    close_event();
}

bool TraceWriter::slice(unsigned pid, unsigned tid, std::string_view cat, std::string_view name,
                        Time b, Time e, std::string_view args, std::uint64_t flow, Flow dir) {
    if (e < b || !overlaps(b, e)) return false;
    const std::uint64_t nb = round_ns(std::max(b, begin_)), ne = round_ns(std::min(e, end_));
    open_event('X', pid, cat, name);
    buf_ += ",\"tid\":";
    put_uint(tid);
    put_ts("ts", nb);
    put_ts("dur", ne - nb);
    put_flow(flow, dir);
    if (!args.empty()) {
        buf_ += ",\"args\":{";
        put_raw(args);
        buf_ += '}';
    }
    close_event();
    return true;
}

bool TraceWriter::async(unsigned pid, std::string_view cat, std::string_view name, std::uint64_t id,
                        Time b, Time e, std::string_view args, std::uint64_t flow, Flow dir) {
    if (e < b || !overlaps(b, e)) return false;
    const std::uint64_t nb = round_ns(std::max(b, begin_)), ne = round_ns(std::min(e, end_));
    for (int end = 0; end < 2; ++end) {
        open_event(end ? 'e' : 'b', pid, cat, name);
        buf_ += ",\"tid\":0,\"id\":";
        put_uint(id);
        put_ts("ts", end ? ne : nb);
        if (!end) {
            put_flow(flow, dir);
            if (!args.empty()) {
                buf_ += ",\"args\":{";
                put_raw(args);
                buf_ += '}';
            }
        }
        close_event();
    }
    return true;
}

bool TraceWriter::async_instant(unsigned pid, std::string_view cat, std::string_view name,
                                std::uint64_t id, Time t, std::uint64_t flow, Flow dir) {
    if (!contains(t)) return false;
    open_event('n', pid, cat, name);
    buf_ += ",\"tid\":0,\"id\":";
    put_uint(id);
    put_ts("ts", round_ns(t));
    put_flow(flow, dir);
    close_event();
    return true;
}

bool TraceWriter::counter(unsigned pid, std::string_view name, Time t, double value) {
    if (!contains(t)) return false;
    open_event('C', pid, {}, name);
    buf_ += ",\"tid\":0";
    put_ts("ts", round_ns(t));
    char tmp[32];
    const int n = std::snprintf(tmp, sizeof(tmp), "%.17g", value);
    buf_ += ",\"args\":{\"value\":";
    buf_.append(tmp, static_cast<std::size_t>(n));
    buf_ += '}';
    close_event();
    return true;
}

void TraceWriter::dma_end(unsigned pid, std::string_view name, Time b, Time e, std::uint64_t cmd_id,
                          std::string_view cmd_cat, std::string_view cmd_name) {
    const std::uint64_t flow = dma_flow_;
    dma_flow_ = 0;
    // The arrow from the command starts at an instant at b on the command's track: it exists
    // when b is in the window (then the command, which holds b, is written too).
    const bool from_cmd = cmd_id && contains(b);
    const bool to_xlate = xlate_traced_;
    xlate_traced_ = false;
    if (to_xlate) e = std::max(e, xlate_end_);
    if (!overlaps(b, e)) return;
    if (from_cmd) async_instant(pid, cmd_cat, cmd_name, cmd_id, b, flow, Flow::Out);
    const Flow dir =
        from_cmd ? (to_xlate ? Flow::Step : Flow::In) : (to_xlate ? Flow::Out : Flow::None);
    async(pid, "dma", name, flow, b, e, {}, flow, dir);
}

} // namespace iosim
