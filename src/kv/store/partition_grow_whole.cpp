// Partition::grow_index_whole: a named store's index growth (docs/store.md, "Named store").
#include <cmath>
#include <cstring>
#include <vector>

#include "buddy/kv/store/detail/durable.hpp"
#include "buddy/kv/store/partition.hpp"

namespace buddy::kv {

using detail::Bucket;
using detail::SlabAllocator;
namespace item = detail::item;

// A named store's index growth: every slot moved at once to a kGrowth times larger index,
// rehashing each item's key. The old index stays intact until the new one is complete and the
// index word is switched to it with one store, so a kill at any instant leaves one whole index
// reachable. If the arena has no room for the new run or an overflow bucket, the new one is
// dropped and the store goes on with longer overflow chains (nothing is lost); it tries again
// after a quarter more items.
void Partition::grow_index_whole() {
  constexpr std::size_t kPerPage = SlabAllocator::kPageBytes / sizeof(Bucket);
  const auto want = static_cast<std::size_t>(std::ceil(nbuckets_ * kGrowth / kPerPage)) * kPerPage;
  const std::uint32_t run = want <= UINT32_MAX
                                ? slab_.alloc_run(static_cast<std::uint32_t>(want / kPerPage))
                                : SlabAllocator::kNone;
  const auto give_up = [this] { grow_at_ = c_.items + c_.items / 4 + 1; };
  if (run == SlabAllocator::kNone) return give_up();
  auto* nb = reinterpret_cast<Bucket*>(slab_.at(run));
  std::memset(static_cast<void*>(nb), 0, want * sizeof(Bucket));
  const auto n = static_cast<std::uint32_t>(want);
  std::vector<std::uint32_t> added;  // overflow buckets of the new index
  const auto drop_new = [&] {
    for (const std::uint32_t o : added) slab_.free(o);
    slab_.free(run);
    give_up();
  };
  constexpr std::uint32_t kBucketUnits = sizeof(Bucket) / item::kUnitBytes;
  const auto place = [&](std::uint32_t off, std::uint16_t tag, Bucket* t) {
    std::uint32_t e;
    while ((e = t->match(0)) == 0) {
      if (t->next == 0) {
        const std::uint32_t o = slab_.alloc(kBucketUnits);
        if (o == SlabAllocator::kNone) return false;
        added.push_back(o);
        std::memset(static_cast<void*>(slab_.at(o)), 0, sizeof(Bucket));
        t->next = o + 1;
      }
      t = overflow_at(t->next);
    }
    const int slot = Bucket::first_slot(e);
    t->tag[slot] = tag;
    t->off[slot] = off;
    return true;
  };
  // In chunks of kChunk slots, so the cache misses overlap: gather the slots (prefetching each
  // item), then hash the keys (prefetching each new bucket), then place them.
  constexpr std::size_t kChunk = 64;
  std::uint32_t offs[kChunk];
  std::uint16_t tags[kChunk];
  Bucket* to[kChunk];
  std::size_t got = 0;
  const auto flush = [&] {
    for (std::size_t j = 0; j < got; ++j) {
      const std::byte* p = slab_.at(offs[j]);
      const std::string_view key(reinterpret_cast<const char*>(p + item::kHeaderBytes),
                                 item::key_len(item::header(p)));
      to[j] = nb + hashbits::bucket(key_hash(key), n);
      detail::prefetch(to[j]);
    }
    for (std::size_t j = 0; j < got; ++j) {
      if (!place(offs[j], tags[j], to[j])) return false;
    }
    got = 0;
    return true;
  };
  for (std::uint32_t i = 0; i < nbuckets_; ++i) {
    if (i + 8 < nbuckets_) detail::prefetch(buckets_ + i + 8);
    for (const Bucket* b = buckets_ + i;; b = overflow_at(b->next)) {
      for (int s = 0; s < Bucket::kSlots; ++s) {
        if (b->tag[s] == 0) continue;
        if (got == kChunk && !flush()) return drop_new();
        offs[got] = b->off[s];
        tags[got] = b->tag[s];
        detail::prefetch(slab_.at(offs[got]));
        ++got;
      }
      if (b->next == 0) break;
    }
  }
  if (!flush()) return drop_new();
  detail::durable_store(*index_word_, std::uint64_t{run} << 32 | n);  // the switch
  for (std::uint32_t i = 0; i < nbuckets_; ++i) {  // the old overflow buckets, then the old run
    for (std::uint32_t next = buckets_[i].next; next != 0;) {
      const std::uint32_t after = overflow_at(next)->next;
      slab_.free(next - 1);
      next = after;
    }
  }
  slab_.free(index_off_);
  index_off_ = run;
  buckets_ = nb;
  nbuckets_ = n;
  grow_at_ = static_cast<std::uint64_t>(nbuckets_ * kGrowAt);
}

}  // namespace buddy::kv
