#include "buddy/kv/serving/spin_budget.hpp"

#include <gtest/gtest.h>

namespace buddy::kv::serving {
namespace {

TEST(SpinBudget, SleptGapsShrinkItToTheFloor) {
  SpinBudget b;
  EXPECT_EQ(b.ns(), SpinBudget::kStartNs);
  b.gap_ended(true);
  EXPECT_EQ(b.ns(), SpinBudget::kStartNs / 2);
  for (int i = 0; i < 20; ++i) b.gap_ended(true);
  EXPECT_EQ(b.ns(), SpinBudget::kMinNs);
}

TEST(SpinBudget, GapsCaughtWhilePollingGrowItToTheCap) {
  SpinBudget b;
  b.gap_ended(false);
  EXPECT_EQ(b.ns(), SpinBudget::kStartNs * 2);
  for (int i = 0; i < 20; ++i) b.gap_ended(false);
  EXPECT_EQ(b.ns(), SpinBudget::kMaxNs);
}

TEST(SpinBudget, FollowsTheRecentGaps) {
  SpinBudget b;
  for (int i = 0; i < 20; ++i) b.gap_ended(true);
  // Short gaps coming back: two caught gaps quadruple the floor.
  b.gap_ended(false);
  b.gap_ended(false);
  EXPECT_EQ(b.ns(), SpinBudget::kMinNs * 4);
  b.gap_ended(true);
  EXPECT_EQ(b.ns(), SpinBudget::kMinNs * 2);
}

}  // namespace
}  // namespace buddy::kv::serving
