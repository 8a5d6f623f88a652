// Cpu through its sockets and its work queue: run-to-completion cores, IRQ priority, ExecCtx's
// per-function accounting, the spinlock, MSI delivery, MMIO and IOMMU-register writes at the
// core's local time.
#include "models/common/stubs.h"
#include "models/cpu/cpu.h"
#include "tests/harness/cpu_work.h"
#include "tests/harness/sc_test.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace iosim;
using iosim::StubInitiator;
using iosim::StubTarget;
using iosim::test::CpuWork;
using iosim::test::ScTest;

namespace {

constexpr std::size_t idx(Fn f) {
    return static_cast<std::size_t>(f);
}

// Costs per unit of a few functions, as the config would give them (cycles at 1 GHz: 1 ns each).
constexpr Time kQueueRq = 1 * kUs;  // nvme_queue_rq
constexpr Time kSubmit = 300 * kNs; // nvme_submit_cmd
constexpr Time kIrq = 200 * kNs;    // nvme_irq
constexpr Time kLock = 20 * kNs;    // _raw_spin_lock_irqsave
constexpr Time kOuter = 50 * kNs;   // blk_mq_submit_bio
constexpr Time kInner = 7 * kNs;    // dma_direct_map_page

class CpuTest : public ScTest {
protected:
    void build(unsigned cores = 2) {
        costs.ps[idx(Fn::nvme_queue_rq)] = kQueueRq;
        costs.ps[idx(Fn::nvme_submit_cmd)] = kSubmit;
        costs.ps[idx(Fn::nvme_irq)] = kIrq;
        costs.ps[idx(Fn::_raw_spin_lock_irqsave)] = kLock;
        costs.ps[idx(Fn::blk_mq_submit_bio)] = kOuter;
        costs.ps[idx(Fn::dma_direct_map_page)] = kInner;
        CpuParams p;
        p.cores = cores;
        p.hz = 1e9;
        cpu = std::make_unique<Cpu>("cpu", p, costs);
        work = std::make_unique<CpuWork>(*cpu);
        mmio = std::make_unique<StubTarget>("mmio", 500 * kNs);
        iommu_regs = std::make_unique<StubTarget>("iommu_regs");
        msi = std::make_unique<StubInitiator>("msi");
        cpu->out_mmio.bind(mmio->in);
        cpu->out_iommu.bind(iommu_regs->in);
        msi->out.bind(cpu->in_msi);
    }
    const KernelAccounting& acct() { return cpu->accounting(); }

    struct Ran {
        std::string name;
        unsigned core;
        Time start, end;
    };
    // A work item that records when it ran and charges `units` of nvme_queue_rq.
    CpuWork::Body item(const std::string& name, std::uint64_t units = 1, Fn f = Fn::nvme_queue_rq) {
        return [this, name, units, f](ExecCtx& ctx) {
            const Time start = ctx.now();
            { KCall c(ctx, f, units); }
            ran.push_back({name, ctx.core(), start, ctx.now()});
        };
    }

    KernelCosts costs;
    std::unique_ptr<Cpu> cpu;
    std::unique_ptr<CpuWork> work;
    std::unique_ptr<StubTarget> mmio, iommu_regs;
    std::unique_ptr<StubInitiator> msi;
    std::vector<Ran> ran;
};

} // namespace

TEST_F(CpuTest, AnIdleCoreRunsWorkAtItsArrivalTime) {
    build();
    work->post(1, 100 * kNs, item("a"));
    run([&] {
        wait_until(3 * kUs);
        work->post(0, 2 * kUs, item("late")); // posted for a time already past: runs now
    });
    ASSERT_EQ(ran.size(), 2u);
    EXPECT_EQ(ran[0].core, 1u);
    EXPECT_EQ(ran[0].start, 100 * kNs);
    EXPECT_EQ(ran[0].end, 100 * kNs + kQueueRq);
    EXPECT_EQ(ran[1].core, 0u);
    EXPECT_EQ(ran[1].start, 3 * kUs);
    EXPECT_EQ(cpu->busy_ps[0], kQueueRq);
    EXPECT_EQ(cpu->busy_ps[1], kQueueRq);
    EXPECT_EQ(cpu->items, 2u);
    EXPECT_EQ(cpu->irqs, 0u);
}

