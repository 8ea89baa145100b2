// SlabAllocator: blocks never overlap, freed space is reused by any size class, page runs
// coalesce, and a full arena answers kNone.
#include "buddy/kv/store/detail/slab.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace buddy::kv {
namespace {

using detail::SlabAllocator;

constexpr std::size_t kArena = 4u << 20;

struct Arena {
  std::vector<std::byte> mem = std::vector<std::byte>(kArena);
  SlabAllocator a;
  Arena() { a.reset(mem.data(), mem.size()); }
};

TEST(Slab, RandomAllocFreeNeverOverlaps) {
  Arena ar;
  std::mt19937_64 rng(3);
  std::map<std::uint32_t, std::uint32_t> live;  // off -> footprint units
  for (int i = 0; i < 200'000; ++i) {
    if (live.empty() || rng() % 100 < 55) {
      const std::uint32_t units = rng() % 50 == 0 ? 1 + static_cast<std::uint32_t>(rng() % 40'000)
                                                  : 1 + static_cast<std::uint32_t>(rng() % 200);
      const std::uint32_t off = ar.a.alloc(units);
      if (off == SlabAllocator::kNone) continue;
      const std::uint32_t fp = ar.a.footprint(units);
      ASSERT_GE(fp, units);
      ASSERT_LE((std::size_t{off} + fp) * 8, kArena);
      auto next = live.lower_bound(off);
      if (next != live.end()) {
        ASSERT_LE(off + fp, next->first) << "overlaps the next block";
      }
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second, off) << "overlaps the previous block";
      }
      live.emplace(off, fp);
      std::fill_n(ar.a.at(off), std::size_t{fp} * 8, std::byte{0x5a});
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ar.a.free(it->first);
      live.erase(it);
    }
  }
  for (auto [off, fp] : live) ar.a.free(off);
  EXPECT_EQ(ar.a.bytes_in_use(), 0u);
  // Everything coalesced: the whole arena is one run again.
  const std::uint32_t all = ar.a.alloc(static_cast<std::uint32_t>(kArena / 8));
  EXPECT_EQ(all, 0u);
}

TEST(Slab, FullArenaAndReuseAcrossClasses) {
  Arena ar;
  std::vector<std::uint32_t> small;
  for (;;) {
    const std::uint32_t off = ar.a.alloc(3);  // 24 B: an 8 B / 8 B item
    if (off == SlabAllocator::kNone) break;
    small.push_back(off);
  }
  // The 24 B class's slabs are 8 KiB runs of 341 blocks (8 B unused each).
  EXPECT_EQ(small.size(), kArena / 8192 * (8192 / 24));
  EXPECT_EQ(ar.a.bytes_in_use(), kArena);
  EXPECT_EQ(ar.a.alloc(1), SlabAllocator::kNone);
  for (std::uint32_t off : small) ar.a.free(off);
  EXPECT_EQ(ar.a.bytes_in_use(), 0u);
  std::size_t big = 0;
  while (ar.a.alloc(125) != SlabAllocator::kNone) ++big;  // 1000 B items
  EXPECT_GE(big, kArena / ar.a.footprint(125) / 8 * 95 / 100);
}

TEST(Slab, FootprintIsTheSizeClass) {
  SlabAllocator a;
  EXPECT_EQ(a.footprint(3), 3u);
  EXPECT_EQ(a.footprint(8), 8u);
  EXPECT_GE(a.footprint(9), 9u);
  EXPECT_LE(a.footprint(1000), 1250u);
  EXPECT_EQ(a.footprint(2049), 4096u / 8 * 5);  // large: whole 4 KiB pages
}

}  // namespace
}  // namespace buddy::kv
