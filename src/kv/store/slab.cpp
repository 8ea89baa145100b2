// SlabAllocator: size classes, slabs with per-slab free lists, and the best-fit page-run
// allocator underneath. Only the owner thread of a partition calls it.
#include "buddy/kv/store/detail/slab.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace buddy::kv::detail {
namespace {

constexpr std::uint32_t kLarge = 0x80000000u;

}  // namespace

SlabAllocator::SlabAllocator() {
  // 8-byte steps up to 64 bytes, then eight classes per doubling up to kMaxSlabItemUnits.
  for (std::uint32_t u = 1; u <= 8; ++u) class_units_.push_back(u);
  for (std::uint32_t u = 8; u < kMaxSlabItemUnits;) {
    u += u / 8;
    class_units_.push_back(std::min(u, kMaxSlabItemUnits));
  }
  // Each class's slab: the fewest pages holding kMinSlabItems blocks, or a few more pages when
  // they leave a smaller unused tail (as a fraction of the slab).
  for (const std::uint32_t u : class_units_) {
    const std::uint32_t least =
        std::min(kMaxSlabPages, (u * kMinSlabItems + kPageUnits - 1) / kPageUnits);
    std::uint32_t best = least;
    double best_waste = 1.0;
    for (std::uint32_t p = least; p <= std::min(kMaxSlabPages, 2 * least); ++p) {
      const double waste = static_cast<double>(p * kPageUnits % u) / (p * kPageUnits);
      if (waste < best_waste - 1e-9) {
        best = p;
        best_waste = waste;
      }
    }
    class_pages_.push_back(best);
  }
  class_of_.assign(kMaxSlabItemUnits + 1, 0);
  std::uint8_t c = 0;
  for (std::uint32_t u = 1; u <= kMaxSlabItemUnits; ++u) {
    while (class_units_[c] < u) ++c;
    class_of_[u] = c;
  }
  partial_.assign(class_units_.size(), kNone);
}

void SlabAllocator::reset(std::byte* base, std::size_t bytes) {
  base_ = base;
  persist_ = nullptr;
  used_pages_ = 0;
  const auto pages = static_cast<std::uint32_t>(bytes / kPageBytes);
  page_meta_.assign(pages, 0);
  slabs_.clear();
  free_slab_ids_.clear();
  std::fill(partial_.begin(), partial_.end(), kNone);
  runs_by_start_.clear();
  runs_by_len_.clear();
  if (pages > 0) add_run(0, pages);
}

std::size_t SlabAllocator::metadata_bytes() const noexcept {
  // The page table and slab records; the free-run maps hold a handful of nodes per hole.
  return page_meta_.capacity() * sizeof(std::uint32_t) + slabs_.capacity() * sizeof(Slab) +
         (runs_by_start_.size() + runs_by_len_.size()) * 48;
}

void SlabAllocator::add_run(std::uint32_t start, std::uint32_t n) {
  runs_by_start_.emplace(start, n);
  runs_by_len_.emplace(n, start);
}

std::uint32_t SlabAllocator::alloc_pages(std::uint32_t n) {
  auto it = runs_by_len_.lower_bound({n, 0});
  if (it == runs_by_len_.end()) return kNone;
  const auto [len, start] = *it;
  runs_by_len_.erase(it);
  runs_by_start_.erase(start);
  if (len > n) add_run(start + n, len - n);
  used_pages_ += n;
  return start;
}

void SlabAllocator::free_pages(std::uint32_t start, std::uint32_t n) {
  used_pages_ -= n;
  auto next = runs_by_start_.lower_bound(start);
  if (next != runs_by_start_.end() && next->first == start + n) {
    n += next->second;
    runs_by_len_.erase({next->second, next->first});
    next = runs_by_start_.erase(next);
  }
  if (next != runs_by_start_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      n += prev->second;
      runs_by_len_.erase({prev->second, prev->first});
      runs_by_start_.erase(prev);
    }
  }
  add_run(start, n);
}

