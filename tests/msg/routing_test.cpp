// Routing tables for none / NR / NLNR over many layouts (even and uneven nodes): every route
// reaches its destination within the scheme's hop limit, off-node hops happen once, NLNR's
// remote pairs are a subset of NR's, and the next hops match hand-checked examples.
#include "buddy/msg/transport/routing.hpp"

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

namespace buddy::msg {
namespace {

std::vector<layout> world(int size, int rpn) {
  std::vector<layout> w;
  for (int r = 0; r < size; ++r) w.push_back(layout::consecutive(r, size, rpn));
  return w;
}

// Follows a message from src to dest; returns the path of ranks (src first).
std::vector<int> path(const std::vector<layout>& w, routing route, int src, int dest) {
  std::vector<int> p{src};
  int at = src;
  while (at != dest) {
    at = w[static_cast<std::size_t>(at)].next_hop(route, dest);
    p.push_back(at);
    if (p.size() > 10) break;
  }
  return p;
}

TEST(Routing, ParseAndPrint) {
  EXPECT_EQ(parse_routing("none"), routing::none);
  EXPECT_EQ(parse_routing("nr"), routing::nr);
  EXPECT_EQ(parse_routing("nlnr"), routing::nlnr);
  EXPECT_FALSE(parse_routing("NLNR"));
  EXPECT_FALSE(parse_routing(""));
  EXPECT_STREQ(to_string(routing::nlnr), "nlnr");
}

TEST(Routing, LayoutFromNodeIds) {
  const layout l(2, {7, 7, 3, 7, 3});
  EXPECT_EQ(l.node_count(), 2);
  EXPECT_EQ(l.node(0), 0);
  EXPECT_EQ(l.node(2), 1);
  EXPECT_EQ(l.local_index(3), 2);
  EXPECT_EQ(l.local_index(4), 1);
  EXPECT_EQ(l.node_ranks(1), (std::vector<int>{2, 4}));
  EXPECT_TRUE(l.is_local(4));
  EXPECT_FALSE(l.is_local(0));
}

TEST(Routing, HopLimitsAndDestinationsForManyLayouts) {
  for (int size = 1; size <= 17; ++size) {
    for (int rpn = 1; rpn <= size; ++rpn) {
      const auto w = world(size, rpn);
      std::set<std::pair<int, int>> nr_remote, nlnr_remote;
      for (routing route : {routing::none, routing::nr, routing::nlnr}) {
        const std::size_t limit = route == routing::none ? 1 : route == routing::nr ? 2 : 3;
        for (int s = 0; s < size; ++s) {
          for (int d = 0; d < size; ++d) {
            const auto p = path(w, route, s, d);
            ASSERT_EQ(p.back(), d) << "size " << size << " rpn " << rpn;
            ASSERT_LE(p.size() - 1, s == d ? 0u : limit)
                << to_string(route) << " size " << size << " rpn " << rpn << " " << s << "->" << d;
            int remote_hops = 0;
            for (std::size_t i = 1; i < p.size(); ++i) {
              const int from = p[i - 1], to = p[i];
              if (w[0].node(from) != w[0].node(to)) {
                ++remote_hops;
                if (route == routing::nr) nr_remote.insert({from, to});
                if (route == routing::nlnr) nlnr_remote.insert({from, to});
              }
            }
            EXPECT_LE(remote_hops, 1);
          }
        }
      }
      for (const auto& pr : nlnr_remote) {
        EXPECT_TRUE(nr_remote.count(pr))
            << "nlnr pair " << pr.first << "->" << pr.second << " not used by nr (size " << size
            << " rpn " << rpn << ")";
      }
    }
  }
}

TEST(Routing, HandCheckedExamples) {
  // 8 ranks, 4 per node: node 0 = {0,1,2,3}, node 1 = {4,5,6,7}.
  const auto w = world(8, 4);
  EXPECT_EQ(w[1].next_hop(routing::none, 6), 6);
  EXPECT_EQ(w[1].next_hop(routing::nr, 6), 5);  // my local index 1 on node 1
  EXPECT_EQ(w[1].next_hop(routing::nr, 2), 2);  // on-node: direct
  EXPECT_EQ(w[5].next_hop(routing::nr, 6), 6);
  // nlnr: channel index (0 + 1) % 4 = 1 between nodes 0 and 1.
  EXPECT_EQ(w[2].next_hop(routing::nlnr, 6), 1);
  EXPECT_EQ(w[1].next_hop(routing::nlnr, 6), 5);
  EXPECT_EQ(w[5].next_hop(routing::nlnr, 6), 6);
  EXPECT_EQ(w[1].next_hops(routing::nlnr), (std::vector<int>{0, 1, 2, 3, 5}));
  EXPECT_EQ(w[2].next_hops(routing::nlnr), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(w[2].next_hops(routing::none).size(), 8u);
}

TEST(Routing, UnevenLastNode) {
  // 5 ranks, 2 per node: {0,1} {2,3} {4}.
  const auto w = world(5, 2);
  EXPECT_EQ(w[1].next_hop(routing::nr, 4), 4);  // local index 1 % 1 = 0
  EXPECT_EQ(w[4].next_hop(routing::nr, 1), 0);  // local index 0 on node 0, then on-node
  EXPECT_EQ(w[0].next_hop(routing::nr, 1), 1);
}

}  // namespace
}  // namespace buddy::msg
