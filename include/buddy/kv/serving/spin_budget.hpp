// How long an idle serving thread polls before it sleeps, learnt from its recent idle gaps (the
// classic adaptive spin): a gap that ended while it polled (or right after) doubles the budget, a
// gap it had to sleep through halves it, between kMinNs and kMaxNs. Polling costs CPU for every
// nanosecond of it; a sleep costs a fixed 20-30 us of CPU on this VM (docs/kv-designs.md): so
// poll only while recent gaps say work comes back sooner than that.
//
// Usage: if (idle_for < b.ns()) poll(); else sleep(); ... once work comes: b.gap_ended(slept);
#pragma once

#include <algorithm>
#include <cstdint>

namespace buddy::kv::serving {

class SpinBudget {
 public:
  static constexpr std::uint64_t kMinNs = 500;
  static constexpr std::uint64_t kMaxNs = 16'000;
  static constexpr std::uint64_t kStartNs = 2'000;

  std::uint64_t ns() const noexcept { return ns_; }
  // An idle gap ended: with a sleep (the budget was too short to be worth it: halve) or without.
  void gap_ended(bool slept) noexcept {
    ns_ = slept ? std::max(kMinNs, ns_ / 2) : std::min(kMaxNs, ns_ * 2);
  }

 private:
  std::uint64_t ns_ = kStartNs;
};

}  // namespace buddy::kv::serving
