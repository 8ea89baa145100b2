// The client's retransmission timer (rto.hpp): RFC 6298's srtt/rttvar/rto from samples, one
// sample per round trip, the Eifel response to a spurious retry, backoff, floor and ceiling.
#include "buddy/kv/client/rto.hpp"

#include <gtest/gtest.h>

namespace buddy::kv {
namespace {

constexpr std::uint64_t us = 1000;

TEST(Rto, InitialValueUntilTheFirstSample) {
  RtoEstimator r(50'000 * us, 500 * us, 1'000'000 * us);
  EXPECT_EQ(r.rto_ns(), 50'000 * us);
  EXPECT_EQ(r.samples(), 0u);
}

TEST(Rto, FirstAndLaterSamplesFollowRfc6298) {
  RtoEstimator r(50'000 * us, 1 * us, 1'000'000 * us);
  ASSERT_TRUE(r.sample(800 * us, 10'000 * us));
  EXPECT_EQ(r.srtt_ns(), 800 * us);
  EXPECT_EQ(r.rttvar_ns(), 400 * us);
  EXPECT_EQ(r.rto_ns(), 800 * us + 4 * 400 * us);
  // Second sample 400 us: rttvar = 3/4 400 + 1/4 |800-400| = 400; srtt = 7/8 800 + 1/8 400 = 750.
  ASSERT_TRUE(r.sample(400 * us, 20'000 * us));
  EXPECT_EQ(r.rttvar_ns(), 400 * us);
  EXPECT_EQ(r.srtt_ns(), 750 * us);
  EXPECT_EQ(r.rto_ns(), 750 * us + 1600 * us);
}

TEST(Rto, OneSamplePerRoundTrip) {
  RtoEstimator r(50'000 * us, 1 * us, 1'000'000 * us);
  ASSERT_TRUE(r.sample(1000 * us, 5'000 * us));
  EXPECT_FALSE(r.sample(10 * us, 5'500 * us));  // within srtt of the last one: not taken
  EXPECT_EQ(r.samples(), 1u);
  EXPECT_TRUE(r.sample(10 * us, 6'000 * us));
  EXPECT_EQ(r.samples(), 2u);
}

TEST(Rto, FloorAndCeiling) {
  RtoEstimator r(50'000 * us, 500 * us, 20'000 * us);
  for (std::uint64_t t = 1; t < 200; ++t) r.sample(20 * us, t * 1000 * us);
  EXPECT_EQ(r.rto_ns(), 500 * us);  // a 20 us round trip would give ~20 us: floored
  RtoEstimator big(50'000 * us, 500 * us, 20'000 * us);
  big.sample(100'000 * us, 1);
  EXPECT_EQ(big.rto_ns(), 20'000 * us);
  EXPECT_EQ(RtoEstimator(1 * us, 500 * us, 20'000 * us).rto_ns(), 500 * us);  // initial clamped
}

TEST(Rto, BackoffDoublesPerRetryUpToTheCeiling) {
  RtoEstimator r(1'000 * us, 100 * us, 10'000 * us);
  EXPECT_EQ(r.timeout_ns(0), 1'000 * us);
  EXPECT_EQ(r.timeout_ns(1), 2'000 * us);
  EXPECT_EQ(r.timeout_ns(3), 8'000 * us);
  EXPECT_EQ(r.timeout_ns(4), 10'000 * us);
  EXPECT_EQ(r.timeout_ns(63), 10'000 * us);
  EXPECT_EQ(r.timeout_ns(200), 10'000 * us);
}

TEST(Rto, SpuriousRetryRaisesTheEstimateToThatRoundTrip) {
  RtoEstimator r(50'000 * us, 100 * us, 1'000'000 * us);
  for (std::uint64_t t = 1; t < 100; ++t) r.sample(200 * us, t * 1000 * us);
  const std::uint64_t before = r.rto_ns();
  EXPECT_LT(before, 1'000 * us);
  r.spurious(5'000 * us);  // the server stalled 5 ms
  EXPECT_EQ(r.srtt_ns(), 5'000 * us);
  EXPECT_EQ(r.rto_ns(), 5'000 * us + 4 * 2'500 * us);
  // Samples bring it back down over a few round trips, not at once.
  r.sample(200 * us, 200'000 * us);
  EXPECT_GT(r.rto_ns(), 5'000 * us);
  for (std::uint64_t t = 0; t < 200; ++t) r.sample(200 * us, 300'000 * us + t * 20'000 * us);
  EXPECT_LT(r.rto_ns(), 2 * before);
}

}  // namespace
}  // namespace buddy::kv
