// Work items for Cpu::post from test lambdas. Cpu takes a plain function pointer and an object
// (no allocation per item in the models); a test keeps its closures here, alive until the end.
#pragma once
#include "models/cpu/cpu.h"

#include <deque>
#include <functional>

namespace iosim::test {

class CpuWork {
public:
    using Body = std::function<void(ExecCtx&)>;

    explicit CpuWork(Cpu& cpu) : cpu_(cpu) {}

    // Run `body` on `core` once it is free at or after absolute time `at`.
    void post(unsigned core, Time at, Body body, Cpu::Prio prio = Cpu::Prio::Thread) {
        bodies_.push_back(std::move(body));
        cpu_.post(core, at, prio, &CpuWork::call, &bodies_.back());
    }
    // The handler of an MSI vector.
    void register_msi(std::uint32_t vector, unsigned core, Body body) {
        bodies_.push_back(std::move(body));
        cpu_.register_msi(vector, core, &CpuWork::call, &bodies_.back());
    }

private:
    static void call(void* obj, ExecCtx& ctx, std::uint64_t) { (*static_cast<Body*>(obj))(ctx); }
    Cpu& cpu_;
    std::deque<Body> bodies_; // stable addresses
};

} // namespace iosim::test
