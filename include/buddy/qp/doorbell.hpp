// A doorbell: how a waiting side of a queue pair sleeps instead of polling, and how the other side
// wakes it, across processes. One 64-byte line in a shared segment holding a 32-bit futex word
// (Linux FUTEX_WAIT/FUTEX_WAKE without FUTEX_PRIVATE_FLAG, so it works across processes mapping
// the same memory, also under qemu-user); the ringer writes the line only when the sleeper said
// it sleeps, so an awake sleeper's polling and a producer's ring() touch nothing shared but a load.
//
// Protocol (no lost wake-ups, docs/kv-designs.md "Idle polling and the doorbell"):
//   sleeper:  word = 1 (seq_cst) -> re-check its queues -> FUTEX_WAIT(word == 1, timeout) -> word =
//   0 ringer:   publish the batch -> seq_cst fence -> if word == 1: exchange(0), FUTEX_WAKE
// Either the sleeper's re-check sees the batch or the ringer sees the 1 (both sides order a store
// before a load with seq_cst); the ringer's exchange makes a wait that has not started yet return
// at once (the word is no longer 1). The timeout bounds what a dead or never-ringing peer costs;
// spurious returns are harmless (the sleeper re-checks). Any number of ringers may ring one bell;
// one sleeper at a time sleeps on it.
//
// Usage:
//   Doorbell& bell = ...;                      // in the segment, zero-initialised (awake)
//   // sleeper, after spinning a while without work:
//   auto r = sleep(bell, [&] { return work_available(); }, std::chrono::milliseconds(2));
//   // ringer, after each publish:
//   ring(bell);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "buddy/qp/ring_header.hpp"

namespace buddy::qp {

struct Doorbell {
  // 0: the sleeper is awake (or not there); 1: it said it sleeps (it may be in FUTEX_WAIT).
  alignas(kCacheLine) std::atomic<std::uint32_t> word;
  std::uint32_t reserved[15];
};
static_assert(sizeof(Doorbell) == kCacheLine && alignof(Doorbell) == kCacheLine);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
              sizeof(std::atomic<std::uint32_t>) == 4);

namespace detail {
#if defined(__SANITIZE_THREAD__)
#define BUDDY_QP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BUDDY_QP_TSAN 1
#endif
#endif
// A seq_cst fence (the caller's earlier stores before this load), then a load of w. TSan does not
// model fences (and GCC warns about them there): under TSan a seq_cst read-modify-write does it.
inline std::uint32_t fenced_load(std::atomic<std::uint32_t>& w) noexcept {
#if defined(BUDDY_QP_TSAN)
  return w.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return w.load(std::memory_order_relaxed);
#endif
}
}  // namespace detail

enum class SleepResult : std::uint8_t {
  ready,     // the re-check found work: it did not sleep
  woken,     // it slept and was rung (or woke spuriously)
  timed_out  // it slept for the whole timeout
};

// The sleeper's side, split for callers with their own loop: announce(), re-check, then wait().
// Sets the word to 1 and orders that store before the caller's next loads (seq_cst).
void announce(Doorbell& d) noexcept;
// Waits on the word while it is 1, at most timeout (kNoTimeout: until rung; no timer is armed,
// which saves the sleeper the timer's cost, ~8 us of CPU a sleep on this VM), then sets it back
// to 0. An untimed sleeper must be rung for anything that should end its sleep (a stop, say).
inline constexpr std::chrono::nanoseconds kNoTimeout = std::chrono::nanoseconds::max();
SleepResult wait(Doorbell& d, std::chrono::nanoseconds timeout) noexcept;
// Takes the announcement back (the re-check found work).
inline void cancel(Doorbell& d) noexcept {
  d.word.store(0, std::memory_order_relaxed);
}

// announce(), ready() (true: work is there), then wait() unless it was.
template <class Ready>
SleepResult sleep(Doorbell& d, Ready&& ready, std::chrono::nanoseconds timeout) {
  announce(d);
  if (ready()) {
    cancel(d);
    return SleepResult::ready;
  }
  return wait(d, timeout);
}

// The ringer's side, after publishing: wakes the sleeper if it said it sleeps. A fence and one
// load of the bell when it is awake; true when it rang (a system call).
bool ring_slow(Doorbell& d) noexcept;
inline bool ring(Doorbell& d) noexcept {
  if (detail::fenced_load(d.word) == 0) return false;
  return ring_slow(d);
}

}  // namespace buddy::qp
