// base::copy_bytes: every length 0..40 from and to every alignment 0..7 copies exactly those bytes
// and touches nothing around them.
#include "buddy/base/small_copy.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>

namespace buddy::base {
namespace {

TEST(SmallCopy, EveryLengthAndAlignmentExactly) {
  std::array<unsigned char, 64> src{};
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 7 + 1);
  for (std::size_t n = 0; n <= 40; ++n) {
    for (std::size_t from = 0; from < 8; ++from) {
      for (std::size_t to = 0; to < 8; ++to) {
        std::array<unsigned char, 64> dst;
        dst.fill(0xEE);
        copy_bytes(dst.data() + to, src.data() + from, n);
        for (std::size_t i = 0; i < dst.size(); ++i) {
          const bool inside = i >= to && i < to + n;
          ASSERT_EQ(dst[i], inside ? src[from + i - to] : 0xEE)
              << "n " << n << " from " << from << " to " << to << " byte " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace buddy::base
