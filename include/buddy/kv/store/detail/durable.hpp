// The one store that makes a write reachable in a named store (store_segment.hpp), whose memory
// outlives a process killed at any instant. What a kill -9 leaves in MAP_SHARED memory is every
// store the process executed before the instant, in program order as compiled (the CPU retires
// instructions in order and the kernel keeps every retired store); so what matters is the
// compiler's order: everything written before durable_store() (an item's bytes, a new bucket, a
// new index) is in memory before the one store that makes it reachable, and nothing written after
// it (freeing the old item) moves before it. A lost machine (power) is not covered: see
// docs/store.md.
#pragma once

#include <atomic>

namespace buddy::kv::detail {

template <class T>
inline void durable_store(T& where, T value) noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::atomic_ref<T>(where).store(value, std::memory_order_release);
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

template <class T>
inline void durable_store(std::atomic<T>& where, T value) noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  where.store(value, std::memory_order_release);
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

}  // namespace buddy::kv::detail
