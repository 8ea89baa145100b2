// Server statistics. A worker counts into plain local counters on its hot path and publishes
// them every burst with relaxed stores to its own cache-line-aligned shared copy, which the
// control thread (STATS) and the exit report read from any thread. Counters::fields is the one
// list of their names (JSON keys and text labels); summing, the shared copy, STATS and the text
// report all follow it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "buddy/base/fields.hpp"
#include "buddy/base/json.hpp"
#include "buddy/base/shared_words.hpp"
#include "buddy/kv/wire/format.hpp"
#include "buddy/kv/wire/parse.hpp"

namespace buddy::kv::serving {

// Where a thread's CPU time goes, as in DPU-KV's per-stage profile. idle: polling for work that
// is not there (empty receives, empty queue pairs); time blocked in the kernel costs no CPU.
enum class Stage : std::uint8_t { receive, parse, process, respond, idle };
inline constexpr std::size_t kStages = 5;
inline constexpr std::array<std::string_view, kStages> kStageNames{"receive", "parse", "process",
                                                                   "respond", "idle"};
constexpr std::string_view to_string(Stage s) {
  return kStageNames[static_cast<std::size_t>(s)];
}

inline constexpr std::size_t kStatuses = 7;  // wire::Status values
inline constexpr std::size_t kOpcodes = 3;   // get, set, del
inline constexpr std::array<std::string_view, kOpcodes> kOpNames{"get", "set", "del"};
inline constexpr auto kStatusNames = base::enum_names<wire::Status, kStatuses>();
// Drop reasons by wire::Drop value; none is not a reason and is left out.
inline constexpr auto kDropNames = [] {
  auto n = base::enum_names<wire::Drop, wire::kDropReasons>();
  n[static_cast<std::size_t>(wire::Drop::none)] = {};
  return n;
}();

struct Counters {
  std::uint64_t datagrams_in = 0;
  std::uint64_t datagrams_out = 0;
  std::uint64_t requests = 0;       // framed requests, answered one by one
  std::uint64_t processed = 0;      // requests run against the store by this thread (full or PE)
  std::uint64_t send_failures = 0;  // response datagrams the socket did not take
  std::uint64_t replayed = 0;       // sequenced writes answered from the PE's window, not applied:
                                    // duplicates and superseded ones
  std::array<std::uint64_t, kOpcodes> ops{};
  std::array<std::uint64_t, kStatuses> status{};
  std::array<std::uint64_t, wire::kDropReasons> drops{};  // whole datagrams dropped, by reason
  std::array<std::uint64_t, kStages> stage_ns{};

  // The field table (base/fields.hpp), in layout order (the engine block documents the words).
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("datagrams_in", s.datagrams_in...);
    f("datagrams_out", s.datagrams_out...);
    f("requests", s.requests...);
    f("processed", s.processed...);
    f("send_failures", s.send_failures...);
    f("replayed", s.replayed...);
    f(base::Field("ops").each(kOpNames), s.ops...);
    f(base::Field("status").each(kStatusNames), s.status...);
    f(base::Field("drops").each(kDropNames), s.drops...);
    f(base::Field("stage_cpu_ms").each(kStageNames).per(1e6), s.stage_ns...);
  }

  void count_status(wire::Status s) { ++status[static_cast<std::size_t>(s)]; }
  void count_drop(wire::Drop d) { ++drops[static_cast<std::size_t>(d)]; }
  std::uint64_t dropped() const;  // every reason
  Counters& operator+=(const Counters& o) {
    base::add_fields(*this, o);
    return *this;
  }
};
static_assert(base::field_words<Counters>() * 8 == sizeof(Counters),
              "every Counters field is in its table");

class alignas(64) SharedCounters {
 public:
  void publish(const Counters& c) noexcept { w_.publish(c); }  // owner thread
  Counters read() const noexcept { return w_.read(); }         // any thread

 private:
  base::SharedWords<Counters> w_;
};

// A thread's CPU time by stage, without a system call per stage. lap() charges the time since
// the previous lap (or since construction) to a busy stage, read from CLOCK_MONOTONIC (the vDSO,
// ~20 ns); lap(.., Stage::idle) only marks the time. settle() reads the thread's CPU clock
// (CLOCK_THREAD_CPUTIME_ID, a real system call, ~0.25 us) and brings c.stage_ns up to it: the busy
// laps since the previous settle are charged (scaled down to the CPU time if the thread was
// preempted inside them), and the rest of the thread's CPU time is idle: polling, back-off and
// anything outside the stages. So sum(stage_ns) is the thread's CPU time as of the last settle,
// and an idle loop reads no clock but the vDSO one. A loop that hosts the worker calls resume()
// before each step: the time since the previous lap was the host's, not a stage's; its CPU time
// is idle (its wall time may be spent blocked, so it cannot be told from the CPU clock).
// settle_every() settles at most once a millisecond (by the last lap's time); workers call it where
// they publish, settle() last.
class StageClock {
 public:
  StageClock() { restart(); }
  void restart() noexcept;  // call on the thread that will lap and settle
  void resume() noexcept { t_ = wall_now(); }
  void lap(Counters& c, Stage s) noexcept {
    const std::uint64_t n = wall_now();
    if (s != Stage::idle) pending_[static_cast<std::size_t>(s)] += n - t_;
    t_ = n;
    (void)c;
  }
  void settle(Counters& c) noexcept;
  void settle_every(Counters& c) noexcept {
    if (t_ - settled_at_ >= kSettleNs) settle(c);
  }
  std::uint64_t last_lap() const noexcept { return t_; }  // the last lap's CLOCK_MONOTONIC, ns
  static std::uint64_t wall_now() noexcept;               // CLOCK_MONOTONIC, ns
  static std::uint64_t now() noexcept;                    // the calling thread's CPU time, ns

 private:
  static constexpr std::uint64_t kSettleNs = 1'000'000;
  std::uint64_t t_ = 0;                           // the last lap, monotonic
  std::uint64_t settled_at_ = 0;                  // the last settle, monotonic
  std::uint64_t cpu_ = 0;                         // the thread's CPU time at the last settle
  std::array<std::uint64_t, kStages> pending_{};  // busy laps since the last settle
};

// The counters as members of the object w is writing: the table's fields ("requests", "ops":{..},
// "status":{..}, "drops":{..}, "stage_cpu_ms":{..}, ...) and "dropped", the drops summed.
void write_json(base::json::Writer& w, const Counters& c);
// The same as text (base::text_fields): "datagrams_in=.. ... dropped=..", then a line per array.
std::string to_text(const Counters& c);

}  // namespace buddy::kv::serving
