// The route from a key hash to a server id (route.hpp): jump consistent hashing as published,
// balance, and stability when servers join and leave.
#include "buddy/kv/client/route.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "buddy/kv/client/cluster_client.hpp"
#include "buddy/kv/wire/format.hpp"

namespace buddy::kv {
namespace {

constexpr int kKeys = 100000;

std::vector<std::uint64_t> hashes() {
  std::vector<std::uint64_t> h;
  for (int i = 0; i < kKeys; ++i) h.push_back(wire::key_hash("user" + std::to_string(i)));
  return h;
}

std::vector<std::uint32_t> owners(const ServerSet& s, const std::vector<std::uint64_t>& h) {
  std::vector<std::uint32_t> o;
  for (std::uint64_t x : h) o.push_back(s.owner(x));
  return o;
}

// The reference implementation of Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash
// Algorithm" (2014), figure 1, written out independently of route.cpp.
std::int32_t reference_jump(std::uint64_t key, std::int32_t num_buckets) {
  std::int64_t b = -1, j = 0;
  while (j < num_buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(
        (b + 1) * (static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::int32_t>(b);
}

TEST(Route, DenseIdsAreJumpHash) {
  const auto h = hashes();
  for (std::uint32_t n : {1u, 2u, 3u, 7u, 64u}) {
    std::vector<std::uint32_t> ids;
    for (std::uint32_t i = 0; i < n; ++i) ids.push_back(i);
    const ServerSet s(ids);
    for (int i = 0; i < 2000; ++i) {
      const std::uint64_t k = route_key(h[i]);
      ASSERT_EQ(jump_hash(k, n), static_cast<std::uint32_t>(reference_jump(k, n)));
      ASSERT_EQ(s.owner(h[i]), jump_hash(k, n)) << "n " << n << " key " << i;
    }
  }
}

TEST(Route, Balanced) {
  const auto h = hashes();
  const ServerSet s({0, 1, 2, 3});
  std::map<std::uint32_t, int> count;
  for (std::uint32_t o : owners(s, h)) ++count[o];
  ASSERT_EQ(count.size(), 4u);
  for (auto [id, c] : count) EXPECT_NEAR(c, kKeys / 4, kKeys / 40) << "server " << id;
}

TEST(Route, IgnoresThePartitionBits) {
  // Bits 48..63 pick the partition inside a server: the server must not depend on them.
  const ServerSet s({0, 1, 2, 3, 4});
  for (std::uint64_t x : hashes()) {
    ASSERT_EQ(s.owner(x), s.owner(x ^ 0xffff000000000000ull));
  }
  // And each server's keys still spread over all the partitions of 16 (no correlation).
  std::map<std::uint32_t, std::map<std::uint32_t, int>> parts;
  for (std::uint64_t x : hashes()) ++parts[s.owner(x)][static_cast<std::uint32_t>(x >> 60)];
  for (auto& [id, p] : parts) {
    ASSERT_EQ(p.size(), 16u) << "server " << id;
    for (auto [part, c] : p) EXPECT_GT(c, kKeys / 5 / 16 / 2) << id << " " << part;
  }
}

TEST(Route, JoinMovesAboutOneNthOnlyToTheNewServer) {
  const auto h = hashes();
  for (std::uint32_t n : {1u, 2u, 3u, 5u}) {
    std::vector<std::uint32_t> ids;
    for (std::uint32_t i = 0; i < n; ++i) ids.push_back(i);
    const auto before = owners(ServerSet(ids), h);
    ids.push_back(n);
    const auto after = owners(ServerSet(ids), h);
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
      if (before[i] == after[i]) continue;
      ASSERT_EQ(after[i], n) << "a key moved between old servers";
      ++moved;
    }
    EXPECT_NEAR(moved, kKeys / (n + 1), kKeys / (n + 1) / 10) << "joining server " << n;
  }
}

TEST(Route, AnyLeaveMovesOnlyThatServersKeys) {
  const auto h = hashes();
  const std::vector<std::uint32_t> all{0, 1, 2, 3, 4};
  const auto before = owners(ServerSet(all), h);
  for (std::uint32_t gone : all) {
    std::vector<std::uint32_t> ids;
    for (std::uint32_t i : all) {
      if (i != gone) ids.push_back(i);
    }
    const auto after = owners(ServerSet(ids), h);
    for (int i = 0; i < kKeys; ++i) {
      if (before[i] != gone) {
        ASSERT_EQ(after[i], before[i]) << "server " << gone << " left, key " << i << " moved";
      } else {
        ASSERT_NE(after[i], gone);
      }
    }
  }
}

TEST(Route, FillingAHoleTakesKeysOnlyForItself) {
  const auto h = hashes();
  const auto before = owners(ServerSet({0, 2, 3}), h);
  const auto after = owners(ServerSet({0, 1, 2, 3}), h);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] != after[i]) {
      ASSERT_EQ(after[i], 1u);
      ++moved;
    }
  }
  EXPECT_NEAR(moved, kKeys / 4, kKeys / 40);
}

TEST(Route, WithoutIdZeroEveryKeyStillHasALiveOwner) {
  const ServerSet s({5, 9});
  std::map<std::uint32_t, int> count;
  for (std::uint64_t x : hashes()) ++count[s.owner(x)];
  ASSERT_EQ(count.size(), 2u);
  EXPECT_GT(count[5], kKeys / 10);
  EXPECT_GT(count[9], kKeys / 10);
}

TEST(Route, RejectsBadIds) {
  EXPECT_THROW(ServerSet({kServerIdSpace}), std::invalid_argument);
  EXPECT_THROW(ServerSet({1, 1}), std::invalid_argument);
}

TEST(Route, ServerList) {
  const auto l = parse_server_list("127.0.0.1:7000,127.0.0.1:7100");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0], (ServerAddress{0, "127.0.0.1:7000"}));
  EXPECT_EQ(l[1], (ServerAddress{1, "127.0.0.1:7100"}));
  EXPECT_THROW(parse_server_list("127.0.0.1:7000,nohost"), std::runtime_error);
  EXPECT_THROW(parse_server_list("127.0.0.1:7000,"), std::runtime_error);
  EXPECT_TRUE(parse_server_list("").empty());
}

}  // namespace
}  // namespace buddy::kv
