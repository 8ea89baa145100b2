// The client's retransmission timeout for one serving port, from measured round trips (RFC 6298,
// "Computing TCP's Retransmission Timer"): the first sample R sets srtt = R, rttvar = R/2; each
// later one rttvar = 3/4 rttvar + 1/4 |srtt - R|, srtt = 7/8 srtt + 1/8 R; rto = srtt + 4 rttvar,
// clamped to [floor, ceiling]. Before any sample rto is the configured initial value. As in TCP,
// one sample per round trip counts (the first offered once srtt has passed since the last), so a
// burst of answers that travelled together is one sample and the estimate keeps a stall in mind
// for a few round trips. Karn's rule (no sample from a retransmitted request) is the caller's: it
// only offers first transmissions. spurious() is the Eifel response (RFC 4015): a retransmission
// that the answer to an earlier copy overtook shows the round trip was longer than the timeout;
// the estimate takes that round trip as its floor, so the next stall does not resend the window.
// A request that was sent `level` times before waits rto << level (exponential backoff), capped at
// the ceiling; a new request starts at level 0 again. Integer nanoseconds, no allocation.
#pragma once

#include <algorithm>
#include <cstdint>

namespace buddy::kv {

class RtoEstimator {
 public:
  RtoEstimator(std::uint64_t initial_ns, std::uint64_t floor_ns, std::uint64_t ceiling_ns) noexcept
      : floor_(floor_ns),
        ceiling_(std::max(ceiling_ns, floor_ns)),
        rto_(std::clamp(initial_ns, floor_, ceiling_)) {}

  // One round trip of a request sent once (Karn: never one that was retransmitted), measured at
  // now_ns. Returns whether it was taken (false: less than srtt after the last one taken).
  bool sample(std::uint64_t rtt_ns, std::uint64_t now_ns) noexcept {
    if (samples_ != 0 && now_ns < last_ns_ + srtt_ && now_ns >= last_ns_) return false;
    last_ns_ = now_ns;
    if (samples_ == 0) {
      srtt_ = rtt_ns;
      rttvar_ = rtt_ns / 2;
    } else {
      const std::uint64_t dev = srtt_ > rtt_ns ? srtt_ - rtt_ns : rtt_ns - srtt_;
      rttvar_ = rttvar_ - rttvar_ / 4 + dev / 4;
      srtt_ = srtt_ - srtt_ / 8 + rtt_ns / 8;
    }
    ++samples_;
    rto_ = std::clamp(srtt_ + 4 * rttvar_, floor_, ceiling_);
    return true;
  }

  // A retransmission turned out unneeded: the answer to an earlier copy came rtt_ns after that
  // copy was sent. srtt and rttvar rise to at least rtt_ns and rtt_ns / 2 (rto >= 3 rtt_ns).
  void spurious(std::uint64_t rtt_ns) noexcept {
    srtt_ = std::max(srtt_, rtt_ns);
    rttvar_ = std::max(rttvar_, rtt_ns / 2);
    if (samples_ == 0) samples_ = 1;
    rto_ = std::clamp(srtt_ + 4 * rttvar_, floor_, ceiling_);
  }

  // How long a request waits for its answer after its (level+1)-th transmission.
  std::uint64_t timeout_ns(unsigned level) const noexcept {
    if (level >= 63 || (rto_ << level) >> level != rto_) return ceiling_;
    return std::min(rto_ << level, ceiling_);
  }

  std::uint64_t rto_ns() const noexcept { return rto_; }
  std::uint64_t srtt_ns() const noexcept { return srtt_; }
  std::uint64_t rttvar_ns() const noexcept { return rttvar_; }
  std::uint64_t samples() const noexcept { return samples_; }

 private:
  std::uint64_t floor_;
  std::uint64_t ceiling_;
  std::uint64_t rto_;
  std::uint64_t srtt_ = 0;
  std::uint64_t rttvar_ = 0;
  std::uint64_t samples_ = 0;
  std::uint64_t last_ns_ = 0;  // when the last sample was taken
};

}  // namespace buddy::kv
