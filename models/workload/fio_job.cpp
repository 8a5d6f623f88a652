#include "models/workload/fio_job.h"

#include <algorithm>
#include <cassert>

namespace iosim {

FioWorkload::FioWorkload(const FioParams& p, Cpu& cpu, NvmeDriver& drv, PageAllocator& pages,
                         Memory* mem)
    : Workload(p.name), p_(p), cpu_(cpu), drv_(drv), mem_(mem) {
    const std::uint32_t max_rq = drv.max_request_bytes();
    const unsigned nreqs = (p.bs + max_rq - 1) / max_rq;
    const std::uint64_t npages = (p.bs + 4095) / 4096;
    for (unsigned j = 0; j < p.jobs; ++j) {
        auto job = std::make_unique<Job>();
        job->core = (p.first_cpu + j) % cpu.cores();
        job->index = j;
        job->rng = Rng(p.seed, p.name + "/" + std::to_string(j));
        job->slots.resize(p.iodepth);
        job->done.reserve(p.iodepth);
        job->reaped.reserve(p.iodepth);
        for (auto& s : job->slots) {
            s.job = job.get();
            s.self = this;
            for (std::uint64_t i = 0; i < npages; ++i)
                s.pages.push_back(pages.alloc_page());
            s.nreqs = nreqs;
            s.reqs.resize(nreqs);
            for (auto& rq : s.reqs) {
                rq.segs.resize(max_rq / 4096 + 1);
                rq.done = &FioWorkload::on_done;
                rq.owner = &s;
            }
        }
        jobs_.push_back(std::move(job));
    }
}

bool FioWorkload::finished() const {
    if (p_.ios == 0) return false;
    for (const auto& j : jobs_)
        if (j->issued < p_.ios) return false;
    return inflight_ == 0;
}

void FioWorkload::start(Time at) {
    for (std::size_t j = 0; j < jobs_.size(); ++j)
        cpu_.post<&FioWorkload::kick>(jobs_[j]->core, at, Cpu::Prio::Thread, this, j);
}

void FioWorkload::kick(ExecCtx& ctx, std::uint64_t job) {
    Job& j = *jobs_[job];
    for (auto& s : j.slots)
        submit_io(ctx, j, s);
}

void FioWorkload::submit_io(ExecCtx& ctx, Job& j, Slot& s) {
    if (stopping_ || (p_.ios && j.issued >= p_.ios)) return;
    const std::uint64_t blocks = p_.size / p_.bs;
    s.offset = p_.random ? j.rng.below(blocks) * p_.bs : (j.next_seq++ % blocks) * p_.bs;
    s.submitted_at = ctx.now();
    s.failed = false;
    ++j.issued;
    ++inflight_;
    // io_submit of one iocb, O_DIRECT on ext4: io_submit_one -> aio_read -> ext4_file_read_iter
    // (ext4_dio_read_iter inlined) -> iomap_dio_rw -> __iomap_dio_rw, which plugs, submits the
    // bios and flushes the plug (NvmeDriver::submit).
    KSyscall sys(ctx);
    KCall sub(ctx, Fn::__x64_sys_io_submit);
    KFrame one(ctx, Fn::io_submit_one);
    KFrame aio(ctx, p_.write ? Fn::aio_write : Fn::aio_read);
    KFrame fs(ctx, p_.write ? Fn::ext4_file_write_iter : Fn::ext4_file_read_iter);
    KFrame dio(ctx, Fn::iomap_dio_rw);
    KFrame dio2(ctx, Fn::__iomap_dio_rw);
    // The block layer splits at the driver's max_hw_sectors and blk_rq_map_sg merges
    // physically contiguous pages into one segment.
    const std::uint32_t max_rq = drv_.max_request_bytes();
    s.pending = s.nreqs;
    std::uint64_t done = 0;
    for (unsigned r = 0; r < s.nreqs; ++r) {
        BlkRequest& rq = s.reqs[r];
        rq.write = p_.write;
        rq.offset = s.offset + done;
        rq.bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(max_rq, p_.bs - done));
        rq.nsegs = 0;
        for (std::uint64_t off = 0; off < rq.bytes; off += 4096) {
            const std::uint64_t pa = s.pages[(done + off) / 4096];
            const std::uint64_t len = std::min<std::uint64_t>(4096, rq.bytes - off);
            if (rq.nsegs && rq.segs[rq.nsegs - 1].addr + rq.segs[rq.nsegs - 1].len == pa) {
                rq.segs[rq.nsegs - 1].len += len;
            } else {
                rq.segs[rq.nsegs++] = {pa, len};
            }
        }
        ++requests;
        const bool ok = drv_.submit(ctx, rq);
        assert(ok && "NVMe queue full: iodepth x jobs per core exceeds the queue depth");
        (void)ok;
        done += rq.bytes;
    }
}

