// HDR-style latency histogram: log-linear buckets (each power of two split into 32 sub-buckets,
// so any value is recorded within 3.1%), fixed memory, mergeable across threads.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace buddy::tools {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr unsigned kSub = 1u << kSubBits;
  static constexpr unsigned kBuckets = (64 - kSubBits + 1) * kSub;

  void record(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    ++total_;
    if (v > max_) max_ = v;
  }
  void merge(const LatencyHistogram& o) noexcept {
    for (unsigned i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  // The value at quantile q in [0, 1]: the upper edge of the bucket holding it (never below).
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto want = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (want >= total_) want = total_ - 1;
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > want) {
        const std::uint64_t hi = upper(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

  static unsigned index(std::uint64_t v) noexcept {
    if (v < kSub) return static_cast<unsigned>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - kSubBits;
    return (shift + 1) * kSub + static_cast<unsigned>((v >> shift) & (kSub - 1));
  }
  static std::uint64_t upper(unsigned i) noexcept {
    if (i < kSub) return i;
    const unsigned shift = i / kSub - 1;
    const std::uint64_t sub = i % kSub;
    return (((kSub + sub + 1) << shift) - 1);
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace buddy::tools
