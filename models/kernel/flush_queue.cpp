#include "models/kernel/flush_queue.h"

namespace iosim {

FlushQueue::FlushQueue(unsigned cpus, unsigned size)
    : mask_(size - 1), rings_(cpus), entries_(static_cast<std::size_t>(cpus) * size) {
    assert(cpus > 0);
    assert(size >= 2 && (size & (size - 1)) == 0);
}

void FlushQueue::push(unsigned cpu, std::uint64_t pfn, std::uint64_t pages, Time now,
                      Time unmapped_at) {
    assert(cpu < cpus());
    assert(!full(cpu));
    Ring& r = rings_[cpu];
    slot(cpu, r.tail) =
        FqEntry{pfn, pages, start_cnt_, now, unmapped_at == ~Time{0} ? now : unmapped_at};
    r.tail = (r.tail + 1) & mask_;
}

std::uint64_t FlushQueue::queued_total() const {
    std::uint64_t n = 0;
    for (unsigned c = 0; c < cpus(); ++c)
        n += queued(c);
    return n;
}

} // namespace iosim
