#include "models/kernel/kfunc.h"

namespace iosim {

namespace {
constexpr std::string_view kNames[] = {
#define IOSIM_X(name, key) #name,
    IOSIM_KFUNCS(IOSIM_X)
#undef IOSIM_X
};
constexpr std::string_view kKeys[] = {
#define IOSIM_X(name, key) #key,
    IOSIM_KFUNCS(IOSIM_X)
#undef IOSIM_X
};
} // namespace

std::string_view fn_name(Fn f) {
    return kNames[static_cast<std::size_t>(f)];
}
std::string_view fn_stack_name(Fn f) {
    return f == Fn::entry_SYSCALL_64 ? std::string_view("entry_SYSCALL_64_after_hwframe")
                                     : fn_name(f);
}
std::string_view fn_cost_key(Fn f) {
    return kKeys[static_cast<std::size_t>(f)];
}

const std::array<std::string_view, kFnCount>& fn_cost_keys() {
    static const std::array<std::string_view, kFnCount> keys = [] {
        std::array<std::string_view, kFnCount> a{};
        for (std::size_t i = 0; i < kFnCount; ++i)
            a[i] = kKeys[i];
        return a;
    }();
    return keys;
}

} // namespace iosim
