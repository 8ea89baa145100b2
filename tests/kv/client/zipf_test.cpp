// The Zipf generator follows the distribution: rank frequencies match 1/(i^theta * zeta(n)).
#include "buddy/kv/client/zipf.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace buddy::kv {
namespace {

TEST(Zipf, RankFrequenciesMatchTheDistribution) {
  const std::uint64_t n = 1000;
  const double theta = 0.99;
  ZipfGenerator z(n, theta);
  std::mt19937_64 rng(11);
  std::vector<std::uint64_t> count(n);
  const int draws = 2'000'000;
  for (int i = 0; i < draws; ++i) {
    const std::uint64_t r = z(rng);
    ASSERT_LT(r, n);
    ++count[r];
  }
  const double zn = ZipfGenerator::zeta(n, theta);
  for (std::uint64_t i : {0, 1, 9}) {
    const double want = draws / (std::pow(static_cast<double>(i + 1), theta) * zn);
    EXPECT_NEAR(static_cast<double>(count[i]), want, want * 0.05) << "rank " << i;
  }
  EXPECT_GT(count[0], count[1]);
  EXPECT_GT(count[1], count[50]);
}

TEST(Zipf, ScrambledStaysInRangeAndSpreadsHotKeys) {
  ZipfGenerator z(1'000'000, 0.99);
  std::mt19937_64 rng(5);
  std::uint64_t low = 0;
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t k = z.scrambled(rng);
    ASSERT_LT(k, 1'000'000u);
    low += k < 1000;
  }
  EXPECT_LT(low, 2'000u);  // unscrambled, rank < 1000 would be ~50% of draws
  EXPECT_THROW(ZipfGenerator(0, 0.5), std::invalid_argument);
  EXPECT_THROW(ZipfGenerator(10, 1.0), std::invalid_argument);
}

}  // namespace
}  // namespace buddy::kv
