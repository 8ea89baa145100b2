// Region: a prefaulted region is resident (every page in RAM) and zero-filled as soon as it is
// made; a lazy one is not.
#include "buddy/kv/store/detail/region.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace buddy::kv {
namespace {

using detail::Region;

std::size_t resident_pages(const Region& r) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((r.size() + page - 1) / page);
  EXPECT_EQ(::mincore(r.data(), r.size(), v.data()), 0);
  std::size_t n = 0;
  for (unsigned char c : v) n += c & 1u;
  return n;
}

TEST(Region, PrefaultedMemoryIsResidentAndZero) {
  constexpr std::size_t kBytes = 8u << 20;
  const Region r(kBytes, /*huge_pages=*/false, /*prefault=*/true);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(resident_pages(r), kBytes / page);
  for (std::size_t off = 0; off < kBytes; off += 4096 + 8) ASSERT_EQ(r.data()[off], std::byte{0});
}

TEST(Region, LazyMemoryIsNotResidentUntilTouched) {
  constexpr std::size_t kBytes = 8u << 20;
  const Region r(kBytes, /*huge_pages=*/false);
  EXPECT_LT(resident_pages(r), kBytes / static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) / 2);
}

}  // namespace
}  // namespace buddy::kv
