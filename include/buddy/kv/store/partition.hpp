// One partition of the store: an index of tagged buckets over item storage (slabs in store mode,
// a circular log in cache mode), owned by exactly one thread (EREW). Nothing here locks; only
// stats() may be called from other threads.
//
// Values returned by get() and passed to execute()'s callback point into the partition: they
// stay valid until the next SET or DELETE on this partition (in execute(): until the callback
// returns). Copy them before mutating.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "buddy/kv/store/detail/bucket.hpp"
#include "buddy/kv/store/detail/item.hpp"
#include "buddy/kv/store/detail/log.hpp"
#include "buddy/kv/store/detail/prefetch.hpp"
#include "buddy/kv/store/detail/region.hpp"
#include "buddy/kv/store/detail/slab.hpp"
#include "buddy/kv/store/hash.hpp"
#include "buddy/kv/store/stats.hpp"
#include "buddy/kv/store/status.hpp"

namespace buddy::kv {

struct PartitionConfig {
  Mode mode = Mode::store;
  std::size_t memory_bytes = 64u << 20;  // index + item storage of this partition
  std::size_t expected_items = 0;        // sizes the index; 0: derived from memory_bytes
  std::size_t expected_kv_bytes = 32;    // average key + value bytes, used when expected_items=0
  bool huge_pages = true;
  bool prefault = false;   // fault all memory in at construction (no page faults when serving)
  bool grow_index = true;  // store mode: grow the index with the items (false: chains only)
};

// The memory of a partition in a named store (store_segment.hpp): its arena, one page word per
// arena page, and the word that names its index (index run << 32 | buckets). attach: rebuild
// the partition from what is there (throws kv::Error, one line, if it is not consistent) instead
// of starting empty. Store mode only.
struct PartitionMemory {
  std::byte* arena = nullptr;
  std::size_t arena_bytes = 0;
  std::uint32_t* page_words = nullptr;
  std::atomic<std::uint64_t>* index_word = nullptr;
  bool attach = false;
};

// One request of a batch. `hash` is key_hash(key), computed by the client.
struct Request {
  Op op = Op::get;
  std::uint64_t hash = 0;
  std::string_view key;
  std::string_view value;  // SET only
  // Exactly-once tag of a sequenced write (wire::sequenced_client), carried to the processing
  // engine's window; 0, 0 for everything else. The store itself ignores both.
  std::uint32_t client = 0;
  std::uint64_t seq = 0;
};

struct GetResult {
  Status status = Status::not_found;
  std::string_view value;  // valid until the next mutation of the partition
};

class alignas(64) Partition {
 public:
  static constexpr std::size_t kBucketAhead = 32;  // pipeline depths of execute()
  static constexpr std::size_t kItemAhead = 16;
  static constexpr std::size_t kMinMemory = 256u << 10;
  static constexpr std::size_t kMaxMemory = std::size_t{16} << 30;
  static constexpr double kItemsPerBucket = 8.0;  // index sizing: 80% of the 10 slots
  // Store mode: the index lives in the arena and grows by kGrowth when the items pass kGrowAt
  // per bucket (90% of the slots: an index sized for expected_items has 12% to spare, for the
  // partitions' uneven shares of the keys). Growth is incremental: each insert moves the slots
  // of kMovePerInsert old buckets into the new index (partition_grow.cpp), so no request waits
  // for a whole rehash; the move ends long before the new index is full.
  static constexpr double kGrowth = 1.5;
  static constexpr double kGrowAt = 9.0;
  static constexpr std::uint32_t kMovePerInsert = 2;

  explicit Partition(const PartitionConfig& cfg);  // throws kv::Error on a bad config
  Partition(const PartitionConfig& cfg, const PartitionMemory& mem);  // a named store's
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  Mode mode() const noexcept { return mode_; }
  std::uint32_t buckets() const noexcept { return nbuckets_; }
  // The index's bytes: while it grows, the old index's too.
  std::size_t index_bytes() const noexcept {
    return (std::size_t{nbuckets_} + old_buckets_) * sizeof(detail::Bucket);
  }
  // Store mode: true while the index grows (slots still move from the old index to the new).
  bool growing() const noexcept { return old_ != nullptr; }

  GetResult get(std::uint64_t hash, std::string_view key) {
    GetResult r = get_impl(hash, key);
    publish();
    return r;
  }
  Status set(std::uint64_t hash, std::string_view key, std::string_view value) {
    const Status s = set_impl(hash, key, value);
    publish();
    return s;
  }
  Status del(std::uint64_t hash, std::string_view key) {
    const Status s = del_impl(hash, key);
    publish();
    return s;
  }

