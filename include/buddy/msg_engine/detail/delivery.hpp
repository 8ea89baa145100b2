// One inbound ring of an app rank, as the engine fills it. A wire record (dest, length,
// payload) goes straight into the ring when nothing is held back and it fits (appended to an
// open ring record of up to offload::chunk_bytes, a qp::BatchWriter record, so one ring record
// carries many wire records, made visible by publish()); otherwise it is kept in the engine's own
// memory (the holdback, in arrival order) and moved into the ring by retry() as the rank
// consumes. The engine never waits for a rank, so it keeps draining rings
// and receiving from MPI whatever one slow rank does (no deadlock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/qp/batch_writer.hpp"
#include "buddy/qp/record_ring.hpp"

namespace buddy::msg_engine::detail {

struct delivery_stats {
  std::uint64_t records = 0;  // records handed to this ring (directly or later)
  std::uint64_t bytes = 0;
  std::uint64_t held = 0;  // records that had to wait in the holdback
  std::uint64_t max_held_bytes = 0;
};

class delivery {
 public:
  delivery() = default;
  explicit delivery(const qp::RecordProducer& ring) : ring_(ring, msg::offload::chunk_bytes) {}

  // Delivers one record; never blocks. Throws buddy::msg::error if it can never fit the ring.
  void deliver(std::uint32_t dest, std::uint32_t length, const std::byte* payload);
  // Moves held records into the ring while they fit; true if any moved.
  bool retry();
  // Makes what was written visible to the rank.
  void publish() { ring_.publish(); }

  std::size_t held_bytes() const { return held_.size() - held_head_; }
  bool holding() const { return held_head_ != held_.size(); }
  const delivery_stats& counters() const { return stats_; }

 private:
  bool write(std::uint32_t dest, std::uint32_t length, const std::byte* payload);

  qp::BatchWriter ring_;         // the rank's inbound ring, written in chunks
  std::vector<std::byte> held_;  // wire records, consumed from held_head_
  std::size_t held_head_ = 0;
  delivery_stats stats_;
};

}  // namespace buddy::msg_engine::detail
