// Backoff for waiting loops: spin (cpu pause), then yield, then sleep with growing intervals.
// Tests run oversubscribed on 2 cores, so every loop that waits on another thread or process
// must give its core away eventually; the spin phase keeps the uncontended case fast.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace buddy::qp {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

struct BackoffConfig {
  std::uint32_t spins = 256;         // cpu_relax() iterations before the first yield
  std::uint32_t yields = 32;         // sched yields before the first sleep
  std::uint32_t min_sleep_us = 1;    // first sleep
  std::uint32_t max_sleep_us = 500;  // sleeps double up to this
};

class Backoff {
 public:
  Backoff() = default;
  explicit Backoff(BackoffConfig cfg) : cfg_(cfg) {}

  // One waiting step; call it each time the awaited condition is still false.
  void pause() {
    if (step_ < cfg_.spins) {
      cpu_relax();
    } else if (step_ < cfg_.spins + cfg_.yields) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
      sleep_us_ = std::min(sleep_us_ * 2, cfg_.max_sleep_us);
    }
    if (step_ != UINT32_MAX) ++step_;
  }

  // Call after progress so the next wait starts spinning again.
  void reset() {
    step_ = 0;
    sleep_us_ = std::max<std::uint32_t>(cfg_.min_sleep_us, 1);
  }

 private:
  BackoffConfig cfg_{};
  std::uint32_t step_ = 0;
  std::uint32_t sleep_us_ = 1;
};

}  // namespace buddy::qp
