// Per-partition statistics. The owner thread counts in plain fields and publishes them with
// relaxed atomic stores to lines of their own; any thread may read a snapshot at any time. Each
// field is individually exact as of the owner's last publish (after every operation or batch);
// fields of one snapshot may come from two consecutive publishes.
#pragma once

#include <cstdint>

#include "buddy/base/fields.hpp"
#include "buddy/base/shared_words.hpp"

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

  // The field table (base/fields.hpp): JSON keys and text labels, in this order.
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("items", s.items...);
    f("bytes", s.bytes...);
    f("memory", s.memory...);
    f("hits", s.hits...);
    f("misses", s.misses...);
    f("sets", s.sets...);
    f("deletes", s.deletes...);
    f("evictions", s.evictions...);
    f("oom", s.oom...);
  }
  StatsSnapshot& operator+=(const StatsSnapshot& o) {
    base::add_fields(*this, o);
    return *this;
  }
};
static_assert(base::field_words<StatsSnapshot>() * 8 == sizeof(StatsSnapshot),
              "every StatsSnapshot field is in its table");

class alignas(64) PartitionStats {
 public:
  void publish(const StatsSnapshot& s) noexcept { w_.publish(s); }  // owner thread only
  StatsSnapshot read() const noexcept { return w_.read(); }         // any thread

 private:
  base::SharedWords<StatsSnapshot> w_;
};
static_assert(sizeof(PartitionStats) % 64 == 0, "stats occupy whole cache lines");

}  // namespace buddy::kv
