// buddy::qp errors: one exception type whose message is a single line naming what went wrong.
#pragma once

#include <stdexcept>

namespace buddy::qp {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace buddy::qp
