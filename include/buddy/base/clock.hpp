// Clocks every part reads: monotonic time for deadlines and heartbeats (comparable between the
// processes of one machine: CLOCK_MONOTONIC), wall time for timestamps, and the CPU time of the
// calling thread or process.
#pragma once

#include <time.h>

#include <cstdint>

namespace buddy::base {

inline std::uint64_t to_ns(const timespec& ts) noexcept {
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}
inline std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  clock_gettime(id, &ts);
  return to_ns(ts);
}
// CLOCK_MONOTONIC: deadlines, intervals, heartbeats shared between processes of one machine.
inline std::uint64_t monotonic_ns() noexcept {
  return clock_ns(CLOCK_MONOTONIC);
}
// CLOCK_REALTIME: timestamps meant for people and logs.
inline std::uint64_t realtime_ns() noexcept {
  return clock_ns(CLOCK_REALTIME);
}
// The calling thread's CPU time.
inline std::uint64_t thread_cpu_ns() noexcept {
  return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}
// This process's CPU time (all threads).
inline std::uint64_t process_cpu_ns() noexcept {
  return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

}  // namespace buddy::base