TEST_F(CpuTest, WorkOnABusyCoreWaitsUntilItIsFree) {
    build();
    work->post(0, 0, item("long", 3));       // busy until 3 us
    work->post(0, 200 * kNs, item("next"));  // waits for it
    work->post(0, 400 * kNs, item("third")); // and behind that
    work->post(1, 200 * kNs, item("other")); // another core is not affected
    run([] {});
    ASSERT_EQ(ran.size(), 4u);
    EXPECT_EQ(ran[0].name, "long");
    EXPECT_EQ(ran[1].name, "other");
    EXPECT_EQ(ran[1].start, 200 * kNs);
    EXPECT_EQ(ran[2].name, "next");
    EXPECT_EQ(ran[2].start, 3 * kQueueRq);
    EXPECT_EQ(ran[3].name, "third");
    EXPECT_EQ(ran[3].start, 4 * kQueueRq);
    EXPECT_EQ(cpu->busy_ps[0], 5 * kQueueRq);
    EXPECT_EQ(cpu->busy_ps[1], kQueueRq);
}

TEST_F(CpuTest, IrqItemsRunBeforeQueuedThreadItems) {
    build();
    work->post(0, 0, item("running"));
    work->post(0, 100 * kNs, item("thread"));
    work->post(0, 200 * kNs, item("irq", 1, Fn::nvme_irq), Cpu::Prio::Irq);
    run([] {});
    ASSERT_EQ(ran.size(), 3u);
    EXPECT_EQ(ran[0].name, "running"); // not preempted
    EXPECT_EQ(ran[1].name, "irq");
    EXPECT_EQ(ran[1].start, kQueueRq);
    EXPECT_EQ(ran[2].name, "thread");
    EXPECT_EQ(ran[2].start, kQueueRq + kIrq);
    EXPECT_EQ(cpu->irqs, 1u);
    EXPECT_EQ(cpu->items, 3u);
}

TEST_F(CpuTest, ExecCtxChargesCostTimesUnitsWithExclusiveAndInclusiveTimePerFunction) {
    build();
    Time end = 0;
    work->post(0, 1 * kUs, [&](ExecCtx& ctx) {
        KCall outer(ctx, Fn::blk_mq_submit_bio); // kOuter
        {
            KCall inner(ctx, Fn::dma_direct_map_page, 5); // 5 x kInner
            { KCall nothing(ctx, Fn::dma_direct_unmap_page, 0); }
            ctx.spin_until(ctx.now() + 40 * kNs, Fn::wait_on_sem);
        }
        ctx.work(Fn::dma_direct_map_page, 2); // charged to the innermost frame: outer
        { KCall again(ctx, Fn::dma_direct_map_page); }
        end = ctx.now();
    });
    run([] {});
    const auto& a = acct();
    const Time inner_incl = 5 * kInner + 40 * kNs;
    EXPECT_EQ(end, 1 * kUs + kOuter + inner_incl + 2 * kInner + kInner);
    EXPECT_EQ(a.calls[idx(Fn::blk_mq_submit_bio)], 1u);
    EXPECT_EQ(a.calls[idx(Fn::dma_direct_map_page)], 2u);
    EXPECT_EQ(a.calls[idx(Fn::dma_direct_unmap_page)], 1u);
    EXPECT_EQ(a.calls[idx(Fn::wait_on_sem)], 1u);
    EXPECT_EQ(a.excl_ps[idx(Fn::blk_mq_submit_bio)], kOuter + 2 * kInner);
    EXPECT_EQ(a.incl_ps[idx(Fn::blk_mq_submit_bio)], end - 1 * kUs);
    EXPECT_EQ(a.excl_ps[idx(Fn::dma_direct_map_page)], 5 * kInner + kInner);
    EXPECT_EQ(a.incl_ps[idx(Fn::dma_direct_map_page)], inner_incl + kInner);
    EXPECT_EQ(a.excl_ps[idx(Fn::dma_direct_unmap_page)], 0u);
    EXPECT_EQ(a.incl_ps[idx(Fn::dma_direct_unmap_page)], 0u);
    EXPECT_EQ(a.excl_ps[idx(Fn::wait_on_sem)], 40 * kNs);
    EXPECT_EQ(a.incl_ps[idx(Fn::wait_on_sem)], 40 * kNs);
    // Exclusive times add up to the item's busy time.
    Time excl_sum = 0;
    for (auto v : a.excl_ps)
        excl_sum += v;
    EXPECT_EQ(excl_sum, cpu->busy_ps[0]);
}

