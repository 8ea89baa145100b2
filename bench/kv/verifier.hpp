// --verify for buddykv-bench: every GET answer is checked against the SETs of that key.
// Per key: `issued` (highest version handed to a SET) and `acked` (highest version whose SET was
// acknowledged). A GET that starts when acked = lo must return a version v with
// lo <= v <= issued (at answer time): older means a lost or reordered write, newer or malformed
// means corruption. Shared by every bench thread (atomics, one slot per key).
//
// UDP retransmission can legitimately re-apply an old SET after a newer one (at-least-once
// delivery with no server-side deduplication); a stale answer on a key that had a retransmitted
// SET is therefore counted apart (stale_after_retry), never hidden among the errors.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "keyspace.hpp"

namespace buddy::bench {

enum class Check : std::uint8_t { ok, bad_value, stale, stale_after_retry, missing };

class Verifier {
 public:
  Verifier(std::uint64_t keys, std::size_t value_size)
      : keys_(keys),
        value_size_(value_size),
        issued_(new std::atomic<std::uint64_t>[keys]),
        acked_(new std::atomic<std::uint64_t>[keys]),
        retried_(new std::atomic<std::uint8_t>[keys]) {
    for (std::uint64_t k = 0; k < keys; ++k) {
      issued_[k].store(0, std::memory_order_relaxed);
      acked_[k].store(0, std::memory_order_relaxed);
      retried_[k].store(0, std::memory_order_relaxed);
    }
  }

  std::uint64_t begin_set(std::uint64_t k) {
    return issued_[k].fetch_add(1, std::memory_order_relaxed) + 1;
  }
  void set_acked(std::uint64_t k, std::uint64_t v, bool retried) {
    if (retried) retried_[k].store(1, std::memory_order_relaxed);
    std::uint64_t cur = acked_[k].load(std::memory_order_relaxed);
    while (cur < v && !acked_[k].compare_exchange_weak(cur, v, std::memory_order_release,
                                                       std::memory_order_relaxed)) {
    }
  }
  void set_retried(std::uint64_t k) { retried_[k].store(1, std::memory_order_relaxed); }
  bool retried(std::uint64_t k) const { return retried_[k].load(std::memory_order_relaxed) != 0; }

  std::uint64_t begin_get(std::uint64_t k) const {
    return acked_[k].load(std::memory_order_acquire);
  }

  // found: the GET answered ok with `value`; else it answered not_found.
  Check check_get(std::uint64_t k, std::uint64_t lo, bool found, std::string_view value,
                  std::string& scratch) const {
    if (!found) return lo == 0 ? Check::ok : Check::missing;
    const std::uint64_t v = value_version(k, value, value_size_, scratch);
    if (v == 0 || v > issued_[k].load(std::memory_order_relaxed)) return Check::bad_value;
    if (v < lo) {
      return retried_[k].load(std::memory_order_relaxed) != 0 ? Check::stale_after_retry
                                                              : Check::stale;
    }
    return Check::ok;
  }

 private:
  std::uint64_t keys_;
  std::size_t value_size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> issued_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> acked_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> retried_;
};

}  // namespace buddy::bench
