// buddy::qp errors: one exception type whose message is a single line naming what went wrong.
#pragma once

#include <stdexcept>

namespace buddy::qp {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Segment::claim_attacher: another live process holds the segment's attacher side.
class AlreadyAttached : public Error {
 public:
  using Error::Error;
};

}  // namespace buddy::qp
