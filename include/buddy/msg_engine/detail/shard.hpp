// The part of an engine one thread runs (buddy-engine --threads N). An engine's lanes — one per
// (served app rank, channel): that channel's outbound ring and the delivery into its inbound
// ring — are split between N shards, one per thread, so every SPSC ring has exactly one
// engine-side thread. A shard drains its lanes' outbound rings and routes each record
// (accept()): into its own lane's inbound ring, to the shard owning the destination lane
// (a handoff queue), or off-node through the remote sink. Shard 0 runs on the MPI thread: its
// remote sink is the router, and the other shards' remote sink is the handoff to shard 0, so
// only that one thread ever calls MPI. Nothing here calls MPI; nothing ever waits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/msg_engine/detail/delivery.hpp"
#include "buddy/msg_engine/detail/handoff.hpp"
#include "buddy/qp/record_ring.hpp"

namespace buddy::msg_engine::detail {

// Who owns what, by destination id (channel x app ranks + rank); read-only once threads run.
struct lane_map {
  std::uint32_t app_count = 0;
  std::vector<int> owner;          // destination id -> shard serving that lane, -1: not here
  std::vector<delivery*> inbound;  // destination id -> its delivery (touched by the owner only)
};

struct shard_stats {
  std::uint64_t records_in = 0;  // taken from this shard's outbound rings
  std::uint64_t bytes_in = 0;
  std::uint64_t records_local = 0;      // of those, for a lane of this engine
  std::uint64_t records_remote = 0;     // of those, for another engine
  std::uint64_t records_delivered = 0;  // handed to an inbound ring of this shard
  std::uint64_t records_handed = 0;     // passed to another shard of this engine
  std::uint64_t max_waiting_batches = 0;
  double cpu_s = 0;  // this thread's CPU while serving
};

class shard {
 public:
  // Called with records for another engine (shard 0: the router).
  using remote_sink = void (*)(void* ctx, std::uint32_t dest, std::uint32_t length,
                               const std::byte* payload);

  shard(int index, const lane_map& map) : index_(index), map_(map) {}

  void add_lane(int rank, std::uint32_t channel, qp::RecordConsumer* out);
  // to[u]: this shard's queue to shard u, from[u]: u's queue to this shard (nullptr for itself).
  void connect(std::vector<handoff*> to, std::vector<handoff*> from);
  void set_remote(remote_sink sink, void* ctx) {
    remote_ = sink;
    remote_ctx_ = ctx;
  }

  int index() const { return index_; }
  std::size_t lanes() const { return lanes_.size(); }

  // Routes one record by destination id. Never waits.
  void accept(std::uint32_t dest, std::uint32_t length, const std::byte* payload);
  // Drains the outbound rings (256 ring records per lane per pass); true if it took any.
  // Throws buddy::msg::error naming the app rank on a corrupt record.
  bool drain_rings();
  // Routes the batches other shards handed over; true if there were any.
  bool take_handoffs();
  // Moves held-back records into inbound rings and publishes them; true if any moved.
  bool retry_deliveries();
  // Hands this shard's batches to the other shards; true if it handed over any.
  bool flush_handoffs();

  shard_stats& counters() { return stats_; }
  const shard_stats& counters() const { return stats_; }

 private:
  struct lane {
    int rank;
    std::uint32_t channel;
    qp::RecordConsumer* out;
    delivery* in;
  };

  int index_;
  const lane_map& map_;
  std::vector<lane> lanes_;
  std::vector<handoff*> to_;
  std::vector<handoff*> from_;
  remote_sink remote_ = nullptr;
  void* remote_ctx_ = nullptr;
  shard_stats stats_;
};

}  // namespace buddy::msg_engine::detail