  // Runs the requests in order, prefetching the buckets and then the candidate items (first tag
  // match) of the requests ahead, so the cache misses of a batch overlap (MICA's batching).
  // Answers are identical to calling get/set/del one by one. on_result(i, status, value) is
  // called for request i before request i + 1 runs; value is the GET result (empty otherwise).
  template <class OnResult>
  void execute(std::span<const Request> reqs, OnResult&& on_result) {
    const Request* r = reqs.data();
    const std::size_t n = reqs.size();
    // A rolling pipeline: request i runs while the bucket of i + kBucketAhead and the item of
    // i + kItemAhead are on their way, so computation overlaps the cache misses.
    for (std::size_t i = 0; i < std::min(n, kBucketAhead); ++i)
      detail::prefetch(bucket_of(r[i].hash));
    for (std::size_t i = 0; i < std::min(n, kItemAhead); ++i) prefetch_item(r[i]);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kBucketAhead < n) detail::prefetch(bucket_of(r[i + kBucketAhead].hash));
      if (i + kItemAhead < n) prefetch_item(r[i + kItemAhead]);
      const Request& q = r[i];
      switch (q.op) {
        case Op::get: {
          const GetResult g = get_impl(q.hash, q.key);
          on_result(i, g.status, g.value);
          break;
        }
        case Op::set:
          on_result(i, set_impl(q.hash, q.key, q.value), std::string_view{});
          break;
        case Op::del:
          on_result(i, del_impl(q.hash, q.key), std::string_view{});
          break;
      }
    }
    publish();
  }

  // Prefetches the buckets of requests that the next execute() will run (the caller's next
  // batch), to be called before running the current one: the next batch then starts with its
  // buckets on their way instead of waiting for them first, so the pipeline spans batches. A
  // hint: it changes nothing (owner thread only, as it reads the index).
  void prefetch(std::span<const Request> next) const noexcept {
    for (const Request& q : next) detail::prefetch(bucket_of(q.hash));
  }

  // Any thread.
  StatsSnapshot stats() const noexcept { return shared_.read(); }

  // Owner thread: bytes of memory in use right now (index + storage + allocator metadata).
  std::size_t memory_used() const noexcept;
  // Owner thread: bytes of item storage in use (slab and large-item pages; log bytes written).
  std::size_t storage_bytes() const noexcept;

 private:
  struct Lookup {
    detail::Bucket* bucket = nullptr;  // where the key is (slot >= 0)
    int slot = -1;
    detail::Bucket* prev = nullptr;    // bucket before `bucket` in its overflow chain
    detail::Bucket* free_b = nullptr;  // first empty slot met on the way (writes only)
    int free_slot = -1;
    detail::Bucket* last = nullptr;  // last bucket of the chain (writes only)
    std::uint16_t tag = 0;
  };

  static bool valid_key(std::string_view key) noexcept {
    return !key.empty() && key.size() <= kMaxKeyBytes;
  }

  // While the index grows, a key whose old bucket has not moved yet is still in the old index.
  detail::Bucket* bucket_of(std::uint64_t hash) const noexcept {
    if (old_ != nullptr) [[unlikely]] {
      const std::uint32_t ob = hashbits::bucket(hash, old_buckets_);
      if (ob >= moved_) return old_ + ob;
    }
    return buckets_ + hashbits::bucket(hash, nbuckets_);
  }
  detail::Bucket* overflow_at(std::uint32_t next) const noexcept {
    return reinterpret_cast<detail::Bucket*>(slab_.at(next - 1));
  }
  bool slot_valid(std::uint32_t off) const noexcept {
    return mode_ == Mode::store || log_.valid(off);
  }
  std::byte* item_at(std::uint32_t off) const noexcept {
    return mode_ == Mode::store ? slab_.at(off) : log_.at(off);
  }

  void prefetch_item(const Request& q) const noexcept {
    const detail::Bucket* b = bucket_of(q.hash);
    const std::uint32_t m = b->match(hashbits::tag(q.hash));
    if (m != 0) {
      const std::uint32_t off = b->off[detail::Bucket::first_slot(m)];
      if (!slot_valid(off)) return;
      const std::byte* p = item_at(off);
      detail::prefetch(p);
      detail::prefetch(p + detail::item::kHeaderBytes + q.key.size() + 7);
    } else if (b->next != 0) {
      detail::prefetch(overflow_at(b->next));
    }
  }

  // Finds the key; with kWrite also the first empty slot and the chain's last bucket. In cache
  // mode a slot whose item was overwritten by the log is cleared when met.
  template <bool kWrite>
  Lookup find(std::uint64_t hash, std::string_view key) noexcept {
    const std::uint16_t t = hashbits::tag(hash);
    Lookup r;
    r.tag = t;
    detail::Bucket* b = bucket_of(hash);
    detail::Bucket* prev = nullptr;
    for (;;) {
      for (std::uint32_t m = b->match(t); m != 0; m = detail::Bucket::drop_slot(m)) {
        const int s = detail::Bucket::first_slot(m);
        const std::uint32_t off = b->off[s];
        if (!slot_valid(off)) {
          b->tag[s] = 0;
          continue;
        }
        if (detail::item::key_equals(item_at(off), key)) {
          r.bucket = b;
          r.slot = s;
          r.prev = prev;
          return r;
        }
      }
      if constexpr (kWrite) {
        if (r.free_slot < 0) {
          if (const std::uint32_t e = b->match(0); e != 0) {
            r.free_b = b;
            r.free_slot = detail::Bucket::first_slot(e);
          }
        }
        r.last = b;
      }
      if (b->next == 0) return r;
      prev = b;
      b = overflow_at(b->next);
    }
  }

  GetResult get_impl(std::uint64_t hash, std::string_view key) noexcept {
    if (!valid_key(key)) return {Status::bad_key, {}};
    const Lookup r = find<false>(hash, key);
    if (r.slot < 0) {
      ++c_.misses;
      return {Status::not_found, {}};
    }
    ++c_.hits;
    return {Status::ok, detail::item::value(item_at(r.bucket->off[r.slot]))};
  }

  Status set_impl(std::uint64_t hash, std::string_view key, std::string_view value) {
    if (!valid_key(key)) return Status::bad_key;
    if (value.size() > kMaxValueBytes) return Status::value_too_large;
    const std::uint32_t units = detail::item::units(key.size(), value.size());
    const Lookup r = find<true>(hash, key);
    if (r.slot >= 0) {  // replace: in place when the footprint is unchanged (the hot case)
      std::byte* p = item_at(r.bucket->off[r.slot]);
      const std::uint32_t h = detail::item::header(p);
      const std::uint32_t old_units = detail::item::units(key.size(), detail::item::value_len(h));
      if (mode_ == Mode::store ? !durable() && slab_.footprint(old_units) == slab_.footprint(units)
                               : old_units == units) {
        detail::item::rewrite_value(p, h, value);
        c_.bytes = c_.bytes - detail::item::value_len(h) + value.size();
        ++c_.sets;
        return Status::ok;
      }
    }
    return set_slow(r, key, value, units);
  }

  Status del_impl(std::uint64_t hash, std::string_view key);
  Status set_slow(const Lookup& r, std::string_view key, std::string_view value,
                  std::uint32_t units);
  Status store_insert(const Lookup& r, std::string_view key, std::string_view value,
                      std::uint32_t units);
  Status cache_insert(const Lookup& r, std::string_view key, std::string_view value,
                      std::uint32_t units);
  // Index growth (partition_grow.cpp).
  void grow_index();
  void move_buckets(std::uint32_t count);
  bool move_bucket(std::uint32_t ob);
  void zero_new_up_to(std::uint32_t ob);
  void end_growth();
  bool finish_growth();
  // A named store grows its index at once, switched to with one store (partition_grow_whole.cpp):
  // an incremental move's two live indexes are not kept consistent across a kill.
  void grow_index_whole();
  void attach_index(const PartitionMemory& mem);  // partition_attach.cpp
  bool durable() const noexcept { return index_word_ != nullptr; }
  void cache_sweep(std::uint32_t appended_units);
  std::uint32_t cache_evict_oldest(detail::Bucket* b);
  void publish() noexcept {
    if (memory_dirty_) {  // only inserts, resizes and deletes move memory
      memory_dirty_ = false;
      c_.memory = memory_used();
    }
    shared_.publish(c_);
  }

  // Hot, owner-only state.
  Mode mode_;
  std::uint32_t nbuckets_ = 0;
  detail::Bucket* buckets_ = nullptr;
  // Store mode, while the index grows: the old index, its size, how many of its buckets have
  // moved to the new one (buckets_), how many new buckets are zeroed (the moved keys and the
  // keys inserted since land only below that line), and the old index's page run.
  detail::Bucket* old_ = nullptr;
  std::uint32_t old_buckets_ = 0;
  std::uint32_t moved_ = 0;
  std::uint32_t zeroed_ = 0;
  std::uint32_t old_off_ = 0;
  std::uint64_t move_retry_at_ = 0;  // a move refused for want of memory: retry at this SET count
  detail::SlabAllocator slab_;       // store mode
  detail::CircularLog log_;          // cache mode
  std::uint64_t sweep_credit_ = 0;
  std::uint32_t sweep_next_ = 0;
  std::uint32_t index_off_ = 0;  // store mode: the index's page run in the arena (units)
  std::uint64_t grow_at_ = 0;    // store mode: items past which the index grows
  std::atomic<std::uint64_t>* index_word_ = nullptr;  // a named store's (else null)
  StatsSnapshot c_;
  bool memory_dirty_ = true;
  // Scratch of a bucket move (kept to reuse its memory): the slots of the old chain, and the
  // overflow buckets the move linked into the new index (undone if one cannot be had).
  struct MoveSlot {
    std::uint32_t off;
    std::uint16_t tag;
    detail::Bucket* to;    // the new bucket (head of its chain) the key hashes to
    detail::Bucket* into;  // where it was placed
    int slot;
  };
  bool place(MoveSlot& m);
  std::vector<MoveSlot> move_slots_;
  std::vector<std::pair<detail::Bucket*, std::uint32_t>> move_linked_;
  detail::Region region_;

  PartitionStats shared_;  // read by other threads; alignas(64) keeps it on lines of its own
};

}  // namespace buddy::kv
