// Partition: construction, index sizing and the slow paths (inserts, overflow chains, deletes,
// cache-mode eviction and sweeping). The lookup hot path is inline in partition.hpp.
#include "buddy/kv/store/partition.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "buddy/kv/store/detail/durable.hpp"

namespace buddy::kv {

using detail::Bucket;
using detail::CircularLog;
using detail::durable_store;
using detail::Region;
using detail::SlabAllocator;
namespace item = detail::item;
namespace {

constexpr std::size_t kPage = SlabAllocator::kPageBytes;

std::size_t round_down(std::size_t x, std::size_t to) {
  return x / to * to;
}

}  // namespace

Partition::Partition(const PartitionConfig& cfg) : Partition(cfg, PartitionMemory{}) {}

Partition::Partition(const PartitionConfig& cfg, const PartitionMemory& mem) : mode_(cfg.mode) {
  if (mem.arena != nullptr && mode_ != Mode::store) {
    throw Error("a named store keeps store mode only (cache mode's log is not kept)");
  }
  const std::size_t budget = cfg.memory_bytes;
  if (budget < kMinMemory || budget > kMaxMemory) {
    throw Error("partition memory must be " + std::to_string(kMinMemory >> 10) + " KiB.." +
                std::to_string(kMaxMemory >> 30) + " GiB (got " + std::to_string(budget) +
                " bytes)");
  }
  std::size_t items = cfg.expected_items;
  if (items == 0 && mode_ == Mode::cache) {  // the log fills the budget: size for it
    const std::size_t item_bytes = std::size_t{item::units(1, cfg.expected_kv_bytes)} * 8;
    items = budget / (item_bytes + static_cast<std::size_t>(sizeof(Bucket) / kItemsPerBucket));
  }
  // Index: enough buckets for `items` at kItemsPerBucket each, in whole pages, at most half the
  // budget. Cache mode: the rest of the budget is the log. Store mode: the index is a page run
  // of the arena (the whole budget) and grows with the items, so a store sized by its budget
  // alone starts with one page of index instead of one for budget / 40 B items.
  std::size_t index = static_cast<std::size_t>(std::ceil(items / kItemsPerBucket)) * sizeof(Bucket);
  index = std::max(kPage, (index + kPage - 1) / kPage * kPage);
  index = std::min(index, round_down(budget / 2, kPage));
  nbuckets_ = static_cast<std::uint32_t>(index / sizeof(Bucket));
  if (mode_ == Mode::store) {
    const std::size_t arena = mem.arena != nullptr ? mem.arena_bytes : round_down(budget, kPage);
    region_ = mem.arena != nullptr ? Region::borrowed(mem.arena, arena, cfg.prefault && !mem.attach)
                                   : Region(arena, cfg.huge_pages, cfg.prefault);
    slab_.reset(region_.data(), arena);
    if (mem.arena != nullptr) {
      slab_.persist_pages(mem.page_words);
      index_word_ = mem.index_word;
    }
    if (mem.attach) {
      attach_index(mem);
    } else {
      index_off_ = slab_.alloc_run(static_cast<std::uint32_t>(index / kPage));
      buckets_ = reinterpret_cast<Bucket*>(slab_.at(index_off_));
      if (durable()) {
        std::memset(static_cast<void*>(buckets_), 0, index);
        durable_store(*index_word_, std::uint64_t{index_off_} << 32 | nbuckets_);
      }
    }
    grow_at_ = cfg.grow_index ? static_cast<std::uint64_t>(nbuckets_ * kGrowAt) : UINT64_MAX;
  } else {
    const std::size_t arena = round_down(budget - index, kPage);
    region_ = Region(index + arena, cfg.huge_pages, cfg.prefault);
    buckets_ = reinterpret_cast<Bucket*>(region_.data());
    log_.reset(region_.data() + index, arena);
  }
  publish();
}

std::size_t Partition::storage_bytes() const noexcept {
  if (mode_ == Mode::store) return slab_.bytes_in_use() - index_bytes();
  const std::uint64_t units = std::min<std::uint64_t>(log_.appended_units(), log_.capacity_units());
  return static_cast<std::size_t>(units) * item::kUnitBytes;
}

std::size_t Partition::memory_used() const noexcept {
  if (mode_ == Mode::store) return slab_.bytes_in_use() + slab_.metadata_bytes();  // index too
  return index_bytes() + storage_bytes();
}

Status Partition::set_slow(const Lookup& r, std::string_view key, std::string_view value,
                           std::uint32_t units) {
  memory_dirty_ = true;
  if (r.slot < 0) {
    return mode_ == Mode::store ? store_insert(r, key, value, units)
                                : cache_insert(r, key, value, units);
  }
  // Replace with a different footprint: write the new item first, then drop the old one, so a
  // failed SET (store mode, out of memory) leaves the old value intact.
  Bucket* b = r.bucket;
  const std::uint32_t old_off = b->off[r.slot];
  const std::uint32_t old_h = item::header(item_at(old_off));
  if (mode_ == Mode::store) {
    const std::uint32_t off = slab_.alloc(units);
    if (off == SlabAllocator::kNone) {
      if (finish_growth()) return set_impl(key_hash(key), key, value);  // room freed: again
      ++c_.oom;
      return Status::out_of_memory;
    }
    item::write(slab_.at(off), key, value);
    durable_store(b->off[r.slot], off);  // one store: the old item or the new one, never half
    slab_.free(old_off);
  } else {
    if (!log_.fits(units)) {
      ++c_.oom;
      return Status::out_of_memory;
    }
    // Mark the old copy dead first so the append below never counts it as an eviction.
    item::set_header(item_at(old_off), old_h & ~item::kLiveBit);
    CircularLog::Evicted ev;
    const std::uint32_t off = log_.append(units, ev);
    item::write(log_.at(off), key, value);
    b->off[r.slot] = off;
    c_.evictions += ev.items;
    c_.items -= ev.items;
    c_.bytes -= ev.bytes;
    cache_sweep(units);
  }
  c_.bytes = c_.bytes - item::value_len(old_h) + value.size();
  ++c_.sets;
  return Status::ok;
}

Status Partition::store_insert(const Lookup& r, std::string_view key, std::string_view value,
                               std::uint32_t units) {
  const std::uint32_t off = slab_.alloc(units);
  if (off == SlabAllocator::kNone) {
    if (finish_growth()) return set_impl(key_hash(key), key, value);  // room freed: again
    ++c_.oom;
    return Status::out_of_memory;
  }
  Bucket* b = r.free_b;
  int s = r.free_slot;
  std::uint32_t boff = SlabAllocator::kNone;
  if (b == nullptr) {  // chain full: link an overflow bucket taken from the arena
    boff = slab_.alloc(sizeof(Bucket) / item::kUnitBytes);
    if (boff == SlabAllocator::kNone) {
      slab_.free(off);
      if (finish_growth()) return set_impl(key_hash(key), key, value);
      ++c_.oom;
      return Status::out_of_memory;
    }
    b = reinterpret_cast<Bucket*>(slab_.at(boff));
    std::memset(static_cast<void*>(b), 0, sizeof(Bucket));
    s = 0;
  }
  // The item, then its slot (offset, then tag: a slot is reachable by its tag), then, for a new
  // overflow bucket, the link that makes the bucket reachable.
  item::write(slab_.at(off), key, value);
  b->off[s] = off;
  durable_store(b->tag[s], r.tag);
  if (boff != SlabAllocator::kNone) durable_store(r.last->next, boff + 1);
  ++c_.items;
  c_.bytes += key.size() + value.size();
  ++c_.sets;
  if (old_ != nullptr) move_buckets(kMovePerInsert);
  if (c_.items > grow_at_) grow_index();
  return Status::ok;
}

// Frees the slot holding the oldest item of a full cache-mode bucket (the one the log will drop
// first) and returns its index; the item is counted as evicted.
std::uint32_t Partition::cache_evict_oldest(Bucket* b) {
  int victim = -1;
  std::uint32_t best = 0;
  for (int i = 0; i < Bucket::kSlots; ++i) {
    const std::uint32_t off = b->off[i];
    if (!log_.valid(off)) {  // stale: already counted when the log overwrote it
      b->tag[i] = 0;
      return static_cast<std::uint32_t>(i);
    }
    const std::uint32_t age = static_cast<std::uint32_t>(log_.appended_units()) - off;
    if (victim < 0 || age > best) {
      victim = i;
      best = age;
    }
  }
  std::byte* p = log_.at(b->off[victim]);
  const std::uint32_t h = item::header(p);
  item::set_header(p, h & ~item::kLiveBit);
  ++c_.evictions;
  --c_.items;
  c_.bytes -= item::key_len(h) + item::value_len(h);
  b->tag[victim] = 0;
  return static_cast<std::uint32_t>(victim);
}

Status Partition::cache_insert(const Lookup& r, std::string_view key, std::string_view value,
                               std::uint32_t units) {
  if (!log_.fits(units)) {
    ++c_.oom;
    return Status::out_of_memory;
  }
  Bucket* b = r.free_b;
  std::uint32_t s = static_cast<std::uint32_t>(r.free_slot);
  if (b == nullptr) {  // no overflow chains in cache mode: drop the bucket's oldest item
    b = r.last;
    s = cache_evict_oldest(b);
  }
  CircularLog::Evicted ev;
  const std::uint32_t off = log_.append(units, ev);
  item::write(log_.at(off), key, value);
  b->tag[s] = r.tag;
  b->off[s] = off;
  c_.evictions += ev.items;
  c_.items = c_.items - ev.items + 1;
  c_.bytes = c_.bytes - ev.bytes + key.size() + value.size();
  ++c_.sets;
  cache_sweep(units);
  return Status::ok;
}

// Clears stale slots in step with the log: every bucket is visited once per lap of the log, so no
// stale 32-bit offset lives long enough to alias a live item.
void Partition::cache_sweep(std::uint32_t appended_units) {
  sweep_credit_ += std::uint64_t{appended_units} * nbuckets_;
  const std::uint32_t lap = log_.capacity_units();
  while (sweep_credit_ >= lap) {
    sweep_credit_ -= lap;
    Bucket* b = buckets_ + sweep_next_;
    for (int i = 0; i < Bucket::kSlots; ++i) {
      if (b->tag[i] != 0 && !log_.valid(b->off[i])) b->tag[i] = 0;
    }
    if (++sweep_next_ == nbuckets_) sweep_next_ = 0;
  }
}

Status Partition::del_impl(std::uint64_t hash, std::string_view key) {
  if (!valid_key(key)) return Status::bad_key;
  const Lookup r = find<false>(hash, key);
  if (r.slot < 0) return Status::not_found;
  memory_dirty_ = true;
  Bucket* b = r.bucket;
  const std::uint32_t off = b->off[r.slot];
  std::byte* p = item_at(off);
  const std::uint32_t h = item::header(p);
  durable_store(b->tag[r.slot], std::uint16_t{0});
  --c_.items;
  c_.bytes -= item::key_len(h) + item::value_len(h);
  ++c_.deletes;
  if (mode_ == Mode::cache) {
    item::set_header(p, h & ~item::kLiveBit);
    return Status::ok;
  }
  slab_.free(off);
  if (r.prev != nullptr && b->empty()) {  // an emptied overflow bucket goes back to the arena
    const std::uint32_t next = r.prev->next;
    durable_store(r.prev->next, b->next);
    slab_.free(next - 1);
  }
  return Status::ok;
}

}  // namespace buddy::kv
