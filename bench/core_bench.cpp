// Per-operation cost of the functional cores on the simulator's hot path. These bound how many
// simulated I/Os per wall second the platform can reach; tools/bench-sim measures the whole run.
#include "models/common/resource.h"
#include "models/common/rng.h"
#include "models/iommu/io_page_table.h"
#include "models/iommu/iotlb.h"
#include "models/kernel/flush_queue.h"
#include "models/kernel/iova_allocator.h"

#include <benchmark/benchmark.h>

using namespace iosim;

static void BM_IotlbHit(benchmark::State& st) {
    Iotlb tlb({256, 8, CachePolicy::Lru, 1});
    for (std::uint64_t i = 0; i < 128; ++i)
        tlb.insert(1, i << 12, {i << 12, 12, kPermRead});
    std::uint64_t i = 0;
    for (auto _ : st)
        benchmark::DoNotOptimize(tlb.lookup(1, ((i++) & 127) << 12));
}
BENCHMARK(BM_IotlbHit);

static void BM_IotlbMissInsert(benchmark::State& st) {
    Iotlb tlb({256, 8, CachePolicy::Lru, 1});
    std::uint64_t i = 0;
    for (auto _ : st) {
        const std::uint64_t iova = (i++) << 12;
        if (!tlb.lookup(1, iova)) tlb.insert(1, iova, {iova, 12, kPermRead});
    }
}
BENCHMARK(BM_IotlbMissInsert);

static void BM_PageTableMapWalkUnmap(benchmark::State& st) {
    std::uint64_t next = 1ull << 30;
    IoPageTable pt([&] { return next += 4096; }, [](std::uint64_t) {});
    std::uint64_t i = 0;
    for (auto _ : st) {
        const std::uint64_t iova = 0xF0000000ull - (((i++) & 1023) << 12);
        pt.map(iova, 1ull << 33, 4096, kPermWrite);
        benchmark::DoNotOptimize(pt.walk(iova));
        pt.unmap(iova, 4096);
    }
}
BENCHMARK(BM_PageTableMapWalkUnmap);

static void BM_IovaRcacheAllocFree(benchmark::State& st) {
    IovaParams p;
    p.cpus = 8;
    IovaAllocator a(p);
    std::uint64_t pfns[32];
    for (auto& pfn : pfns)
        pfn = a.alloc(0, 1, (1ull << 36) - 1);
    for (auto& pfn : pfns)
        a.free(0, pfn, 1);
    for (auto _ : st) {
        std::uint64_t pfn = a.alloc(0, 1, (1ull << 36) - 1);
        a.free(0, pfn, 1);
    }
}
BENCHMARK(BM_IovaRcacheAllocFree);

static void BM_FlushQueueCycle(benchmark::State& st) {
    FlushQueue fq(8);
    std::uint64_t freed = 0, i = 0;
    for (auto _ : st) {
        fq.free_ready(0, [&](const FqEntry&) { ++freed; });
        if (fq.full(0)) {
            fq.flush_start();
            fq.flush_finish();
            fq.free_ready(0, [&](const FqEntry&) { ++freed; });
        }
        fq.push(0, ++i, 1, 0);
    }
    benchmark::DoNotOptimize(freed);
}
BENCHMARK(BM_FlushQueueCycle);

static void BM_ResourceInOrder(benchmark::State& st) {
    Resource r;
    Time t = 0;
    for (auto _ : st)
        benchmark::DoNotOptimize(r.acquire(t += 10, 15));
}
BENCHMARK(BM_ResourceInOrder);

static void BM_ResourceOutOfOrder(benchmark::State& st) {
    Resource r;
    Rng rng(3);
    Time t = 1000000;
    for (auto _ : st) {
        t += 10;
        benchmark::DoNotOptimize(r.acquire(t - rng.below(2000), 5));
    }
}
BENCHMARK(BM_ResourceOutOfOrder);

BENCHMARK_MAIN();
