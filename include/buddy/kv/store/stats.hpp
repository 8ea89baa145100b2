// Per-partition statistics. The owner thread counts in plain fields and publishes them with
// relaxed atomic stores to lines of their own; any thread may read a snapshot at any time. Each
// field is individually exact as of the owner's last publish (after every operation or batch);
// fields of one snapshot may come from two consecutive publishes.
#pragma once

#include <atomic>
#include <cstdint>

namespace buddy::kv {

struct StatsSnapshot {
  std::uint64_t items = 0;      // live items
  std::uint64_t bytes = 0;      // key + value bytes of live items
  std::uint64_t memory = 0;     // bytes in use: index + item storage pages + allocator metadata
  std::uint64_t hits = 0;       // GETs that found the key
  std::uint64_t misses = 0;     // GETs that did not
  std::uint64_t sets = 0;       // SETs answered ok
  std::uint64_t deletes = 0;    // DELETEs that removed an item
  std::uint64_t evictions = 0;  // live items dropped by the cache-mode log (0 in store mode)
  std::uint64_t oom = 0;        // SETs answered out_of_memory

  StatsSnapshot& operator+=(const StatsSnapshot& o) {
    items += o.items;
    bytes += o.bytes;
    memory += o.memory;
    hits += o.hits;
    misses += o.misses;
    sets += o.sets;
    deletes += o.deletes;
    evictions += o.evictions;
    oom += o.oom;
    return *this;
  }
};

class alignas(64) PartitionStats {
 public:
  // Owner thread only.
  void publish(const StatsSnapshot& s) noexcept {
    constexpr auto r = std::memory_order_relaxed;
    items_.store(s.items, r);
    bytes_.store(s.bytes, r);
    memory_.store(s.memory, r);
    hits_.store(s.hits, r);
    misses_.store(s.misses, r);
    sets_.store(s.sets, r);
    deletes_.store(s.deletes, r);
    evictions_.store(s.evictions, r);
    oom_.store(s.oom, r);
  }

  // Any thread.
  StatsSnapshot read() const noexcept {
    constexpr auto r = std::memory_order_relaxed;
    StatsSnapshot s;
    s.items = items_.load(r);
    s.bytes = bytes_.load(r);
    s.memory = memory_.load(r);
    s.hits = hits_.load(r);
    s.misses = misses_.load(r);
    s.sets = sets_.load(r);
    s.deletes = deletes_.load(r);
    s.evictions = evictions_.load(r);
    s.oom = oom_.load(r);
    return s;
  }

 private:
  std::atomic<std::uint64_t> items_{0}, bytes_{0}, memory_{0}, hits_{0}, misses_{0}, sets_{0},
      deletes_{0}, evictions_{0}, oom_{0};
};
static_assert(sizeof(PartitionStats) % 64 == 0, "stats occupy whole cache lines");

}  // namespace buddy::kv
