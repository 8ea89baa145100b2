#include "buddy/qp/doorbell.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace buddy::qp {

namespace {

// Shared (not FUTEX_PRIVATE_FLAG): the word lies in memory other processes map too.
long futex(std::atomic<std::uint32_t>& w, int op, std::uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), op, val, timeout, nullptr, 0);
}

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void announce(Doorbell& d) noexcept {
  d.word.exchange(1, std::memory_order_seq_cst);
#if !defined(BUDDY_QP_TSAN)
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the store before the re-check's loads
#endif
}

SleepResult wait(Doorbell& d, std::chrono::nanoseconds timeout) noexcept {
  if (timeout == kNoTimeout) {
    // EAGAIN (rung before the wait), EINTR, a wake or a spurious return: re-read the word.
    while (d.word.load(std::memory_order_acquire) == 1) futex(d.word, FUTEX_WAIT, 1, nullptr);
    d.word.store(0, std::memory_order_relaxed);
    return SleepResult::woken;
  }
  const std::int64_t deadline = now_ns() + timeout.count();
  SleepResult r = SleepResult::woken;
  // FUTEX_WAIT returns at once when the word is no longer 1 (rung before the wait began), on a
  // wake, on the timeout, or on a signal (EINTR: wait for the rest of the time).
  while (d.word.load(std::memory_order_acquire) == 1) {
    const std::int64_t left = deadline - now_ns();
    if (left <= 0) {
      r = SleepResult::timed_out;
      break;
    }
    const timespec ts{static_cast<time_t>(left / 1'000'000'000),
                      static_cast<long>(left % 1'000'000'000)};
    if (futex(d.word, FUTEX_WAIT, 1, &ts) == 0) break;  // woken (or spuriously: re-check)
    if (errno == ETIMEDOUT) {
      r = SleepResult::timed_out;
      break;
    }
    // EAGAIN: the word changed before the wait (rung); EINTR: a signal. The loop re-reads it.
  }
  d.word.store(0, std::memory_order_relaxed);
  return r;
}

bool ring_slow(Doorbell& d) noexcept {
  if (d.word.exchange(0, std::memory_order_acq_rel) == 0) return false;  // another ringer did
  futex(d.word, FUTEX_WAKE, 1, nullptr);
  return true;
}

}  // namespace buddy::qp
