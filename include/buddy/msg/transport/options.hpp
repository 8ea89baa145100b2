// Configuration of a buddy::msg::comm: a plain struct, filled from the environment by default.
//   BUDDY_ROUTING=none|nr|nlnr   how messages travel between nodes (see routing.hpp)
//   BUDDY_BUFFER_KB=N            send buffer budget per rank, in KiB, shared by all next hops
//   BUDDY_RANKS_PER_NODE=K       treat each K consecutive ranks as one node (testing node-aware
//                                routing on one machine); unset or 0: the real node
//   BUDDY_MODE=inline|offload    inline: this rank buffers, routes and calls MPI; offload:
//                                records go through shared-memory rings to a buddy-engine
//   BUDDY_RING_KB=N              offload: bytes of each ring (outbound, inbound), KiB, a power
//                                of two; a record may use at most half a ring
//   BUDDY_ENGINES_PER_NODE=E     offload: engines serving each node (with BUDDY_RANKS_PER_NODE)
//   BUDDY_ENGINE_TIMEOUT_MS=T    offload: a rank gives up on an engine silent for this long
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace buddy::msg {

enum class routing : unsigned char { none, nr, nlnr };
enum class run_mode : unsigned char { inline_mode, offload };

// "none", "nr", "nlnr" (case-sensitive); nullopt for anything else.
std::optional<routing> parse_routing(std::string_view s);
const char* to_string(routing r);
// "inline", "offload"; nullopt for anything else.
std::optional<run_mode> parse_mode(std::string_view s);
const char* to_string(run_mode m);

struct options {
  routing route = routing::none;
  std::size_t buffer_kb = 256;  // send buffer budget in KiB (1 .. 1048576)
  int ranks_per_node = 0;       // 0: nodes from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)
  run_mode mode = run_mode::inline_mode;
  std::size_t ring_kb = 1024;     // offload: each ring's bytes in KiB (power of two, 16..1048576)
  int engines_per_node = 1;       // offload: engines per node (1..64)
  int engine_timeout_ms = 10000;  // offload: heartbeat age after which the engine is dead

  // `base` with every BUDDY_* variable that is set applied on top. Throws buddy::msg::error
  // with a one-line reason on a bad value.
  static options from_env(options base);
  static options from_env();  // from_env(options{})
  // Throws buddy::msg::error if a field is out of range.
  void validate() const;
};

}  // namespace buddy::msg
