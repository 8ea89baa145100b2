// Which server of a cluster owns a key: a stable function of the key's 64-bit hash and the set of
// live server ids (docs/kv-cluster.md, "Routing").
//
// Server ids are small integers, 0 <= id < kServerIdSpace. The route takes bits 0..47 of the key
// hash (bits 48..63 pick the partition inside a server, kv/store/hash.hpp), mixes them into a
// 64-bit key and runs jump consistent hashing (Lamping and Veach, 2014) over kServerIdSpace
// buckets, keeping every "jump point" it passes (0 = j0 < j1 < ... < jn < kServerIdSpace). The
// owner is the largest jump point that is a live id. With live ids 0..N-1 that is exactly
// jump(key, N); with holes, the share of an absent id goes to the key's next lower jump point.
// A key's jump points do not depend on the live set, so:
//   - a server that joins takes keys only for itself (1/N of them when it takes id N);
//   - a server that leaves hands only its own keys to others; no key moves between the rest.
// If none of a key's jump points is live (only when id 0 is absent), the key is re-mixed and
// tried again (a fixed number of rounds), then falls back to the live ids in order.
//
//   buddy::kv::ServerSet s({0, 1, 2});
//   std::uint32_t id = s.owner(buddy::kv::wire::key_hash("k"));   // 0, 1 or 2
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace buddy::kv {

inline constexpr std::uint32_t kServerIdSpace = 1024;

// The 64-bit key the route runs on: bits 0..47 of the key hash, mixed (splitmix64's finalizer).
std::uint64_t route_key(std::uint64_t key_hash) noexcept;
// Jump consistent hashing: the bucket of `key` among `buckets` (>= 1).
std::uint32_t jump_hash(std::uint64_t key, std::uint32_t buckets) noexcept;

class ServerSet {
 public:
  ServerSet() = default;
  // ids: distinct, each < kServerIdSpace (throws std::invalid_argument otherwise); any order.
  explicit ServerSet(std::vector<std::uint32_t> ids);

  bool empty() const noexcept { return ids_.empty(); }
  bool contains(std::uint32_t id) const noexcept {
    return id < kServerIdSpace && ((live_[id / 64] >> (id % 64)) & 1) != 0;
  }
  const std::vector<std::uint32_t>& ids() const noexcept { return ids_; }  // ascending
  // The id owning the key with this hash; the set must not be empty.
  std::uint32_t owner(std::uint64_t key_hash) const noexcept;

 private:
  std::vector<std::uint32_t> ids_;
  std::array<std::uint64_t, kServerIdSpace / 64> live_{};
};

}  // namespace buddy::kv
