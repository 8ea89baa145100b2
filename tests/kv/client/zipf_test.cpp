// The Zipf generator follows the distribution: rank frequencies match 1/(i^theta * zeta(n)).
#include "buddy/kv/client/zipf.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
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

// Past 2^20 terms zeta() sums the tail in closed form (Euler-Maclaurin): it must agree with the
// plain sum, term by term, to about the last digits of a double.
TEST(Zipf, ZetaOfALargeKeySpaceMatchesThePlainSum) {
  for (const double theta : {0.5, 0.99}) {
    const std::uint64_t n = ZipfGenerator::kExactTerms * 3 + 12345;
    double plain = 0;
    for (std::uint64_t i = 1; i <= n; ++i) plain += 1.0 / std::pow(static_cast<double>(i), theta);
    EXPECT_NEAR(ZipfGenerator::zeta(n, theta), plain, plain * 1e-12) << "theta " << theta;
  }
  // 2^36 keys: the setup is immediate (the plain sum would take tens of minutes).
  const auto t0 = std::chrono::steady_clock::now();
  ZipfGenerator big(std::uint64_t{1} << 36, 0.99);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) ASSERT_LT(big(rng), std::uint64_t{1} << 36);
}

}  // namespace
}  // namespace buddy::kv
