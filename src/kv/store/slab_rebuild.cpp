// SlabAllocator::rebuild: a named store's allocator made again on re-attach from the blocks its
// index reaches and the page words kept in the segment (slab.hpp). A block the index does not
// reach is free: an item written but never made reachable, or freed, by a process killed half
// way through a SET or DELETE, costs nothing.
#include <algorithm>
#include <cstring>
#include <string>

#include "buddy/kv/store/detail/slab.hpp"

namespace buddy::kv::detail {

std::string SlabAllocator::rebuild(std::vector<Block> blocks) {
  const auto pages = static_cast<std::uint32_t>(page_meta_.size());
  if (persist_ == nullptr) return "no page words to rebuild from";
  runs_by_start_.clear();
  runs_by_len_.clear();
  used_pages_ = 0;
  std::vector<std::uint8_t> used(pages, 0);
  std::vector<std::uint32_t> slab_at(pages, kNone);  // first page -> slab id
  std::vector<std::vector<bool>> taken;              // per slab: its blocks in use
  const auto block_text = [](const Block& b) {
    return "the block at unit " + std::to_string(b.off) + " (" + std::to_string(b.units) +
           " units)";
  };
  const auto claim = [&](std::uint32_t first, std::uint32_t n) {
    if (first + static_cast<std::uint64_t>(n) > pages) return false;
    for (std::uint32_t p = first; p < first + n; ++p) {
      if (used[p] != 0) return false;
    }
    std::fill(used.begin() + first, used.begin() + first + n, std::uint8_t{1});
    used_pages_ += n;
    return true;
  };
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.off < b.off; });
  for (const Block& b : blocks) {
    const std::uint32_t page = b.off / kPageUnits;
    if (page >= pages) return block_text(b) + " is outside the arena";
    const std::uint32_t w = persist_[page];
    if (b.run || b.units > kMaxSlabItemUnits) {
      const std::uint32_t n = (b.units + kPageUnits - 1) / kPageUnits;
      if (b.off % kPageUnits != 0 || w != (kRunWord | n) || !claim(page, n)) {
        return block_text(b) + " is not a page run of its own";
      }
      page_meta_[page] = kRunWord | n;  // the same bit as slab.cpp's kLarge
      continue;
    }
    const std::uint32_t cls = (w >> 8) & 0xFFu;
    const std::uint32_t idx = w & 0xFFu;
    if ((w & ~0xFFFFu) != kSlabWord || cls != class_of_[std::max(b.units, 1u)] ||
        idx >= class_pages_[cls] || idx > page) {
      return block_text(b) + " is not in a slab of its size class";
    }
    const std::uint32_t first = page - idx;
    std::uint32_t sid = slab_at[first];
    if (sid == kNone) {
      if (!claim(first, class_pages_[cls])) return block_text(b) + " is in a slab that overlaps";
      sid = static_cast<std::uint32_t>(slabs_.size());
      slabs_.emplace_back();
      slabs_[sid].first_page = first;
      slabs_[sid].cls = static_cast<std::uint16_t>(cls);
      slab_at[first] = sid;
      for (std::uint32_t p = 0; p < class_pages_[cls]; ++p) page_meta_[first + p] = sid + 1;
      taken.emplace_back(class_pages_[cls] * kPageUnits / class_units_[cls], false);
    } else if (slabs_[sid].cls != cls) {
      return block_text(b) + " is in a slab of another size class";
    }
    const std::uint32_t rel = b.off - first * kPageUnits;
    const std::uint32_t k = rel / class_units_[cls];
    if (rel % class_units_[cls] != 0 || k >= taken[sid].size() || taken[sid][k]) {
      return block_text(b) + " is not a free block of its slab";
    }
    taken[sid][k] = true;
    ++slabs_[sid].live;
  }
  // Each slab: every block not in use on its free list (lowest first), bump at its end.
  for (std::uint32_t sid = 0; sid < slabs_.size(); ++sid) {
    Slab& s = slabs_[sid];
    const std::uint32_t cu = class_units_[s.cls];
    s.bump = static_cast<std::uint32_t>(taken[sid].size()) * cu;
    for (auto k = static_cast<std::uint32_t>(taken[sid].size()); k-- > 0;) {
      if (taken[sid][k]) continue;
      const std::uint32_t off = s.first_page * kPageUnits + k * cu;
      std::memcpy(at(off), &s.free_head, sizeof s.free_head);
      s.free_head = off;
    }
    if (!full(s)) link_partial(sid);
    for (std::uint32_t p = 0; p < class_pages_[s.cls]; ++p) {
      persist_[s.first_page + p] = slab_word(s.cls, p);
    }
  }
  // The pages nobody uses: free runs, their words cleared.
  for (std::uint32_t p = 0; p < pages;) {
    if (used[p] != 0) {
      ++p;
      continue;
    }
    std::uint32_t q = p;
    while (q < pages && used[q] == 0) persist_[q++] = 0;
    add_run(p, q - p);
    p = q;
  }
  return {};
}

}  // namespace buddy::kv::detail
