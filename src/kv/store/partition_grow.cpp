// Partition: incremental index growth (store mode).
//
// grow_index() takes a kGrowth times larger page run for the new index and makes it current;
// the old index stays, and each later insert moves the slots of kMovePerInsert old buckets
// (with their overflow chains) into the new one, rehashing each item's key (the store's hash is
// key_hash(key), checked by the wire parser). A key whose old bucket is below moved_ is in the
// new index, every other key still in the old one (bucket_of()), so lookups, inserts and
// deletes stay exact at every step and no request waits for a whole rehash. The new index is
// zeroed only as far as the moved keys reach: bucket(h, n) is monotone in h, so the keys of old
// buckets 0..ob land in new buckets below ceil((ob + 1) * n / old_n).
//
// A move that needs an overflow bucket when the arena has none is undone (the old bucket keeps
// its slots) and tried again 64 SETs later; the store goes on serving meanwhile.
#include <cmath>
#include <cstring>

#include "buddy/kv/store/partition.hpp"

namespace buddy::kv {

using detail::Bucket;
using detail::SlabAllocator;
namespace item = detail::item;

namespace {

constexpr std::uint32_t kBucketUnits = sizeof(Bucket) / item::kUnitBytes;
constexpr std::uint64_t kRetryAfterSets = 64;

}  // namespace

void Partition::grow_index() {
  if (durable()) return grow_index_whole();
  const auto give_up = [this] { grow_at_ = c_.items + c_.items / 4 + 1; };
  if (old_ != nullptr && !finish_growth()) return give_up();  // the last move is still going
  constexpr std::size_t kPerPage = SlabAllocator::kPageBytes / sizeof(Bucket);
  const auto want = static_cast<std::size_t>(std::ceil(nbuckets_ * kGrowth / kPerPage)) * kPerPage;
  const std::uint32_t run = want <= UINT32_MAX
                                ? slab_.alloc_run(static_cast<std::uint32_t>(want / kPerPage))
                                : SlabAllocator::kNone;
  if (run == SlabAllocator::kNone) return give_up();
  old_ = buckets_;
  old_buckets_ = nbuckets_;
  old_off_ = index_off_;
  moved_ = 0;
  zeroed_ = 0;
  move_retry_at_ = 0;
  buckets_ = reinterpret_cast<Bucket*>(slab_.at(run));
  nbuckets_ = static_cast<std::uint32_t>(want);
  index_off_ = run;
  grow_at_ = static_cast<std::uint64_t>(nbuckets_ * kGrowAt);
}

// A full arena while the index grows: the old index and its overflow buckets still hold memory
// that the end of the move gives back, so finish it now (the SET that found no room waits for
// the rest of the move; then it tries again). False when nothing was freed.
bool Partition::finish_growth() {
  if (old_ == nullptr) return false;
  move_retry_at_ = 0;
  move_buckets(old_buckets_);
  return old_ == nullptr;
}

void Partition::move_buckets(std::uint32_t count) {
  if (c_.sets < move_retry_at_) return;
  for (std::uint32_t i = 0; i < count && old_ != nullptr; ++i) {
    if (!move_bucket(moved_)) {
      move_retry_at_ = c_.sets + kRetryAfterSets;
      return;
    }
    if (++moved_ == old_buckets_) end_growth();
  }
}

void Partition::zero_new_up_to(std::uint32_t ob) {
  const std::uint64_t reach =
      (std::uint64_t{ob} + 1) * nbuckets_ / old_buckets_ + 1;  // ceil((ob+1) n / old_n), or 1 more
  const auto upto = static_cast<std::uint32_t>(std::min<std::uint64_t>(reach, nbuckets_));
  if (upto <= zeroed_) return;
  std::memset(static_cast<void*>(buckets_ + zeroed_), 0,
              std::size_t{upto - zeroed_} * sizeof(Bucket));
  zeroed_ = upto;
}

bool Partition::place(MoveSlot& m) {
  Bucket* t = m.to;
  std::uint32_t e;
  while ((e = t->match(0)) == 0) {
    if (t->next == 0) {
      const std::uint32_t o = slab_.alloc(kBucketUnits);
      if (o == SlabAllocator::kNone) return false;
      std::memset(static_cast<void*>(slab_.at(o)), 0, sizeof(Bucket));
      t->next = o + 1;
      move_linked_.emplace_back(t, o);
    }
    t = overflow_at(t->next);
  }
  m.into = t;
  m.slot = Bucket::first_slot(e);
  t->tag[m.slot] = m.tag;
  t->off[m.slot] = m.off;
  return true;
}

// Moves old bucket `ob` and its chain: gathers the slots (prefetching each item), hashes the keys
// (prefetching each new bucket), places them, then frees the old chain's overflow buckets.
bool Partition::move_bucket(std::uint32_t ob) {
  zero_new_up_to(ob);
  move_slots_.clear();
  move_linked_.clear();
  for (const Bucket* b = old_ + ob;; b = overflow_at(b->next)) {
    for (int s = 0; s < Bucket::kSlots; ++s) {
      if (b->tag[s] == 0) continue;
      move_slots_.push_back({b->off[s], b->tag[s], nullptr, nullptr, -1});
      detail::prefetch(slab_.at(b->off[s]));
    }
    if (b->next == 0) break;
  }
  for (MoveSlot& m : move_slots_) {
    const std::byte* p = slab_.at(m.off);
    const std::string_view key(reinterpret_cast<const char*>(p + item::kHeaderBytes),
                               item::key_len(item::header(p)));
    m.to = buckets_ + hashbits::bucket(key_hash(key), nbuckets_);
    detail::prefetch(m.to);
  }
  for (std::size_t i = 0; i < move_slots_.size(); ++i) {
    if (!place(move_slots_[i])) {  // undo: clear what was placed, unlink what was linked
      for (std::size_t j = 0; j < i; ++j) move_slots_[j].into->tag[move_slots_[j].slot] = 0;
      for (auto it = move_linked_.rbegin(); it != move_linked_.rend(); ++it) {
        it->first->next = 0;
        slab_.free(it->second);
      }
      return false;
    }
  }
  Bucket& head = old_[ob];
  for (std::uint32_t next = head.next; next != 0;) {
    const std::uint32_t after = overflow_at(next)->next;
    slab_.free(next - 1);
    next = after;
  }
  head.next = 0;
  return true;
}

void Partition::end_growth() {
  slab_.free(old_off_);
  old_ = nullptr;
  old_buckets_ = 0;
  moved_ = 0;
  move_slots_ = {};
  move_linked_ = {};
}

}  // namespace buddy::kv
