// Configuration of a buddy::msg::comm: a plain struct, filled from the environment by default.
//   BUDDY_ROUTING=none|nr|nlnr   how messages travel between nodes (see routing.hpp)
//   BUDDY_BUFFER_KB=N            send buffer budget per rank, in KiB, shared by all next hops
//   BUDDY_RANKS_PER_NODE=K       treat each K consecutive ranks as one node (testing node-aware
//                                routing on one machine); unset or 0: the real node
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace buddy::msg {

enum class routing : unsigned char { none, nr, nlnr };

// "none", "nr", "nlnr" (case-sensitive); nullopt for anything else.
std::optional<routing> parse_routing(std::string_view s);
const char* to_string(routing r);

struct options {
  routing route = routing::none;
  std::size_t buffer_kb = 256;  // send buffer budget in KiB (1 .. 1048576)
  int ranks_per_node = 0;       // 0: nodes from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)

  // `base` with every BUDDY_* variable that is set applied on top. Throws buddy::msg::error
  // with a one-line reason on a bad value.
  static options from_env(options base);
  static options from_env();  // from_env(options{})
  // Throws buddy::msg::error if a field is out of range.
  void validate() const;
};

}  // namespace buddy::msg
