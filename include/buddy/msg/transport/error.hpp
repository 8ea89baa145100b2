// buddy::msg errors: one exception type whose message is a single line naming what went wrong
// (bad configuration, a corrupt message buffer, misuse such as barrier() inside a handler).
#pragma once

#include <stdexcept>

namespace buddy::msg {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace buddy::msg
