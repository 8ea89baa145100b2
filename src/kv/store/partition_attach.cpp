// Partition::attach_index: a partition of a named store re-attached after its process died. The
// index word names the index; every slot with a tag reaches a complete item (durable_store's
// order), so the walk below finds every item that was ever acknowledged and nothing half
// written. The allocator is made again from the blocks the walk reaches (the rest is free) and
// the statistics from the items. Anything that does not fit is a one-line kv::Error.
#include <string>
#include <vector>

#include "buddy/kv/store/partition.hpp"

namespace buddy::kv {

using detail::Bucket;
using detail::SlabAllocator;
namespace item = detail::item;

void Partition::attach_index(const PartitionMemory& mem) {
  constexpr std::uint32_t kPerPage = SlabAllocator::kPageBytes / sizeof(Bucket);
  constexpr std::uint32_t kBucketUnits = sizeof(Bucket) / item::kUnitBytes;
  const auto units = static_cast<std::uint64_t>(mem.arena_bytes / item::kUnitBytes);
  const std::uint64_t w = mem.index_word->load(std::memory_order_acquire);
  index_off_ = static_cast<std::uint32_t>(w >> 32);
  nbuckets_ = static_cast<std::uint32_t>(w);
  const auto bad = [](const std::string& why) { return Error("named store partition: " + why); };
  if (nbuckets_ == 0 || nbuckets_ % kPerPage != 0 || index_off_ % SlabAllocator::kPageUnits != 0 ||
      index_off_ + std::uint64_t{nbuckets_} * kBucketUnits > units) {
    throw bad("its index word names no index (" + std::to_string(w) + ")");
  }
  buckets_ = reinterpret_cast<Bucket*>(slab_.at(index_off_));
  std::vector<SlabAllocator::Block> blocks;
  blocks.push_back({index_off_, nbuckets_ * kBucketUnits, true});
  const std::uint64_t max_chain = units / kBucketUnits;
  c_ = StatsSnapshot{};
  for (std::uint32_t i = 0; i < nbuckets_; ++i) {
    std::uint64_t chain = 0;
    for (const Bucket* b = buckets_ + i;;) {
      for (int s = 0; s < Bucket::kSlots; ++s) {
        if (b->tag[s] == 0) continue;
        const std::uint32_t off = b->off[s];
        if (off >= units) throw bad("a slot reaches past the arena");
        const std::byte* p = slab_.at(off);
        const std::uint32_t h = item::header(p);
        const std::uint32_t n = item::units(item::key_len(h), item::value_len(h));
        if (item::key_len(h) == 0 || off + std::uint64_t{n} > units) {
          throw bad("a slot reaches an item that is not whole");
        }
        const std::string_view key(reinterpret_cast<const char*>(p + item::kHeaderBytes),
                                   item::key_len(h));
        const std::uint64_t hash = key_hash(key);
        if (hashbits::tag(hash) != b->tag[s] || hashbits::bucket(hash, nbuckets_) != i) {
          throw bad("a slot's tag or bucket is not its item's key's");
        }
        blocks.push_back({off, n, n > SlabAllocator::kMaxSlabItemUnits});
        ++c_.items;
        c_.bytes += item::key_len(h) + item::value_len(h);
      }
      if (b->next == 0) break;
      const std::uint32_t o = b->next - 1;
      if (o + std::uint64_t{kBucketUnits} > units || ++chain > max_chain) {
        throw bad("an overflow chain leaves the arena or loops");
      }
      blocks.push_back({o, kBucketUnits, false});
      b = overflow_at(b->next);
    }
  }
  if (std::string why = slab_.rebuild(std::move(blocks)); !why.empty()) throw bad(why);
}

}  // namespace buddy::kv
