// A fio-like job on the NVMe block device (libaio, O_DIRECT): `jobs` threads, each pinned to a
// core, each keeping `iodepth` I/Os of `bs` bytes in flight over a `size` region with rw = read,
// write, randread or randwrite. Each I/O is submitted by an io_submit syscall on the job's core
// (split by the block layer into requests no larger than the driver's maximum); its completion,
// signalled by the driver's IRQ, wakes the job, which reaps it with io_getevents and submits the
// next. Latency is from the io_submit entry to the reap (fio's "lat").
// Buffers: each in-flight slot owns a user buffer of 4 KiB pages from the page allocator
// (physically scattered, as user memory is), reused for every I/O of the slot.
#pragma once
#include "models/common/histogram.h"
#include "models/common/rng.h"
#include "models/cpu/cpu.h"
#include "models/memory/memory.h"
#include "models/memory/page_allocator.h"
#include "models/nvme/nvme_driver.h"
#include "models/workload/workload.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iosim {

struct FioParams : BlockJobParams {
    bool verify = false; // check read data against the LBA pattern (needs the backing store)
};

class FioWorkload : public Workload {
public:
    FioWorkload(const FioParams& p, Cpu& cpu, NvmeDriver& drv, PageAllocator& pages, Memory* mem);

    const FioParams& params() const { return p_; }
    void start(Time at = 0) override;
    // Stop issuing new I/Os (end of the run); in-flight ones still complete.
    void stop() override { stopping_ = true; }
    std::uint64_t inflight() const override { return inflight_; }
    bool finished() const override; // every job reached `ios`

    std::uint64_t requests = 0, errors = 0;
    std::uint64_t verified_bytes = 0, verify_errors = 0;

protected:
    void register_extra(Stats& s, const std::string& prefix) override;

private:
    struct Job;
    struct Slot {
        Job* job = nullptr;
        FioWorkload* self = nullptr;
        std::vector<std::uint64_t> pages; // physical pages of the user buffer
        std::vector<BlkRequest> reqs;
        unsigned nreqs = 0, pending = 0;
        std::uint64_t offset = 0;
        Time submitted_at = 0;
        bool failed = false;
    };
    struct Job {
        unsigned core = 0;
        std::size_t index = 0;
        Rng rng;
        std::vector<Slot> slots;
        std::vector<std::uint32_t> done;   // completed, not yet returned by io_getevents
        std::vector<std::uint32_t> reaped; // returned by io_getevents, being handled
        std::size_t next_reaped = 0;
        bool wake_pending = false; // the thread is runnable (woken, or mid-way)
        std::uint64_t issued = 0, next_seq = 0;
    };

    void submit_io(ExecCtx& ctx, Job& j, Slot& s);
    void kick(ExecCtx& ctx, std::uint64_t job);
    void reap(ExecCtx& ctx, std::uint64_t job);
    void reap_more(ExecCtx& ctx, std::uint64_t job);
    void process(ExecCtx& ctx, std::uint64_t job);
    static void on_done(void* owner, ExecCtx& ctx, BlkRequest& rq);
    void verify(const Slot& s);

    FioParams p_;
    Cpu& cpu_;
    NvmeDriver& drv_;
    Memory* mem_;
    std::vector<std::unique_ptr<Job>> jobs_;
    std::uint64_t inflight_ = 0;
    bool stopping_ = false;
};

} // namespace iosim
