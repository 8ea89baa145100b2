// Termination detection for barrier(), without MPI so it is unit-tested directly. Each rank
// counts messages it sent (async calls, including those made by handlers) and messages it
// executed. barrier() repeatedly all-reduces (non-blocking) a snapshot of (sent, executed)
// taken after flushing its buffers, while it keeps receiving, relaying and running handlers.
// It stops when two consecutive rounds return the same sums and sent == executed.
//
// Why that is exact: a rank starts round k only after round k-1 completed, which needs every
// rank's round k-1 snapshot, so some instant t lies after all round k-1 snapshots and before
// all round k snapshots, with every rank already inside barrier(). Counters only grow, hence
// executed(t) >= E[k-1] and sent(t) <= S[k]. If S[k] == E[k-1], then executed(t) >= sent(t);
// a message executes only after it is sent, so executed(t) == sent(t): at t nothing was in
// flight anywhere and no handler was running, and no rank inside barrier() creates messages on
// its own, so nothing can ever arrive again. Relays are not counted: a relayed message is
// "sent, not executed" until its handler runs at the destination.
#pragma once

#include <cstdint>
#include <optional>

namespace buddy::msg {

struct counts {
  std::uint64_t sent = 0;
  std::uint64_t executed = 0;
  friend bool operator==(const counts&, const counts&) = default;
};

class termination_rounds {
 public:
  // Feed the global sums of one completed round; true when the barrier may return.
  bool finished(counts round) {
    const bool done = previous_ && *previous_ == round && round.sent == round.executed;
    previous_ = round;
    ++rounds_;
    return done;
  }
  std::uint64_t rounds() const { return rounds_; }

 private:
  std::optional<counts> previous_;
  std::uint64_t rounds_ = 0;
};

}  // namespace buddy::msg
