// Store-mode item storage: size-classed slabs inside a fixed arena, so DELETE frees space for
// reuse and a full arena is an explicit failure (kNone), never an eviction.
//
// The arena is cut into 4 KiB pages handed out by a best-fit run allocator with coalescing.
// Items up to 16 KiB live in slabs of one size class (8-byte steps up to 64 B, then eight classes
// per doubling), each slab with its own intrusive free list; a slab whose last item is freed goes
// back to the page allocator, so memory moves between size classes. A class's slab is the run of
// 1..16 pages that holds at least kMinSlabItems blocks with the least unused tail, so a class
// that is in use holds at most one partly filled slab of a few items, not 64 KiB. Larger items
// take a run of whole pages. Offsets and sizes are in 8-byte units (32-bit offsets: arena <= 32
// GiB).
//
// A named store (store_segment.hpp) also keeps one word per page in its segment (persist_pages):
// which class and which page of its slab a slab page is, or the length of a run at its first
// page, written before any block of the slab or run is handed out. Nothing else of the allocator
// is kept: on re-attach rebuild() makes it again from the blocks the index reaches (any block
// the index does not reach is free), checking that they fit those words and do not overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace buddy::kv::detail {

class SlabAllocator {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  static constexpr std::uint32_t kUnitBytes = 8;
  static constexpr std::uint32_t kPageBytes = 4096;
  static constexpr std::uint32_t kPageUnits = kPageBytes / kUnitBytes;
  static constexpr std::uint32_t kMaxSlabPages = 16;  // 64 KiB
  static constexpr std::uint32_t kMinSlabItems = 8;
  static constexpr std::uint32_t kMaxSlabItemUnits = 2048;  // 16 KiB

  SlabAllocator();
  void reset(std::byte* base, std::size_t bytes);

  // Offset (units) of a fresh block of at least `units` units, or kNone when the arena is full.
  std::uint32_t alloc(std::uint32_t units);
  // Offset (units) of `pages` whole, page-aligned pages (the store-mode index), or kNone.
  std::uint32_t alloc_run(std::uint32_t pages);
  void free(std::uint32_t off);  // a block from alloc() or alloc_run()

  // Units a block of `units` really occupies (its size class or whole pages): two sizes with
  // the same footprint can be rewritten in place.
  std::uint32_t footprint(std::uint32_t units) const noexcept {
    if (units <= kMaxSlabItemUnits) return class_units_[class_of_[units]];
    return (units + kPageUnits - 1) / kPageUnits * kPageUnits;
  }

  std::byte* at(std::uint32_t off) const noexcept {
    return base_ + static_cast<std::size_t>(off) * kUnitBytes;
  }

  std::size_t bytes_in_use() const noexcept { return used_pages_ * std::size_t{kPageBytes}; }
  std::size_t metadata_bytes() const noexcept;
  std::size_t pages() const noexcept { return page_meta_.size(); }

  // A named store's page words (pages() of them), after reset(); written from now on.
  void persist_pages(std::uint32_t* words) noexcept { persist_ = words; }
  // A block the index reaches: an item or an overflow bucket (a slab block) or a page run (the
  // index, a large item).
  struct Block {
    std::uint32_t off = 0;
    std::uint32_t units = 0;
    bool run = false;
  };
  // After reset() and persist_pages(): every block in use is one of `blocks` (sorted here), every
  // other one free. Returns the one-line reason the blocks do not fit the page words (and
  // leaves the allocator unusable), else empty.
  std::string rebuild(std::vector<Block> blocks);

 private:
  struct Slab {
    std::uint32_t first_page = 0;
    std::uint32_t free_head = kNone;  // offset of a freed block; its first 4 bytes link the next
    std::uint32_t bump = 0;           // units handed out from the start of the slab
    std::uint32_t live = 0;
    std::uint32_t prev = kNone, next = kNone;  // partial list of the class
    std::uint16_t cls = 0;
    bool partial = false;
  };

  // Page words of a named store: kRunWord | pages at a run's first page; kSlabWord | class << 8 |
  // page of the slab on each slab page (read back by rebuild()).
  static constexpr std::uint32_t kRunWord = 0x80000000u;
  static constexpr std::uint32_t kSlabWord = 0x40000000u;
  static constexpr std::uint32_t slab_word(std::uint32_t cls, std::uint32_t page) noexcept {
    return kSlabWord | cls << 8 | page;
  }

  std::uint32_t alloc_pages(std::uint32_t n);
  void free_pages(std::uint32_t start, std::uint32_t n);
  void add_run(std::uint32_t start, std::uint32_t n);
  std::uint32_t new_slab(std::uint16_t cls);
  void link_partial(std::uint32_t sid);
  void unlink_partial(std::uint32_t sid);
  bool full(const Slab& s) const noexcept {
    return s.free_head == kNone && s.bump + class_units_[s.cls] > class_pages_[s.cls] * kPageUnits;
  }

  std::byte* base_ = nullptr;
  std::uint32_t* persist_ = nullptr;  // a named store's page words, or null
  std::size_t used_pages_ = 0;
  std::vector<std::uint32_t> class_units_;  // units of each class
  std::vector<std::uint32_t> class_pages_;  // pages of each class's slabs
  std::vector<std::uint8_t> class_of_;      // units -> class, for units <= kMaxSlabItemUnits
  std::vector<std::uint32_t> partial_;      // per class: head slab with free blocks, or kNone
  std::vector<Slab> slabs_;
  std::vector<std::uint32_t> free_slab_ids_;
  std::vector<std::uint32_t> page_meta_;  // slab id + 1 on slab pages; kLarge|pages on run start
  std::map<std::uint32_t, std::uint32_t> runs_by_start_;           // free runs: start -> length
  std::set<std::pair<std::uint32_t, std::uint32_t>> runs_by_len_;  // (length, start)
};

}  // namespace buddy::kv::detail
