// Helpers shared by the buddy::qp tests.
#pragma once

#include <cstdint>

#include "buddy_test_util.hpp"

namespace buddy::qp::testing {

using buddy::testing::ChildGuard;
using buddy::testing::kScale;
using buddy::testing::unique_name;
inline std::uint64_t mix(std::uint64_t x) {
  return buddy::testing::mix64(x);
}

}  // namespace buddy::qp::testing
