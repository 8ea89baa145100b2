// Server statistics. A worker counts into plain local counters on its hot path and publishes
// them every burst with relaxed stores to its own cache-line-aligned shared copy, which the
// control thread (STATS) and the exit report read from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "buddy/kv/wire/format.hpp"
#include "buddy/kv/wire/parse.hpp"

namespace buddy::kv::serving {

// Where a thread's CPU time goes, as in DPU-KV's per-stage profile. idle: polling for work that
// is not there (empty receives, empty queue pairs); time blocked in the kernel costs no CPU.
enum class Stage : std::uint8_t { receive, parse, process, respond, idle };
inline constexpr std::size_t kStages = 5;
constexpr std::string_view to_string(Stage s) {
  constexpr std::array<std::string_view, kStages> names{"receive", "parse", "process", "respond",
                                                        "idle"};
  return names[static_cast<std::size_t>(s)];
}

inline constexpr std::size_t kStatuses = 6;  // wire::Status values
inline constexpr std::size_t kOpcodes = 3;   // get, set, del

struct Counters {
  std::uint64_t datagrams_in = 0;
  std::uint64_t datagrams_out = 0;
  std::uint64_t requests = 0;       // framed requests, answered one by one
  std::uint64_t processed = 0;      // requests run against the store by this thread (full or PE)
  std::uint64_t send_failures = 0;  // response datagrams the socket did not take
  std::uint64_t oversize = 0;       // datagrams larger than the server's limit, dropped
  std::array<std::uint64_t, kOpcodes> ops{};
  std::array<std::uint64_t, kStatuses> status{};
  std::array<std::uint64_t, wire::kDropReasons> drops{};  // whole datagrams dropped, by reason
  std::array<std::uint64_t, kStages> stage_ns{};

  void count_status(wire::Status s) { ++status[static_cast<std::size_t>(s)]; }
  void count_drop(wire::Drop d) { ++drops[static_cast<std::size_t>(d)]; }
  std::uint64_t dropped() const;
  Counters& operator+=(const Counters& o);
};

class alignas(64) SharedCounters {
 public:
  static constexpr std::size_t kWords = sizeof(Counters) / sizeof(std::uint64_t);
  static_assert(sizeof(Counters) == kWords * sizeof(std::uint64_t));

  void publish(const Counters& c) noexcept;  // owner thread
  Counters read() const noexcept;            // any thread

 private:
  std::array<std::atomic<std::uint64_t>, kWords> w_{};
};

// A thread's CPU time by stage: lap() charges the CPU time since the previous lap (or since
// construction) to one stage. One clock read per lap (CLOCK_THREAD_CPUTIME_ID, ~0.25 us here).
class StageClock {
 public:
  StageClock() : t_(now()) {}
  void restart() noexcept { t_ = now(); }  // call on the thread that will lap
  void lap(Counters& c, Stage s) noexcept {
    const std::uint64_t n = now();
    c.stage_ns[static_cast<std::size_t>(s)] += n - t_;
    t_ = n;
  }
  static std::uint64_t now() noexcept;  // the calling thread's CPU time, ns

 private:
  std::uint64_t t_;
};

// The counters as JSON object members ("requests":..,"ops":{..},"status":{..},"drops":{..},
// "stage_cpu_ms":{..}), without the enclosing braces, so callers can add their own members.
std::string json_members(const Counters& c);

}  // namespace buddy::kv::serving
