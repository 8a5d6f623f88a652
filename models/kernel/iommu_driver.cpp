#include "models/kernel/iommu_driver.h"

namespace iosim {

void IommuDriver::send_and_wait(ExecCtx& ctx, IommuCommand& inv) {
    lock_spin_ps += ctx.lock(lock_);
    // AMD builds INVALIDATE_IOMMU_PAGES for both: a range, or the all-pages address.
    { KCall b(ctx, Fn::build_inv_iommu_pages); }
    {
        KCall c(ctx, Fn::copy_cmd_to_buffer);
        ctx.iommu_command(inv);
        ++commands;
    }
    {
        KCall w(ctx, Fn::iommu_completion_wait, 0);
        IommuCommand cw{IommuCommand::Op::CompletionWait, inv.domain, 0, 0, 0};
        { KCall b(ctx, Fn::build_completion_wait); }
        {
            KCall c(ctx, Fn::copy_cmd_to_buffer);
            ctx.iommu_command(cw);
            ++commands;
            ++completion_waits;
        }
        // wait_on_sem: the first check is immediate, later ones follow udelay(poll).
        Time t = ctx.now();
        if (cw.complete_at > t) {
            Time polls = (cw.complete_at - t + poll_ - 1) / poll_;
            Time until = t + polls * poll_;
            wait_ps += until - t;
            ctx.spin_until(until, Fn::wait_on_sem);
        }
    }
    ctx.unlock(lock_);
}

void IommuDriver::flush_pages(ExecCtx& ctx, std::uint16_t domain, std::uint64_t iova,
                              std::uint64_t size) {
    KCall s(ctx, Fn::amd_iommu_iotlb_sync);
    IommuCommand inv{IommuCommand::Op::InvalidatePages, domain, iova, size, 0};
    send_and_wait(ctx, inv);
}

void IommuDriver::flush_all(ExecCtx& ctx, std::uint16_t domain) {
    KCall s(ctx, Fn::amd_iommu_flush_iotlb_all);
    IommuCommand inv{IommuCommand::Op::InvalidateAll, domain, 0, ~std::uint64_t{0}, 0};
    send_and_wait(ctx, inv);
}

} // namespace iosim
