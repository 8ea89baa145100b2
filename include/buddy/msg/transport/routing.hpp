// Where a message goes next on its way to its destination rank, as LLNL's YGM defines the
// schemes (pure functions of the layout; no MPI here, so they are unit-tested directly):
//   none  direct: the next hop is the destination.
//   nr    node-remote: off-node messages first go to the rank of the destination's node with my
//         local index, which delivers on-node. At most 2 hops: remote, then local.
//   nlnr  node-local node-remote: off-node messages first go on-node to a channel rank chosen
//         by the (source node, destination node) pair, which sends to its peer with the same
//         local index on the destination node, which delivers on-node. At most 3 hops: local,
//         remote, local; the remote pairs used are a subset of nr's, and each node pair is
//         served by one channel per node, so every rank talks to few remote peers.
// Nodes may hold different numbers of ranks (the last node of a ranks-per-node split, or a real
// uneven allocation): local indices are then taken modulo the smaller node.
#pragma once

#include <vector>

#include "buddy/msg/transport/options.hpp"

namespace buddy::msg {

class layout {
 public:
  // node_of[r] is any id of the node hosting rank r; ranks with equal ids share a node. Node
  // numbers are renumbered densely in order of first appearance.
  layout(int rank, const std::vector<int>& node_of);
  // Consecutive blocks of ranks_per_node ranks (the last may be smaller).
  static layout consecutive(int rank, int size, int ranks_per_node);

  int rank() const { return rank_; }
  int size() const { return static_cast<int>(node_of_.size()); }
  int node_count() const { return static_cast<int>(node_ranks_.size()); }
  int node(int r) const { return node_of_[r]; }
  int local_index(int r) const { return local_index_[r]; }
  int my_node() const { return node_of_[rank_]; }
  const std::vector<int>& node_ranks(int node) const { return node_ranks_[node]; }
  bool is_local(int r) const { return node_of_[r] == node_of_[rank_]; }

  // The next hop from this rank for a message whose final destination is dest.
  int next_hop(routing route, int dest) const;
  // next_hop(route, d) for every destination d.
  std::vector<int> route_table(routing route) const;
  // The distinct next hops this rank ever uses (including itself), ascending.
  std::vector<int> next_hops(routing route) const;

 private:
  int rank_;
  std::vector<int> node_of_;
  std::vector<int> local_index_;
  std::vector<std::vector<int>> node_ranks_;
};

}  // namespace buddy::msg
