// What buddykv-bench drives: one Target per bench thread, asynchronous (submit many, poll for
// answers), so the same YCSB loop, verification and latency accounting run against buddykv
// (UDP, batched datagrams) and against a stock memcached (TCP, pipelined), side by side.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "buddy/base/fields.hpp"

namespace buddy::bench {

enum class OpKind : std::uint8_t { get, set };

enum class Outcome : std::uint8_t {
  ok,         // GET found the key (value set) or SET stored it
  not_found,  // GET missed
  error,      // any other answer (detail says which)
  timeout,    // no answer after the target's retries
};

struct Done {
  std::uint64_t tag = 0;
  OpKind op = OpKind::get;
  Outcome outcome = Outcome::ok;
  bool retried = false;          // sent more than once (UDP retransmission)
  std::uint64_t latency_ns = 0;  // from submit (or the echoed timestamp) to the answer
  std::string_view value;        // GET ok: valid until the next poll()
  std::string_view detail;       // error: a short reason, e.g. "out_of_memory"
  std::uint32_t server = 0;      // many servers: 1 + the id of the one that answered; else 0
};

struct TargetCounters {
  std::uint64_t retries = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t stale = 0;     // duplicate or late answers ignored
  std::uint64_t spurious = 0;  // retries the answer to an earlier copy showed were not needed
  std::uint64_t pings = 0;     // buddykv: pings to a silent port instead of a retransmission

  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("retries", s.retries...);
    f("timeouts", s.timeouts...);
    f("stale", s.stale...);
    f("spurious", s.spurious...);
    f("pings", s.pings...);
  }
};

class Target {
 public:
  virtual ~Target() = default;
  // Queues one request; false (nothing queued) when the window is full: poll() first.
  virtual bool submit(OpKind op, std::string_view key, std::string_view value,
                      std::uint64_t tag) = 0;
  // Sends what is queued, returns finished requests, waiting up to `wait` for the first.
  virtual std::size_t poll(std::span<Done> out, std::chrono::microseconds wait) = 0;
  virtual std::size_t outstanding() const = 0;
  virtual TargetCounters counters() const = 0;
};

}  // namespace buddy::bench
