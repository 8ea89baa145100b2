// Counters of one rank's messaging (or their sum over all ranks), printable at the end.
#pragma once

#include <cstdint>
#include <string>

#include "buddy/base/fields.hpp"

namespace buddy::msg {

struct stats {
  std::uint64_t msgs_sent = 0;       // records created by async() here (bcast: one per rank)
  std::uint64_t bytes_sent = 0;      // their bytes, headers included
  std::uint64_t msgs_executed = 0;   // handlers run here
  std::uint64_t bytes_executed = 0;  // their record bytes, headers included
  std::uint64_t msgs_relayed = 0;    // records copied on towards another rank (nr, nlnr)
  std::uint64_t bytes_relayed = 0;
  std::uint64_t buffers_flushed = 0;  // MPI sends of aggregated buffers
  std::uint64_t bytes_flushed = 0;
  std::uint64_t buffers_local = 0;       // buffers addressed to this rank itself (no MPI)
  std::uint64_t buffers_received = 0;    // MPI receives
  std::uint64_t large_sends = 0;         // records larger than a buffer, sent on their own
  std::uint64_t backpressure_waits = 0;  // times a send waited for in-flight buffers
  std::uint64_t barriers = 0;
  std::uint64_t termination_rounds = 0;
  double handler_s = 0;  // processing received buffers (handlers, relaying): wall - comm, <= CPU
  double comm_s = 0;     // time in MPI calls and in waits (flush, poll, barrier, backpressure)

  // The field table (base/fields.hpp): summing, reducing over ranks.
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("msgs_sent", s.msgs_sent...);
    f("bytes_sent", s.bytes_sent...);
    f("msgs_executed", s.msgs_executed...);
    f("bytes_executed", s.bytes_executed...);
    f("msgs_relayed", s.msgs_relayed...);
    f("bytes_relayed", s.bytes_relayed...);
    f("buffers_flushed", s.buffers_flushed...);
    f("bytes_flushed", s.bytes_flushed...);
    f("buffers_local", s.buffers_local...);
    f("buffers_received", s.buffers_received...);
    f("large_sends", s.large_sends...);
    f("backpressure_waits", s.backpressure_waits...);
    f("barriers", s.barriers...);
    f("termination_rounds", s.termination_rounds...);
    f("handler_s", s.handler_s...);
    f("comm_s", s.comm_s...);
  }
  stats& operator+=(const stats& o);
  // Multi-line human-readable report (label e.g. "rank 3" or "all 4 ranks").
  std::string format(const std::string& label) const;
};

static_assert(base::field_words<stats>() * 8 == sizeof(stats), "every stats field is in its table");

}  // namespace buddy::msg
