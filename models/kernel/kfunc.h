// The kernel functions the simulator runs, by their real names (shared/reference/
// kernel-dma-paths.md §7), so that time per function and stack counts line up with a real capture.
// Each entry is (name, cost key): the cost key names the `kernel.cost.<key>` parameter in cycles
// that a call (or a unit of work inside it: a PTE, a tree node, a queue entry) costs. Functions
// with an empty key cost only what they wait for (a contended lock, a completion-wait poll).
#pragma once
#include "models/common/time.h"

#include <array>
#include <cstdint>
#include <string_view>

namespace iosim {

// clang-format off
#define IOSIM_KFUNCS(X)                                                       \
    /* syscalls and the block layer (submission) */                           \
    X(entry_SYSCALL_64, entry_SYSCALL_64)                                     \
    X(__x64_sys_io_submit, __x64_sys_io_submit)                               \
    X(__x64_sys_io_getevents, __x64_sys_io_getevents)                         \
    X(fio, fio)                                                               \
    X(blk_mq_submit_bio, blk_mq_submit_bio)                                   \
    X(blk_mq_flush_plug_list, blk_mq_flush_plug_list)                         \
    /* NVMe driver */                                                         \
    X(nvme_queue_rq, nvme_queue_rq)                                           \
    X(nvme_submit_cmd, nvme_submit_cmd)                                       \
    X(common_interrupt, common_interrupt)                                     \
    X(nvme_irq, nvme_irq)                                                     \
    X(nvme_pci_complete_batch, nvme_pci_complete_batch)                       \
    X(blk_mq_end_request_batch, blk_mq_end_request_batch)                     \
    /* mt76 / mt7921 Wi-Fi driver, UDP socket path and mac80211 (issue 3) */ \
    X(__x64_sys_sendto, __x64_sys_sendto)                                     \
    X(__x64_sys_recvfrom, __x64_sys_recvfrom)                                 \
    X(iperf, iperf)                                                           \
    X(dev_queue_xmit, dev_queue_xmit)                                         \
    X(mt76_dma_tx_queue_skb, mt76_dma_tx_queue_skb)                           \
    X(mt7921_tx_prepare_skb, mt7921_tx_prepare_skb)                           \
    X(mt76_dma_kick_queue, mt76_dma_kick_queue)                               \
    X(mt7921_irq_handler, mt7921_irq_handler)                                 \
    X(mt7921_irq_tasklet, mt7921_irq_tasklet)                                 \
    X(net_rx_action, net_rx_action)                                           \
    X(__napi_poll, __napi_poll)                                               \
    X(mt76_dma_tx_cleanup, mt76_dma_tx_cleanup)                               \
    X(mt76_dma_rx_poll, mt76_dma_rx_poll)                                     \
    X(mt7921_rx_check, mt7921_rx_check)                                       \
    X(mt7921_mac_tx_free, mt7921_mac_tx_free)                                 \
    X(mt7921_txwi_free, mt7921_txwi_free)                                     \
    X(mt76_connac_txp_skb_unmap, mt76_connac_txp_skb_unmap)                   \
    X(mt7921_queue_rx_skb, mt7921_queue_rx_skb)                               \
    X(ieee80211_rx_napi, ieee80211_rx_napi)                                   \
    X(__netif_receive_skb, __netif_receive_skb)                               \
    X(mt76_dma_rx_fill, mt76_dma_rx_fill)                                     \
    X(page_pool_alloc_frag, page_pool_alloc_frag)                             \
    X(page_pool_alloc_pages, page_pool_alloc_pages)                           \
    X(page_pool_put_page, page_pool_put_page)                                 \
    X(napi_complete_done, napi_complete_done)                                 \
    /* dma-direct */                                                          \
    X(dma_direct_map_page, dma_direct_map_page)                               \
    X(dma_direct_unmap_page, dma_direct_unmap_page)                           \
    /* dma-iommu */                                                           \
    X(iommu_dma_map_page, iommu_dma_map_page)                                 \
    X(iommu_dma_unmap_page, iommu_dma_unmap_page)                             \
    X(iommu_dma_map_sg, iommu_dma_map_page)                                   \
    X(iommu_dma_unmap_sg, iommu_dma_unmap_page)                               \
    X(queue_iova, queue_iova)                                                 \
    X(fq_ring_free_locked, fq_ring_free_locked)                               \
    X(fq_flush_iotlb, )                                                       \
    X(fq_flush_timeout, fq_flush_timeout)                                     \
    /* IOVA allocator */                                                      \
    X(alloc_iova_fast, alloc_iova_fast)                                       \
    X(alloc_iova, alloc_iova)                                                 \
    X(__alloc_and_insert_iova_range, iova_rbtree_node)                        \
    X(free_iova_fast, free_iova_fast)                                         \
    X(free_iova, free_iova)                                                   \
    X(iova_magazine_free_pfns, iova_magazine_free_pfns)                       \
    /* IOMMU core and AMD page table */                                       \
    X(iommu_map, iommu_map)                                                   \
    X(iommu_v1_map_pages, iommu_v1_map_pages)                                 \
    X(alloc_pte, alloc_pte)                                                   \
    X(iommu_iova_to_phys, iommu_iova_to_phys)                                 \
    X(iommu_unmap_fast, iommu_unmap_fast)                                     \
    X(iommu_v1_unmap_pages, iommu_v1_unmap_pages)                             \
    /* AMD command queue */                                                   \
    X(amd_iommu_iotlb_sync, amd_iommu_iotlb_sync)                             \
    X(amd_iommu_flush_iotlb_all, amd_iommu_flush_iotlb_all)                   \
    X(_raw_spin_lock_irqsave, _raw_spin_lock_irqsave)                         \
    X(native_queued_spin_lock_slowpath, )                                     \
    X(build_inv_iommu_pages, build_inv_iommu_pages)                           \
    X(build_completion_wait, build_completion_wait)                           \
    X(copy_cmd_to_buffer, copy_cmd_to_buffer)                                 \
    X(iommu_completion_wait, )                                                \
    X(wait_on_sem, )                                                          \
    /* VFIO type1 (the IOSIM_VFIO_FNS of models/vfio/vfio_type1.h not above) */ \
    X(vfio_iommu_type1_ioctl, vfio_iommu_type1_ioctl)                         \
    X(vfio_test_domain_fgsp, vfio_test_domain_fgsp)                           \
    X(vfio_dma_do_map, vfio_dma_do_map)                                       \
    X(vfio_pin_map_dma, vfio_pin_map_dma)                                     \
    X(vfio_pin_pages_remote, vfio_pin_pages_remote)                           \
    X(vaddr_get_pfns, vaddr_get_pfns)                                         \
    X(pin_user_pages_remote, pin_user_pages_remote)                           \
    X(vfio_lock_acct, vfio_lock_acct)                                         \
    X(vfio_iommu_map, vfio_iommu_map)                                         \
    X(vfio_dma_do_unmap, vfio_dma_do_unmap)                                   \
    X(vfio_remove_dma, vfio_remove_dma)                                       \
    X(vfio_unmap_unpin, vfio_unmap_unpin)                                     \
    X(unmap_unpin_fast, unmap_unpin_fast)                                     \
    X(vfio_sync_unpin, vfio_sync_unpin)                                       \
    X(iommu_iotlb_sync, iommu_iotlb_sync)                                     \
    X(vfio_unpin_pages_remote, vfio_unpin_pages_remote)                       \
    X(put_pfn, put_pfn)                                                       \
    X(unpin_user_pages_dirty_lock, unpin_user_pages_dirty_lock)               \
    /* SPDK's user-space NVMe driver (lib/nvme), run by fio's spdk plugin */  \
    X(spdk_nvme_ns_cmd_read, spdk_nvme_ns_cmd_rw)                             \
    X(spdk_nvme_ns_cmd_write, spdk_nvme_ns_cmd_rw)                            \
    X(nvme_pcie_qpair_submit_tracker, nvme_pcie_qpair_submit_tracker)         \
    X(spdk_nvme_qpair_process_completions, spdk_nvme_qpair_process_completions) \
    X(nvme_pcie_qpair_complete_tracker, nvme_pcie_qpair_complete_tracker)     \
    /* Stack-only frames (fn_stack_only; keep them last): the entry glue and */ \
    /* callers a real stack shows, with no cost of their own. Entered only */  \
    /* while --stacks records (KFrame), never accounted. */                   \
    X(do_syscall_64, )                                                        \
    X(__x64_sys_ioctl, )                                                      \
    X(io_submit_one, )                                                        \
    X(aio_read, )                                                             \
    X(aio_write, )                                                            \
    X(ext4_file_read_iter, )                                                  \
    X(ext4_file_write_iter, )                                                 \
    X(iomap_dio_rw, )                                                         \
    X(__iomap_dio_rw, )                                                       \
    X(blk_finish_plug, )                                                      \
    X(__blk_flush_plug, )                                                     \
    X(asm_common_interrupt, )                                                 \
    X(__common_interrupt, )                                                   \
    X(handle_edge_irq, )                                                      \
    X(handle_irq_event, )                                                     \
    X(__handle_irq_event_percpu, )                                            \
    X(irq_exit_rcu, )                                                         \
    X(__do_softirq, )                                                         \
    X(tasklet_action, )                                                       \
    X(tasklet_action_common, )                                                \
    X(ret_from_fork, )                                                        \
    X(kthread, )                                                              \
    X(napi_threaded_poll, )                                                   \
    X(mt7921_poll_rx, )
// clang-format on

enum class Fn : std::uint16_t {
#define IOSIM_X(name, key) name,
    IOSIM_KFUNCS(IOSIM_X)
#undef IOSIM_X
        kCount
};
constexpr std::size_t kFnCount = static_cast<std::size_t>(Fn::kCount);

std::string_view fn_name(Fn f);
// The `kernel.cost.<key>` a function is charged with; empty if it has none.
std::string_view fn_cost_key(Fn f);
// The name a stack shows for f: a frame is symbolised by the nearest symbol at or below its
// return address, so entry_SYSCALL_64's frame shows as its label entry_SYSCALL_64_after_hwframe,
// as in a real capture.
std::string_view fn_stack_name(Fn f);
// Functions the real kernel inlines into their caller (static, one caller): they have no frame
// of their own in a real stack, so --stacks leaves them out (the model still accounts their time
// under their own name in cpu.*_by_function).
constexpr bool fn_inlined(Fn f);
// Frames with no modelled work (entry glue, the plug's callers, the kthread's loop): pushed only
// while stacks are recorded (KFrame) and never accounted, so they cost a run without --stacks one
// test each, and cpu.*_by_function does not list them (their inclusive time would be their
// callee's).
constexpr bool fn_stack_only(Fn f) {
    return f >= Fn::do_syscall_64 && f < Fn::kCount;
}
// Every distinct cost key, in table order.
const std::array<std::string_view, kFnCount>& fn_cost_keys();

// Picoseconds per unit of each function's cost, from cycles and the core frequency.
struct KernelCosts {
    std::array<Time, kFnCount> ps{};
};

// CPU time per function over all cores: exclusive (charged while it was the innermost frame),
// inclusive (from entry to return) and calls.
struct KernelAccounting {
    std::array<std::uint64_t, kFnCount> excl_ps{};
    std::array<std::uint64_t, kFnCount> incl_ps{};
    std::array<std::uint64_t, kFnCount> calls{};
};

constexpr bool fn_inlined(Fn f) {
    // vfio_iommu_type1_ioctl -> vfio_iommu_type1_{map,unmap}_dma -> vfio_dma_do_{map,unmap}:
    // static helpers with one caller, inlined (the capture's VFIO stack goes from
    // vfio_iommu_type1_ioctl straight to vfio_remove_dma).
    return f == Fn::vfio_dma_do_unmap || f == Fn::vfio_dma_do_map;
}

} // namespace iosim
