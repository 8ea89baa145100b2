// Must not compile: an argument type without a default constructor. The error must be the
// readable static_assert of comm::async, not pages of std::tuple errors.
#include "buddy/msg/comm.hpp"

struct meters {
  explicit meters(double v) : value(v) {}
  double value;
};

void send(buddy::msg::comm& world) {
  world.async(
      0, [](meters m) { (void)m; }, meters{1.0});
}