std::uint32_t SlabAllocator::new_slab(std::uint16_t cls) {
  const std::uint32_t pages = class_pages_[cls];
  const std::uint32_t first = alloc_pages(pages);
  if (first == kNone) return kNone;
  std::uint32_t sid;
  if (!free_slab_ids_.empty()) {
    sid = free_slab_ids_.back();
    free_slab_ids_.pop_back();
  } else {
    sid = static_cast<std::uint32_t>(slabs_.size());
    slabs_.emplace_back();
  }
  Slab& s = slabs_[sid];
  s = Slab{};
  s.first_page = first;
  s.cls = cls;
  for (std::uint32_t p = 0; p < pages; ++p) page_meta_[first + p] = sid + 1;
  if (persist_ != nullptr) {
    for (std::uint32_t p = 0; p < pages; ++p) persist_[first + p] = slab_word(cls, p);
  }
  link_partial(sid);
  return sid;
}

void SlabAllocator::link_partial(std::uint32_t sid) {
  Slab& s = slabs_[sid];
  s.partial = true;
  s.prev = kNone;
  s.next = partial_[s.cls];
  if (s.next != kNone) slabs_[s.next].prev = sid;
  partial_[s.cls] = sid;
}

void SlabAllocator::unlink_partial(std::uint32_t sid) {
  Slab& s = slabs_[sid];
  if (s.prev != kNone) {
    slabs_[s.prev].next = s.next;
  } else {
    partial_[s.cls] = s.next;
  }
  if (s.next != kNone) slabs_[s.next].prev = s.prev;
  s.partial = false;
  s.prev = s.next = kNone;
}

std::uint32_t SlabAllocator::alloc_run(std::uint32_t pages) {
  if (pages == 0 || pages >= kLarge) return kNone;
  const std::uint32_t start = alloc_pages(pages);
  if (start == kNone) return kNone;
  page_meta_[start] = kLarge | pages;
  if (persist_ != nullptr) persist_[start] = kRunWord | pages;
  return start * kPageUnits;
}

std::uint32_t SlabAllocator::alloc(std::uint32_t units) {
  if (units == 0) units = 1;
  if (units > kMaxSlabItemUnits) return alloc_run((units + kPageUnits - 1) / kPageUnits);
  const std::uint8_t cls = class_of_[units];
  std::uint32_t sid = partial_[cls];
  if (sid == kNone) {
    sid = new_slab(cls);
    if (sid == kNone) return kNone;
  }
  Slab& s = slabs_[sid];
  std::uint32_t off;
  if (s.free_head != kNone) {
    off = s.free_head;
    std::memcpy(&s.free_head, at(off), sizeof s.free_head);
  } else {
    off = s.first_page * kPageUnits + s.bump;
    s.bump += class_units_[cls];
  }
  ++s.live;
  if (full(s)) unlink_partial(sid);
  return off;
}

void SlabAllocator::free(std::uint32_t off) {
  const std::uint32_t page = off / kPageUnits;
  const std::uint32_t meta = page_meta_[page];
  if ((meta & kLarge) != 0) {
    page_meta_[page] = 0;
    free_pages(page, meta & ~kLarge);
    return;
  }
  const std::uint32_t sid = meta - 1;
  Slab& s = slabs_[sid];
  std::memcpy(at(off), &s.free_head, sizeof s.free_head);
  s.free_head = off;
  --s.live;
  if (s.live == 0) {  // empty: the pages go back to the arena for any size class
    if (s.partial) unlink_partial(sid);
    const std::uint32_t pages = class_pages_[s.cls];
    for (std::uint32_t p = 0; p < pages; ++p) page_meta_[s.first_page + p] = 0;
    free_pages(s.first_page, pages);
    free_slab_ids_.push_back(sid);
    return;
  }
  if (!s.partial) link_partial(sid);
}

}  // namespace buddy::kv::detail
