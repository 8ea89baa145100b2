// Store mode against a std::unordered_map model: millions of random GET/SET/DELETE with mixed key
// and value sizes, through both the single-request and the batched path; every answer and the
// final statistics must match the model, and deleting everything must give the memory back.
#include <gtest/gtest.h>

#include <vector>

#include "buddy/kv/store/store.hpp"
#include "kv_test_util.hpp"

namespace buddy::kv::testing {
namespace {

struct Op {
  kv::Op op;
  std::string key;
  std::string value;
};

Op random_op(std::mt19937_64& rng, std::uint64_t keyspace) {
  Op o;
  const std::uint64_t r = rng() % 100;
  o.op = r < 50 ? kv::Op::get : r < 85 ? kv::Op::set : kv::Op::del;
  o.key = make_key(rng() % keyspace);
  if (o.op == kv::Op::set) o.value = make_value(rng);
  return o;
}

// Applies one op to the model and returns the expected (status, value).
std::pair<Status, std::string> expect(Model& m, const Op& o) {
  switch (o.op) {
    case kv::Op::get: {
      auto it = m.find(o.key);
      if (it == m.end()) return {Status::not_found, {}};
      return {Status::ok, it->second};
    }
    case kv::Op::set:
      m[o.key] = o.value;
      return {Status::ok, {}};
    case kv::Op::del:
      return {m.erase(o.key) ? Status::ok : Status::not_found, {}};
  }
  return {Status::bad_key, {}};
}

void check_stats_match(const Store& store, const Model& model) {
  std::uint64_t bytes = 0;
  for (const auto& [k, v] : model) bytes += k.size() + v.size();
  const StatsSnapshot s = store.stats();
  EXPECT_EQ(s.items, model.size());
  EXPECT_EQ(s.bytes, bytes);
  EXPECT_EQ(s.oom, 0u);
  EXPECT_EQ(s.evictions, 0u);
}

// Random single and batched requests against the model, then read and delete everything.
void run_model(const StoreConfig& cfg, std::uint64_t ops, std::uint64_t keyspace,
               std::uint64_t seed) {
  Store store(cfg);
  Model model;
  std::mt19937_64 rng(seed);
  std::uint64_t checked = 0, hits = 0;
  std::vector<Request> batch;
  std::vector<Op> batch_ops;

  for (std::uint64_t done = 0; done < ops;) {
    const std::uint32_t p = static_cast<std::uint32_t>(rng() % store.partition_count());
    if (rng() % 2 == 0) {  // one request at a time
      Op o = random_op(rng, keyspace);
      const std::uint64_t h = key_hash(o.key);
      Partition& part = store.partition_for(h);
      auto [st, val] = expect(model, o);
      switch (o.op) {
        case kv::Op::get: {
          const GetResult g = part.get(h, o.key);
          ASSERT_EQ(g.status, st) << "op " << done;
          ASSERT_EQ(g.value, val) << "op " << done;
          hits += st == Status::ok;
          break;
        }
        case kv::Op::set:
          ASSERT_EQ(part.set(h, o.key, o.value), st) << "op " << done;
          break;
        case kv::Op::del:
          ASSERT_EQ(part.del(h, o.key), st) << "op " << done;
          break;
      }
      ++checked;
      ++done;
      continue;
    }
    // A batch of 1..64 mixed requests, all for partition p.
    const std::size_t n = 1 + rng() % 64;
    batch_ops.clear();
    batch.clear();
    while (batch_ops.size() < n) {
      Op o = random_op(rng, keyspace);
      if (store.partition_of(key_hash(o.key)) != p) continue;
      batch_ops.push_back(std::move(o));
    }
    for (const Op& o : batch_ops) batch.push_back({o.op, key_hash(o.key), o.key, o.value});
    std::size_t next = 0;
    bool ok = true;
    store.partition(p).execute(batch, [&](std::size_t i, Status s, std::string_view v) {
      auto [st, val] = expect(model, batch_ops[i]);
      if (i != next++ || s != st || v != val) ok = false;
      hits += batch_ops[i].op == kv::Op::get && st == Status::ok;
      ++checked;
    });
    ASSERT_TRUE(ok) << "batch answer differs from the model near op " << done;
    ASSERT_EQ(next, n);
    done += n;
  }
  EXPECT_GE(checked, ops);
  EXPECT_GT(hits, ops / 10);  // the key space is small enough that many GETs hit
  EXPECT_GT(model.size(), keyspace / 4);
  check_stats_match(store, model);

  // Every key still answers its value; then delete everything and get the item memory back.
  for (const auto& [k, v] : model) {
    const GetResult g = store.partition_for(key_hash(k)).get(key_hash(k), k);
    ASSERT_EQ(g.status, Status::ok);
    ASSERT_EQ(g.value, v);
  }
  for (const auto& [k, v] : model) {
    ASSERT_EQ(store.partition_for(key_hash(k)).del(key_hash(k), k), Status::ok);
  }
  model.clear();
  check_stats_match(store, model);
  for (std::uint32_t i = 0; i < store.partition_count(); ++i) {
    const Partition& part = store.partition(i);
    // Only the index and the allocator's page table (4 B per 4 KiB page of the budget) remain:
    // no slab, no overflow bucket.
    EXPECT_EQ(part.storage_bytes(), 0u);
    EXPECT_LT(part.memory_used(), part.index_bytes() + part.index_bytes() / 4 +
                                      cfg.memory_bytes / cfg.partitions / 1024 + (64u << 10));
  }
}

// expected_items = 0: each partition's index starts at one page and grows several times.
TEST(StoreModel, RandomOpsMatchUnorderedMap) {
  StoreConfig cfg;
  cfg.memory_bytes = 512u << 20;
  cfg.partitions = 4;
  run_model(cfg, buddy::testing::soak(1'500'000) / kScale, 60'000 / kScale, 42);
}

// An index far too small for the keys: every bucket grows a long chain of overflow buckets,
// which fill, empty and get unlinked as keys come and go.
TEST(StoreModel, LongOverflowChainsMatchUnorderedMap) {
  StoreConfig cfg;
  cfg.memory_bytes = 4 * (32u << 20);
  cfg.partitions = 4;
  cfg.expected_items = 4 * 400;  // 64 buckets (one page) per partition for ~2500 keys each
  cfg.grow_index = false;        // and it stays that small
  run_model(cfg, 600'000 / kScale, 10'000, 43);
}

// The same random stream through the single-request path of one store and the batched path of
// another gives identical answers and identical statistics.
TEST(StoreModel, BatchedAndSingleAnswerIdentically) {
  for (Mode mode : {Mode::store, Mode::cache}) {
    StoreConfig cfg;
    cfg.mode = mode;
    cfg.memory_bytes = mode == Mode::store ? 64u << 20 : 2u << 20;  // cache: evicts a lot
    Store single(cfg), batched(cfg);
    std::mt19937_64 rng(7);
    const std::uint64_t keyspace = 20'000 / kScale;
    std::uint64_t hits = 0;
    for (int round = 0; round < static_cast<int>(4000 / kScale); ++round) {
      std::vector<Op> ops;
      const std::size_t n = 1 + rng() % 100;
      for (std::size_t i = 0; i < n; ++i) ops.push_back(random_op(rng, keyspace));
      std::vector<std::pair<Status, std::string>> want;
      Partition& a = single.partition(0);
      for (const Op& o : ops) {
        const std::uint64_t h = key_hash(o.key);
        switch (o.op) {
          case kv::Op::get: {
            const GetResult g = a.get(h, o.key);
            want.emplace_back(g.status, std::string(g.value));
            hits += g.status == Status::ok;
            break;
          }
          case kv::Op::set:
            want.emplace_back(a.set(h, o.key, o.value), std::string());
            break;
          case kv::Op::del:
            want.emplace_back(a.del(h, o.key), std::string());
            break;
        }
      }
      std::vector<Request> reqs;
      for (const Op& o : ops) reqs.push_back({o.op, key_hash(o.key), o.key, o.value});
      std::vector<std::pair<Status, std::string>> got(n);
      batched.partition(0).execute(reqs, [&](std::size_t i, Status s, std::string_view v) {
        got[i] = {s, std::string(v)};
      });
      ASSERT_EQ(got, want) << to_string(mode) << " round " << round;
    }
    EXPECT_GT(hits, 1000u / kScale) << to_string(mode);
    const StatsSnapshot s1 = single.stats(), s2 = batched.stats();
    EXPECT_EQ(s1.items, s2.items);
    EXPECT_EQ(s1.bytes, s2.bytes);
    EXPECT_EQ(s1.memory, s2.memory);
    EXPECT_EQ(s1.hits, s2.hits);
    EXPECT_EQ(s1.misses, s2.misses);
    EXPECT_EQ(s1.evictions, s2.evictions);
    if (mode == Mode::cache) {
      EXPECT_GT(s1.evictions, 0u);
    }
  }
}

}  // namespace
}  // namespace buddy::kv::testing
