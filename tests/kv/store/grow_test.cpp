// Incremental index growth (store mode): while slots move from the old index to the new one,
// every GET, SET (insert, in-place and resizing replace) and DELETE, single and batched, answers
// exactly like a model map; the move ends, freeing the old index; a full arena in mid-move
// loses nothing.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "buddy/kv/store/partition.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

using Model = std::unordered_map<std::string, std::string>;

void expect_all(Partition& p, const Model& model) {
  for (const auto& [k, v] : model) {
    const GetResult g = p.get(key_hash(k), k);
    ASSERT_EQ(g.status, Status::ok) << "key of " << k.size() << " B";
    ASSERT_EQ(g.value, v);
  }
}

// The same checks through execute(), whose prefetches also go through the moving index, after
// prefetch() of the whole batch (a hint: it changes no answer and no count).
void expect_all_batched(Partition& p, const Model& model) {
  std::vector<Request> reqs;
  std::vector<const std::string*> want;
  for (const auto& [k, v] : model) {
    reqs.push_back({Op::get, key_hash(k), k, {}, 0, 0});
    want.push_back(&v);
  }
  const StatsSnapshot before = p.stats();
  p.prefetch(reqs);
  EXPECT_EQ(p.stats().hits, before.hits);
  EXPECT_EQ(p.stats().misses, before.misses);
  std::size_t bad = 0;
  p.execute(reqs, [&](std::size_t i, Status s, std::string_view value) {
    if (s != Status::ok || value != *want[i]) ++bad;
  });
  EXPECT_EQ(bad, 0u);
}

TEST(StoreGrow, EveryOpMatchesTheModelWhileTheIndexMoves) {
  PartitionConfig cfg;
  cfg.memory_bytes = 256u << 20;  // expected_items = 0: one page of index, grown many times
  Partition p(cfg);
  std::mt19937_64 rng(11);
  Model model;
  std::uint32_t growths = 0, checked_mid_move = 0;
  std::uint32_t last_buckets = p.buckets();
  const std::uint64_t keys = 200'000 / kScale;
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string key = make_key(k);
    const std::string value = make_value(rng);
    ASSERT_EQ(p.set(key_hash(key), key, value), Status::ok);
    model[key] = value;
    if (p.buckets() != last_buckets) {
      ASSERT_TRUE(p.growing());
      ++growths;
      last_buckets = p.buckets();
    }
    // Mixed traffic on keys already stored: resizing replaces, deletes, re-inserts.
    if (k % 7 == 0 && !model.empty()) {
      const std::string old_key = make_key(rng() % (k + 1));
      if (rng() % 2 == 0) {
        const std::string v = make_value(rng);
        ASSERT_EQ(p.set(key_hash(old_key), old_key, v), Status::ok);
        model[old_key] = v;
      } else {
        const Status s = p.del(key_hash(old_key), old_key);
        ASSERT_EQ(s, model.erase(old_key) == 1 ? Status::ok : Status::not_found);
      }
    }
    // Full checks in the middle of moves (only a few, the model is large).
    if (p.growing() && checked_mid_move < 6 && growths >= 4 + 2 * checked_mid_move) {
      ++checked_mid_move;
      expect_all(p, model);
      expect_all_batched(p, model);
      if (HasFatalFailure()) return;
    }
  }
  EXPECT_GE(growths, 8u);
  EXPECT_GE(checked_mid_move, 3u);
  expect_all(p, model);
  // Reads alone never finish a move; inserts do. Insert until the move is over.
  const std::string tail_value(8, 't');
  for (std::uint64_t k = keys; p.growing(); ++k) {
    const std::string key = make_key(k);
    ASSERT_EQ(p.set(key_hash(key), key, tail_value), Status::ok);
    model.insert_or_assign(key, tail_value);
  }
  EXPECT_EQ(p.index_bytes(), std::size_t{p.buckets()} * 64);  // the old index is freed
  expect_all(p, model);
  const StatsSnapshot s = p.stats();
  EXPECT_EQ(s.items, model.size());
}

// Small arenas fill up, some of them while the index grows: the SET that finds no room finishes
// the move (the old index's memory comes back) and tries again, or answers out_of_memory; every
// acknowledged item stays readable, and after deletes the same items fit again.
TEST(StoreGrow, FullArenaInMidMoveLosesNothing) {
  std::uint32_t full_in_mid_move = 0;
  // Large values: the moves of one growth take more memory than the new index reserves, so some
  // arenas fill up before the move ends.
  const std::string value(1000, 'v');
  for (std::size_t budget = 1u << 20; budget < (4u << 20); budget += 61u << 10) {
    PartitionConfig cfg;
    cfg.memory_bytes = budget;
    Partition p(cfg);
    Model model;
    std::uint64_t oom = 0, move_start = 0;
    std::uint32_t old_buckets = 0;
    for (std::uint64_t k = 0; oom < 20; ++k) {
      const std::string key(reinterpret_cast<const char*>(&k), 8);
      const bool was_growing = p.growing();
      const std::uint32_t buckets = p.buckets();
      const Status s = p.set(key_hash(key), key, value);
      if (s == Status::ok) {
        model.insert_or_assign(key, value);
      } else {
        ASSERT_EQ(s, Status::out_of_memory);
        ++oom;
      }
      if (!was_growing && p.growing()) {
        move_start = k;
        old_buckets = buckets;
      } else if (was_growing && !p.growing() &&
                 (k - move_start) * Partition::kMovePerInsert < old_buckets) {
        ++full_in_mid_move;  // the move ended early: a SET found no room and finished it
      }
    }
    expect_all(p, model);
    if (HasFatalFailure()) return;
    // Delete every other item, then store the same items again: the room they freed holds them.
    Model deleted;
    std::size_t n = 0;
    for (auto it = model.begin(); it != model.end();) {
      if (n++ % 2 == 0) {
        ASSERT_EQ(p.del(key_hash(it->first), it->first), Status::ok);
        deleted.insert(model.extract(it++));
      } else {
        ++it;
      }
    }
    expect_all(p, model);
    for (const auto& [k, v] : deleted) {
      ASSERT_EQ(p.set(key_hash(k), k, v), Status::ok) << budget << " B";
      model.insert_or_assign(k, v);
    }
    expect_all(p, model);
    EXPECT_EQ(p.stats().items, model.size());
  }
  EXPECT_GE(full_in_mid_move, 1u) << "no arena filled up while its index grew";
}

}  // namespace
}  // namespace buddy::kv::testing
