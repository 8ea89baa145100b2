#include "buddy/msg/transport/routing.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "buddy/msg/transport/error.hpp"

namespace buddy::msg {

layout::layout(int rank, const std::vector<int>& node_of) : rank_(rank) {
  if (node_of.empty() || rank < 0 || rank >= static_cast<int>(node_of.size())) {
    throw error("buddy::msg layout: rank " + std::to_string(rank) + " outside a world of " +
                std::to_string(node_of.size()));
  }
  std::unordered_map<int, int> dense;
  node_of_.resize(node_of.size());
  local_index_.resize(node_of.size());
  for (std::size_t r = 0; r < node_of.size(); ++r) {
    auto [it, fresh] = dense.try_emplace(node_of[r], static_cast<int>(node_ranks_.size()));
    if (fresh) node_ranks_.emplace_back();
    node_of_[r] = it->second;
    local_index_[r] = static_cast<int>(node_ranks_[it->second].size());
    node_ranks_[it->second].push_back(static_cast<int>(r));
  }
}

layout layout::consecutive(int rank, int size, int ranks_per_node) {
  if (size < 1 || ranks_per_node < 1) {
    throw error("buddy::msg layout: need size >= 1 and ranks_per_node >= 1");
  }
  std::vector<int> node_of(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) node_of[static_cast<std::size_t>(r)] = r / ranks_per_node;
  return layout(rank, node_of);
}

int layout::next_hop(routing route, int dest) const {
  if (route == routing::none || is_local(dest)) return dest;
  const int my = my_node();
  const int dn = node(dest);
  const auto& mine = node_ranks_[static_cast<std::size_t>(my)];
  const auto& theirs = node_ranks_[static_cast<std::size_t>(dn)];
  const int my_size = static_cast<int>(mine.size());
  const int their_size = static_cast<int>(theirs.size());
  if (route == routing::nr) {
    // Remote hop to the rank of the destination node with my local index.
    return theirs[static_cast<std::size_t>(local_index(rank_) % their_size)];
  }
  // nlnr: the channel for the (my node, their node) pair has local index c on both nodes.
  const int c = (my + dn) % std::min(my_size, their_size);
  const int channel = mine[static_cast<std::size_t>(c)];
  return channel == rank_ ? theirs[static_cast<std::size_t>(c)] : channel;
}

std::vector<int> layout::route_table(routing route) const {
  std::vector<int> t(static_cast<std::size_t>(size()));
  for (int d = 0; d < size(); ++d) t[static_cast<std::size_t>(d)] = next_hop(route, d);
  return t;
}

std::vector<int> layout::next_hops(routing route) const {
  std::vector<int> hops = route_table(route);
  std::sort(hops.begin(), hops.end());
  hops.erase(std::unique(hops.begin(), hops.end()), hops.end());
  return hops;
}

}  // namespace buddy::msg
