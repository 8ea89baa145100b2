// msg_stale_segment NAME: leaves behind a buddy::msg segment named NAME whose creator is dead,
// as a crashed run would (a child creates it and exits without removing it).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/qp/segment.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: msg_stale_segment NAME\n");
    return 2;
  }
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      auto* leaked = new buddy::qp::Segment(
          buddy::qp::Segment::create(argv[1], buddy::msg::offload::segment_layout(16)));
      (void)leaked;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "msg_stale_segment: %s\n", e.what());
      ::_exit(1);
    }
    ::_exit(0);  // no destructor: the name stays
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
