// Counters of one rank's messaging (or their sum over all ranks), printable at the end.
#pragma once

#include <cstdint>
#include <string>

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
  double handler_s = 0;  // time processing received buffers (running handlers, relaying)
  double comm_s = 0;     // time in MPI calls and in waits (flush, poll, barrier, backpressure)

  stats& operator+=(const stats& o);
  // Multi-line human-readable report (label e.g. "rank 3" or "all 4 ranks").
  std::string format(const std::string& label) const;
};

}  // namespace buddy::msg
