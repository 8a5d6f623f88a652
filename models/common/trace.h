// The timeline of a run as Chrome/Perfetto trace-event JSON (`sim --trace FILE`): the JSON Trace
// Event Format's {"traceEvents":[...],"displayTimeUnit":"ns"}, opened by ui.perfetto.dev and
// chrome://tracing. Models hold a TraceWriter* that is null when tracing is off: every hook is one
// pointer test, so a run without --trace pays nothing else.
//
// What the writer emits (timestamps in microseconds with three decimals, i.e. nanoseconds):
//   slice()          ph X on a thread track (pid, tid): must nest on its track (a core's kernel
//                    functions inside its work item, one walk after the other on a walker slot);
//   async()          ph b/e pair on a process's async track keyed by (cat, id): things that
//                    overlap (NVMe commands, DMAs, IOTLB hits);
//   async_instant()  ph n on such a track (a command's DMA issue, where its flow arrow starts);
//   counter()        ph C (queue depth, IOTLB occupancy);
//   flows            version 2 flow binding on the events themselves ("bind_id" with "flow_out",
//                    "flow_in" or both for a step), which Perfetto's JSON importer binds to X, b
//                    and n events alike (version 1 s/t/f events bind to thread tracks only).
// Everything is clipped to the window [begin, end]: a slice that starts before it starts at its
// beginning, one that ends after it ends at its end (clipping keeps nesting), an instant or a
// counter sample outside it is dropped. Every slice is written whole once both its ends are known,
// so the file is valid JSON whatever the window cuts, and it is streamed (nothing is kept beyond a
// 1 MiB buffer). Events are not in time order: the viewers sort them.
#pragma once
#include "models/common/time.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace iosim {

class TraceWriter {
public:
    // Track groups (trace "processes"): fixed ids so that tests and users find them.
    static constexpr unsigned kPidCpu = 1;   // tid = core
    static constexpr unsigned kPidIommu = 2; // tid kTidCmdQueue, kTidWalker + slot
    static constexpr unsigned kPidWifi = 3;
    static constexpr unsigned kPidNvme = 10; // + queue id
    static constexpr unsigned kTidCmdQueue = 1, kTidWalker = 10;

    enum class Flow : std::uint8_t { None, Out, In, Step };

    // Writes to `path` the events of the absolute window [begin, end]. Throws std::runtime_error
    // when the file cannot be written.
    TraceWriter(const std::string& path, Time begin, Time end);
    ~TraceWriter();
    TraceWriter(const TraceWriter&) = delete;
    TraceWriter& operator=(const TraceWriter&) = delete;

    // Ends the JSON and closes the file (the destructor does it too). Throws on a write error.
    void close();

    Time begin() const { return begin_; }
    Time end() const { return end_; }
    bool overlaps(Time b, Time e) const { return e >= begin_ && b <= end_; }
    bool contains(Time t) const { return t >= begin_ && t <= end_; }
    std::uint64_t events() const { return events_; }
    std::uint64_t bytes() const { return bytes_; }

    // A fresh id for an async slice or a flow (one sequence for both, never 0).
    std::uint64_t new_id() { return ++ids_; }

    // Names of track groups and tracks (ph M), with an order for the viewer.
    void process(unsigned pid, std::string_view name, int sort_index);
    void thread(unsigned pid, unsigned tid, std::string_view name, int sort_index);

    // `args`: the body of a JSON object ("\"k\":1") or empty. Return whether anything was written.
    bool slice(unsigned pid, unsigned tid, std::string_view cat, std::string_view name, Time b,
               Time e, std::string_view args = {}, std::uint64_t flow = 0, Flow dir = Flow::None);
    bool async(unsigned pid, std::string_view cat, std::string_view name, std::uint64_t id, Time b,
               Time e, std::string_view args = {}, std::uint64_t flow = 0, Flow dir = Flow::None);
    bool async_instant(unsigned pid, std::string_view cat, std::string_view name, std::uint64_t id,
                       Time t, std::uint64_t flow = 0, Flow dir = Flow::None);
    bool counter(unsigned pid, std::string_view name, Time t, double value);

    // The DMA hand-off between an initiator and the IOMMU, both synchronous inside one
    // b_transport: the initiator calls dma_begin() before it, the IOMMU binds the translation it
    // traces to dma_flow() and reports it with xlate_traced(), the initiator writes the DMA with
    // dma_end() after. A DMA lies inside its command and its translation inside the DMA, so each
    // arrow is written only when both ends fall in the window. (A posted write has left the
    // device before the IOMMU translates it: its slice is drawn to the translation's end.)
    void dma_begin() {
        dma_flow_ = new_id();
        xlate_traced_ = false;
    }
    std::uint64_t dma_flow() const { return dma_flow_; }
    void xlate_traced(Time end) {
        xlate_traced_ = true;
        xlate_end_ = end;
    }
    // The DMA [b, e] as an async slice `name` on `pid`; when `cmd_id` is set, an arrow from the
    // command's async slice (cat `cmd_cat`, name `cmd_name`, id `cmd_id`) at b.
    void dma_end(unsigned pid, std::string_view name, Time b, Time e, std::uint64_t cmd_id = 0,
                 std::string_view cmd_cat = {}, std::string_view cmd_name = {});

private:
    void open_event(char ph, unsigned pid, std::string_view cat, std::string_view name);
    void put_ts(const char* key, Time ps_rounded_ns);
    void put_flow(std::uint64_t flow, Flow dir);
    void put_str(std::string_view s); // quoted, escaped
    void put_raw(std::string_view s) { buf_.append(s.data(), s.size()); }
    void put_uint(std::uint64_t v);
    void close_event();
    void flush();

    std::FILE* f_ = nullptr;
    std::string path_;
    Time begin_, end_;
    std::string buf_;
    bool first_ = true;
    std::uint64_t events_ = 0, bytes_ = 0, ids_ = 0;
    std::uint64_t dma_flow_ = 0;
    bool xlate_traced_ = false;
    Time xlate_end_ = 0;
};

} // namespace iosim