void FioWorkload::on_done(void* owner, ExecCtx& ctx, BlkRequest& rq) {
    Slot& s = *static_cast<Slot*>(owner);
    if (rq.status) s.failed = true;
    if (--s.pending) return;
    FioWorkload& self = *s.self;
    Job& j = *s.job;
    j.done.push_back(static_cast<std::uint32_t>(&s - j.slots.data()));
    if (!j.wake_pending) {
        // The IRQ wakes the job thread (aio completion -> wake_up), which runs on its own core.
        j.wake_pending = true;
        self.cpu_.post<&FioWorkload::reap>(j.core, ctx.now(), Cpu::Prio::Thread, &self, j.index);
    }
}

void FioWorkload::reap(ExecCtx& ctx, std::uint64_t job) {
    Job& j = *jobs_[job];
    {
        KSyscall sys(ctx);
        KCall ev(ctx, Fn::__x64_sys_io_getevents);
    }
    j.reaped.swap(j.done); // io_getevents returns every completion so far
    j.done.clear();
    j.next_reaped = 0;
    process(ctx, job);
}

void FioWorkload::reap_more(ExecCtx& ctx, std::uint64_t job) {
    process(ctx, job);
}

void FioWorkload::process(ExecCtx& ctx, std::uint64_t job) {
    Job& j = *jobs_[job];
    // fio handles each reaped event and submits the next I/O. Past a quantum ahead of SystemC time
    // the rest continues as a new item (a thread can be interrupted there), so that other cores
    // and the devices see this core's bookings in time order.
    while (j.next_reaped < j.reaped.size()) {
        if (ctx.needs_sync()) {
            cpu_.post<&FioWorkload::reap_more>(j.core, ctx.now(), Cpu::Prio::Thread, this, job);
            return;
        }
        Slot& s = j.slots[j.reaped[j.next_reaped++]];
        --inflight_;
        latency_ns.record((ctx.now() - s.submitted_at) / kNs);
        ++completed;
        bytes += p_.bs;
        if (s.failed) ++errors;
        if (p_.verify && !p_.write) verify(s);
        { KCall f(ctx, Fn::fio); }
        submit_io(ctx, j, s);
    }
    j.reaped.clear();
    j.next_reaped = 0;
    if (j.done.empty()) {
        j.wake_pending = false; // back to sleep in io_getevents
    } else {
        // Completions arrived meanwhile: fio's loop calls io_getevents again.
        cpu_.post<&FioWorkload::reap>(j.core, ctx.now(), Cpu::Prio::Thread, this, job);
    }
}

void FioWorkload::verify(const Slot& s) {
    if (!mem_) return;
    std::uint64_t buf[512];
    for (std::uint64_t off = 0; off < p_.bs; off += 4096) {
        const std::uint64_t len = std::min<std::uint64_t>(4096, p_.bs - off);
        mem_->store().read(s.pages[off / 4096], reinterpret_cast<std::uint8_t*>(buf), len);
        for (std::uint64_t w = 0; w < len / 8; ++w) {
            if (buf[w] != nvme_pattern_word(s.offset + off + 8 * w)) {
                ++verify_errors;
                break;
            }
        }
        verified_bytes += len;
    }
}

void FioWorkload::register_extra(Stats& s, const std::string& k) {
    s.counter(k + "requests", &requests);
    s.counter(k + "errors", &errors);
    if (p_.verify) {
        s.counter(k + "verify.bytes", &verified_bytes);
        s.counter(k + "verify.errors", &verify_errors);
    }
}

} // namespace iosim