TEST_F(CpuTest, ASecondCoreSpinsUntilTheFirstReleasesTheLock) {
    build();
    Resource lock;
    Time spun[3] = {1, 1, 1}, got[3] = {0, 0, 0};
    auto locked = [&](int i) {
        return [&, i](ExecCtx& ctx) {
            spun[i] = ctx.lock(lock);
            got[i] = ctx.now();
            { KCall c(ctx, Fn::nvme_submit_cmd); } // the critical section
            ctx.unlock(lock);
        };
    };
    work->post(0, 0, locked(0));
    work->post(1, 0, locked(1));        // same instant, other core
    work->post(0, 10 * kUs, locked(2)); // long after: free
    run([] {});
    EXPECT_EQ(spun[0], 0u);
    EXPECT_EQ(got[0], kLock);
    EXPECT_EQ(spun[1], kSubmit); // until core 0 left its critical section
    EXPECT_EQ(got[1], kLock + kSubmit);
    EXPECT_EQ(spun[2], 0u);
    const auto& a = acct();
    EXPECT_EQ(a.excl_ps[idx(Fn::native_queued_spin_lock_slowpath)], kSubmit);
    EXPECT_EQ(a.calls[idx(Fn::native_queued_spin_lock_slowpath)], 1u);
    EXPECT_EQ(a.calls[idx(Fn::_raw_spin_lock_irqsave)], 3u);
    EXPECT_EQ(a.excl_ps[idx(Fn::_raw_spin_lock_irqsave)], 3 * kLock);
    EXPECT_EQ(a.incl_ps[idx(Fn::_raw_spin_lock_irqsave)], 3 * kLock + kSubmit);
    EXPECT_EQ(lock.wait_total(), kSubmit);
    EXPECT_EQ(lock.busy_total(), 3 * kSubmit);
    EXPECT_EQ(cpu->busy_ps[1], kLock + kSubmit + kSubmit);
}

