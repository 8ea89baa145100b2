// A handler that fails during ~comm's final barrier (here: it uses a local_ptr that was never
// registered, and main has no explicit barrier) must end the whole job with a one-line error,
// not leave the other ranks waiting in that barrier forever.
#include "buddy/msg/comm.hpp"

int main(int argc, char** argv) {
  buddy::msg::comm world(&argc, &argv);
  const buddy::msg::local_ptr<int> nowhere;  // never registered
  if (world.rank() == 0) world.async(world.size() - 1, [nowhere]() { ++*nowhere; });
  return 0;  // ~comm: final barrier runs the handler on the last rank
}
