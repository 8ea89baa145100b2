// The termination rule: two consecutive equal rounds with sent == executed, nothing less.
#include "buddy/msg/detail/termination.hpp"

#include <gtest/gtest.h>

namespace buddy::msg {
namespace {

TEST(Termination, NeedsTwoEqualBalancedRounds) {
  termination_rounds t;
  EXPECT_FALSE(t.finished({0, 0}));  // one balanced round is not enough
  EXPECT_TRUE(t.finished({0, 0}));
  EXPECT_EQ(t.rounds(), 2u);
}

TEST(Termination, BalancedButChangingIsNotDone) {
  termination_rounds t;
  EXPECT_FALSE(t.finished({5, 5}));
  EXPECT_FALSE(t.finished({7, 7}));  // messages ran in between: not quiet yet
  EXPECT_TRUE(t.finished({7, 7}));
}

TEST(Termination, EqualButUnbalancedIsNotDone) {
  termination_rounds t;
  EXPECT_FALSE(t.finished({10, 9}));
  EXPECT_FALSE(t.finished({10, 9}));  // a message is still in flight
  EXPECT_FALSE(t.finished({10, 9}));
  EXPECT_FALSE(t.finished({10, 10}));
  EXPECT_TRUE(t.finished({10, 10}));
}

TEST(Termination, ExecutedAheadOfAStaleSentSnapshotIsNotDone) {
  // Snapshots are taken at different times: a round can see more executed than sent.
  termination_rounds t;
  EXPECT_FALSE(t.finished({3, 4}));
  EXPECT_FALSE(t.finished({4, 4}));
  EXPECT_TRUE(t.finished({4, 4}));
}

}  // namespace
}  // namespace buddy::msg