TEST_F(CpuTest, MsiRunsItsHandlerOnItsCoreAtArrival) {
    build(4);
    work->register_msi(33, 2, item("nvme_irq", 1, Fn::nvme_irq));
    std::uint32_t vec = 33, unknown = 34, beyond = 100000;
    StubInitiator::Result ok{}, bad{}, worse{};
    run([&] {
        wait_until(2 * kUs);
        ok = msi->write(0xFEE00000, &vec, 4, 150 * kNs);
        bad = msi->write(0xFEE00000, &unknown, 4);
        worse = msi->write(0xFEE00000, &beyond, 4);
    });
    EXPECT_EQ(ok.status, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(bad.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(worse.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(ran.size(), 1u);
    EXPECT_EQ(ran[0].core, 2u);
    EXPECT_EQ(ran[0].start, 2 * kUs + 150 * kNs);
    EXPECT_EQ(cpu->irqs, 1u);
    EXPECT_EQ(cpu->busy_ps[2], kIrq);
}

TEST_F(CpuTest, MmioAndIommuWritesLeaveAtTheCoresLocalTime) {
    build();
    IommuCommand cmd{IommuCommand::Op::CompletionWait, 3, 0, 0, 0};
    work->post(1, 500 * kNs, [&](ExecCtx& ctx) {
        KCall c(ctx, Fn::nvme_submit_cmd);
        ctx.mmio_write(0x1008, 0x2a);
        ctx.work(Fn::nvme_submit_cmd);
        ctx.iommu_command(cmd);
    });
    run([] {});
    ASSERT_EQ(mmio->accesses.size(), 1u);
    const auto& m = mmio->accesses[0];
    EXPECT_TRUE(m.write);
    EXPECT_EQ(m.addr, 0x1008u);
    EXPECT_EQ(m.len, 4u);
    EXPECT_EQ(m.u32(), 0x2au);
    EXPECT_EQ(m.at, 500 * kNs + kSubmit);
    // Posted: the device's 500 ns answer time is not charged to the core.
    EXPECT_EQ(cpu->busy_ps[1], 2 * kSubmit);
    ASSERT_EQ(iommu_regs->accesses.size(), 1u);
    const auto& c = iommu_regs->accesses[0];
    EXPECT_EQ(c.addr, 0x2008u);
    EXPECT_EQ(c.len, sizeof(IommuCommand));
    EXPECT_EQ(c.at, 500 * kNs + 2 * kSubmit);
}

// Temporal decoupling: a thread item may run ahead of SystemC time by less than the global
// quantum (sim/ sets it from sim.quantum; this test sets its own).
TEST_F(CpuTest, NeedsSyncOnceLocalTimeIsAQuantumAhead) {
    build();
    tlm::tlm_global_quantum::instance().set(to_sc(2 * kUs));
    std::vector<bool> sync;
    work->post(0, 5 * kUs, [&](ExecCtx& ctx) {
        sync.push_back(ctx.needs_sync()); // 0 ahead
        ctx.work(Fn::nvme_queue_rq);      // 1 us ahead
        sync.push_back(ctx.needs_sync());
        ctx.work(Fn::nvme_queue_rq); // 2 us ahead: a quantum
        sync.push_back(ctx.needs_sync());
    });
    run([] {});
    EXPECT_EQ(sync, std::vector<bool>({false, false, true}));
}

// --stacks: the frames open at each entry of the probe function, innermost first, user-space
// frames left out, counted per distinct stack and printed as bpftrace prints a map.
TEST_F(CpuTest, StackRecorderCountsTheKernelStacksIntoTheProbe) {
    build();
    StackRecorder rec(Fn::iommu_iova_to_phys);
    cpu->set_stack_recorder(&rec);
    auto unmap = [](ExecCtx& ctx) {
        KCall u(ctx, Fn::iommu_dma_unmap_page);
        KCall p(ctx, Fn::iommu_iova_to_phys);
    };
    work->post(0, 0, [&](ExecCtx& ctx) {
        KCall irq(ctx, Fn::common_interrupt);
        KCall n(ctx, Fn::nvme_irq);
        for (int i = 0; i < 2; ++i)
            unmap(ctx);
    });
    work->post(1, 0, [&](ExecCtx& ctx) {
        KCall user(ctx, Fn::fio); // user space: not in a kernel stack
        KCall sys(ctx, Fn::entry_SYSCALL_64);
        unmap(ctx);
        KCall other(ctx, Fn::iommu_map); // not the probe: not counted
    });
    run([] {});
    EXPECT_EQ(rec.total(), 3u);
    EXPECT_EQ(rec.to_bpftrace(), "@[\n"
                                 "    iommu_iova_to_phys+0\n"
                                 "    iommu_dma_unmap_page+0\n"
                                 "    entry_SYSCALL_64_after_hwframe+0\n"
                                 "]: 1\n"
                                 "@[\n"
                                 "    iommu_iova_to_phys+0\n"
                                 "    iommu_dma_unmap_page+0\n"
                                 "    nvme_irq+0\n"
                                 "    common_interrupt+0\n"
                                 "]: 2\n");
    EXPECT_TRUE(StackRecorder::user_space(Fn::fio));
    EXPECT_FALSE(StackRecorder::user_space(Fn::iommu_map));
}

// A frame resumed in a continuation item is on the stack but is not a new call.
TEST_F(CpuTest, ResumedFramesAreOnTheStackButCountNoCall) {
    build();
    StackRecorder rec(Fn::iommu_iova_to_phys);
    cpu->set_stack_recorder(&rec);
    work->post(0, 0, [&](ExecCtx& ctx) {
        KResume io(ctx, Fn::vfio_iommu_type1_ioctl);
        KCall p(ctx, Fn::iommu_iova_to_phys);
    });
    run([] {});
    EXPECT_EQ(acct().calls[idx(Fn::vfio_iommu_type1_ioctl)], 0u);
    EXPECT_EQ(acct().calls[idx(Fn::iommu_iova_to_phys)], 1u);
    EXPECT_EQ(rec.to_bpftrace(),
              "@[\n    iommu_iova_to_phys+0\n    vfio_iommu_type1_ioctl+0\n]: 1\n");
}

// An IRQ that arrives while a thread item runs is run after it (non-preemptive cores), but its
// stacks show the thread's frames open at its arrival below its own, as a real interrupt's would:
// here the thread is inside blk_mq_flush_plug_list (charged kQueueRq of nvme_queue_rq before and
// kOuter of blk_mq_submit_bio inside) when the IRQ arrives; an IRQ on an idle core shows none.
TEST_F(CpuTest, AnIrqShowsTheFramesOfTheThreadItInterruptedAtItsArrival) {
    build();
    StackRecorder rec(Fn::iommu_iova_to_phys);
    cpu->set_stack_recorder(&rec);
    // Thread on core 0 from 0: [0, 1 us) in nvme_queue_rq, then blk_mq_flush_plug_list is the
    // innermost frame over [1 us, 1 us + 50 ns) (the cost of blk_mq_submit_bio charged to it).
    work->post(0, 0, [&](ExecCtx& ctx) {
        KCall sys(ctx, Fn::entry_SYSCALL_64);
        KCall ds(ctx, Fn::do_syscall_64);
        { KCall q(ctx, Fn::nvme_queue_rq); }
        KCall fl(ctx, Fn::blk_mq_flush_plug_list);
        ctx.work(Fn::blk_mq_submit_bio);
    });
    auto irq = [&](ExecCtx& ctx) {
        KCall a(ctx, Fn::asm_common_interrupt);
        KCall n(ctx, Fn::nvme_irq);
        KCall p(ctx, Fn::iommu_iova_to_phys);
    };
    work->post(0, 1 * kUs + 20 * kNs, irq, Cpu::Prio::Irq); // inside the flush
    work->post(0, 500 * kNs, irq, Cpu::Prio::Irq);          // inside nvme_queue_rq
    work->post(1, 0, irq, Cpu::Prio::Irq);                  // core 1 idle
    work->post(0, 5 * kUs, irq, Cpu::Prio::Irq);            // core 0 idle again
    run([] {});
    EXPECT_EQ(rec.to_bpftrace(), "@[\n"
                                 "    iommu_iova_to_phys+0\n"
                                 "    nvme_irq+0\n"
                                 "    asm_common_interrupt+0\n"
                                 "    blk_mq_flush_plug_list+0\n"
                                 "    do_syscall_64+0\n"
                                 "    entry_SYSCALL_64_after_hwframe+0\n"
                                 "]: 1\n"
                                 "@[\n"
                                 "    iommu_iova_to_phys+0\n"
                                 "    nvme_irq+0\n"
                                 "    asm_common_interrupt+0\n"
                                 "    nvme_queue_rq+0\n"
                                 "    do_syscall_64+0\n"
                                 "    entry_SYSCALL_64_after_hwframe+0\n"
                                 "]: 1\n"
                                 "@[\n"
                                 "    iommu_iova_to_phys+0\n"
                                 "    nvme_irq+0\n"
                                 "    asm_common_interrupt+0\n"
                                 "]: 2\n");
}

// Without a recorder nothing of this is kept: the same items leave no log behind.
TEST_F(CpuTest, WithoutARecorderAnIrqAfterAThreadItemShowsNothingAndCostsNothing) {
    build();
    Time irq_start = 0;
    work->post(0, 0, [&](ExecCtx& ctx) { KCall q(ctx, Fn::nvme_queue_rq); });
    work->post(
        0, 500 * kNs,
        [&](ExecCtx& ctx) {
            irq_start = ctx.now();
            KCall n(ctx, Fn::nvme_irq);
        },
        Cpu::Prio::Irq);
    run([] {});
    EXPECT_EQ(irq_start, kQueueRq); // run after the thread item, as before
    EXPECT_EQ(acct().calls[idx(Fn::nvme_irq)], 1u);
}

// --stacks-probe all: one count per leaf call (a function that returned without calling
// another), with the stack at its entry; user-space leaves and inlined frames left out.
TEST_F(CpuTest, AllLeavesCountsEveryCallThatCalledNothing) {
    build();
    StackRecorder rec(StackRecorder::kAllLeaves);
    ASSERT_TRUE(rec.all_leaves());
    cpu->set_stack_recorder(&rec);
    work->post(0, 0, [&](ExecCtx& ctx) {
        { KCall f(ctx, Fn::fio); } // a user-space leaf: not counted
        KCall sys(ctx, Fn::entry_SYSCALL_64);
        KCall io(ctx, Fn::vfio_iommu_type1_ioctl);
        KCall du(ctx, Fn::vfio_dma_do_unmap); // inlined: not a frame of its own
        for (int i = 0; i < 3; ++i) {
            KCall rd(ctx, Fn::vfio_remove_dma);
            KCall p(ctx, Fn::iommu_iova_to_phys); // leaf
        }
        { KCall s(ctx, Fn::vfio_lock_acct); } // leaf
    });
    run([] {});
    EXPECT_EQ(rec.total(), 4u);
    EXPECT_EQ(rec.to_bpftrace(), "@[\n"
                                 "    vfio_lock_acct+0\n"
                                 "    vfio_iommu_type1_ioctl+0\n"
                                 "    entry_SYSCALL_64_after_hwframe+0\n"
                                 "]: 1\n"
                                 "@[\n"
                                 "    iommu_iova_to_phys+0\n"
                                 "    vfio_remove_dma+0\n"
                                 "    vfio_iommu_type1_ioctl+0\n"
                                 "    entry_SYSCALL_64_after_hwframe+0\n"
                                 "]: 3\n");
    EXPECT_TRUE(fn_inlined(Fn::vfio_dma_do_unmap));
    EXPECT_FALSE(fn_inlined(Fn::vfio_remove_dma));
}
