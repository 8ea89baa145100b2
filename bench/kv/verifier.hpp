// --verify for buddykv-bench: every GET answer is checked against the SETs of that key.
// Per key: `issued` (highest version handed to a SET) and `acked` (highest version whose SET was
// acknowledged). A GET that starts when acked = lo must return a version v with
// lo <= v <= issued (at answer time): older means a lost or reordered write, newer or malformed
// means corruption. Shared by every bench thread (atomics, one slot per key).
//
// Many servers (cluster_target.hpp): `acked` also records which server acknowledged that
// version (low 16 bits: 1 + its id; 0 for a single server). A GET answered by another server
// than the one holding the acknowledged version at the GET's start (the key changed owners:
// servers joined or left, and data does not migrate) is only checked for corruption and counted
// as a moved read; read_back() at the end asks each key's acknowledging server directly.
//
// UDP retransmission can legitimately re-apply an old SET after a newer one (at-least-once
// delivery with no server-side deduplication); a stale answer on a key that had a retransmitted
// SET is therefore counted apart (stale_after_retry), never hidden among the errors.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "keyspace.hpp"

namespace buddy::bench {

enum class Check : std::uint8_t { ok, bad_value, stale, stale_after_retry, missing };

class Verifier {
 public:
  // What --verify keeps per key of the key space (one KeyState), allocated up front.
  static constexpr std::size_t kBytesPerKey = 32;

  Verifier(std::uint64_t keys, ValueSizes sizes)
      : sizes_(std::move(sizes)), keys_(new KeyState[keys]) {}

  std::uint64_t begin_set(std::uint64_t k) {
    return keys_[k].issued.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  void set_acked(std::uint64_t k, std::uint64_t v, bool retried, std::uint32_t server = 0) {
    KeyState& st = keys_[k];
    if (retried) st.retried.store(1, std::memory_order_relaxed);
    const std::uint64_t want = v << kServerBits | (server & kServerMask);
    std::uint64_t cur = st.acked.load(std::memory_order_relaxed);
    while ((cur >> kServerBits) < v &&
           !st.acked.compare_exchange_weak(cur, want, std::memory_order_release,
                                           std::memory_order_relaxed)) {
    }
  }
  void set_retried(std::uint64_t k) { keys_[k].retried.store(1, std::memory_order_relaxed); }
  bool retried(std::uint64_t k) const {
    return keys_[k].retried.load(std::memory_order_relaxed) != 0;
  }

  std::uint64_t begin_get(std::uint64_t k) const {
    return keys_[k].acked.load(std::memory_order_acquire) >> kServerBits;
  }
  // The acknowledged version and (1 + id of) the server that acknowledged it.
  std::pair<std::uint64_t, std::uint32_t> acked(std::uint64_t k) const {
    const std::uint64_t a = keys_[k].acked.load(std::memory_order_acquire);
    return {a >> kServerBits, static_cast<std::uint32_t>(a & kServerMask)};
  }
  // A GET answered by another server than the one that held `lo`: only a corrupt value or a
  // version never issued is an error (the key changed owners; no migration).
  Check check_moved_get(std::uint64_t k, bool found, std::string_view value,
                        std::string& scratch) const {
    if (!found) return Check::ok;
    const std::uint64_t v = value_version(k, value, sizes_, scratch);
    return v == 0 || v > keys_[k].issued.load(std::memory_order_relaxed) ? Check::bad_value
                                                                         : Check::ok;
  }

  // The final read-back (every acknowledged key read once more after the run): the key's last
  // answer must hold its highest acknowledged version or a newer one that was issued. Unlike
  // check_get it makes no allowance for retransmitted SETs: an older value is a lost write.
  Check check_final(std::uint64_t k, bool found, std::string_view value,
                    std::string& scratch) const {
    const std::uint64_t lo = acked(k).first;
    if (!found) return lo == 0 ? Check::ok : Check::missing;
    const std::uint64_t v = value_version(k, value, sizes_, scratch);
    if (v == 0 || v > keys_[k].issued.load(std::memory_order_relaxed)) return Check::bad_value;
    return v < lo ? Check::stale : Check::ok;
  }

  // found: the GET answered ok with `value`; else it answered not_found.
  Check check_get(std::uint64_t k, std::uint64_t lo, bool found, std::string_view value,
                  std::string& scratch) const {
    if (!found) return lo == 0 ? Check::ok : Check::missing;
    const std::uint64_t v = value_version(k, value, sizes_, scratch);
    if (v == 0 || v > keys_[k].issued.load(std::memory_order_relaxed)) return Check::bad_value;
    if (v < lo) return retried(k) ? Check::stale_after_retry : Check::stale;
    return Check::ok;
  }

 private:
  // One key's state in one 32-byte slot: a check costs one cache miss, not three.
  struct alignas(32) KeyState {
    std::atomic<std::uint64_t> issued{0};
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint8_t> retried{0};
  };
  static_assert(sizeof(KeyState) == kBytesPerKey);
  static constexpr unsigned kServerBits = 16;
  static constexpr std::uint64_t kServerMask = (std::uint64_t{1} << kServerBits) - 1;
  ValueSizes sizes_;
  std::unique_ptr<KeyState[]> keys_;
};

}  // namespace buddy::bench
