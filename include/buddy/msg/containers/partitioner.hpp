// Partitioners: which rank owns a key, the same answer on every rank of a job.
//
// hash_partitioner<K>: owner(k) = (key_hash(k, salt) * ranks) >> 64, a multiply-high of a 64-bit
// hash, so the owners are uniform over the ranks for any rank count. key_hash is this file's
// own hash, not std::hash (whose values are not specified and may differ between builds):
//   integers and enums       splitmix64's finalizer of (value xor salt)
//   std::string               64-bit FNV-1a of the bytes seeded with the salt, then the finalizer
//   pair / tuple / array      the members' hashes combined in order
//   vector                    its length and its elements' hashes combined in order
//   other trivially copyable  FNV-1a of the object's bytes, only for types whose bytes are
//                             their value (std::has_unique_object_representations: no padding,
//                             no floats); anything else is a compile error naming the fix
// The salt (default_salt) decorrelates the owner from the containers' local hash tables, which
// hash with local_salt: with one salt, every key on a rank would share its top bits.
//
// block_partitioner: n indices in blocks of ceil(n / ranks), rank r owning [r*block,
// (r+1)*block) (the last ranks may own fewer, or none). Used by array<T>.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace buddy::msg::containers {

inline constexpr std::uint64_t default_salt = 0x9E3779B97F4A7C15ull;
inline constexpr std::uint64_t local_salt = 0xC2B2AE3D27D4EB4Full;

inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::uint64_t fnv1a_bytes(const void* data, std::size_t n, std::uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return mix64(h);
}

template <class T>
struct key_hasher;

template <class T>
std::uint64_t key_hash(const T& v, std::uint64_t salt) {
  return key_hasher<T>::hash(v, salt);
}

inline std::uint64_t combine(std::uint64_t h, std::uint64_t next) {
  return mix64(h ^ (next + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2)));
}

template <class T>
struct key_hasher {
  static std::uint64_t hash(const T& v, std::uint64_t salt) {
    if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      return mix64(static_cast<std::uint64_t>(v) ^ salt);
    } else {
      static_assert(std::is_trivially_copyable_v<T> && std::has_unique_object_representations_v<T>,
                    "buddy::msg::containers: no key hash for this type: use an integer, "
                    "std::string, pair/tuple/array/vector of those, or a padding-free struct of "
                    "integers (or give the container your own partitioner and hash)");
      return fnv1a_bytes(&v, sizeof(T), salt);
    }
  }
};
template <>
struct key_hasher<std::string> {
  static std::uint64_t hash(const std::string& s, std::uint64_t salt) {
    return fnv1a_bytes(s.data(), s.size(), salt);
  }
};
template <class A, class B>
struct key_hasher<std::pair<A, B>> {
  static std::uint64_t hash(const std::pair<A, B>& p, std::uint64_t salt) {
    return combine(key_hash(p.first, salt), key_hash(p.second, salt));
  }
};
template <class... Ts>
struct key_hasher<std::tuple<Ts...>> {
  static std::uint64_t hash(const std::tuple<Ts...>& t, std::uint64_t salt) {
    std::uint64_t h = salt;
    std::apply([&](const auto&... m) { ((h = combine(h, key_hash(m, salt))), ...); }, t);
    return h;
  }
};
template <class T, std::size_t N>
struct key_hasher<std::array<T, N>> {
  static std::uint64_t hash(const std::array<T, N>& a, std::uint64_t salt) {
    std::uint64_t h = salt;
    for (const T& x : a) h = combine(h, key_hash(x, salt));
    return h;
  }
};
template <class T, class Alloc>
struct key_hasher<std::vector<T, Alloc>> {
  static std::uint64_t hash(const std::vector<T, Alloc>& v, std::uint64_t salt) {
    std::uint64_t h = mix64(v.size() ^ salt);
    for (const T& x : v) h = combine(h, key_hash(x, salt));
    return h;
  }
};

// The hash the containers' local tables use (std::unordered_* Hash parameter).
template <class K>
struct local_hash {
  std::size_t operator()(const K& k) const {
    return static_cast<std::size_t>(key_hash(k, local_salt));
  }
};

template <class K>
struct hash_partitioner {
  std::uint64_t salt = default_salt;
  int owner(const K& k, int ranks) const {
    __extension__ using u128 = unsigned __int128;
    return static_cast<int>(
        (static_cast<u128>(key_hash(k, salt)) * static_cast<std::uint64_t>(ranks)) >> 64);
  }
};

struct block_partitioner {
  std::uint64_t total = 0;
  std::uint64_t block = 1;  // ceil(total / ranks), at least 1
  block_partitioner() = default;
  block_partitioner(std::uint64_t n, int ranks)
      : total(n),
        block(n == 0 ? 1
                     : (n + static_cast<std::uint64_t>(ranks) - 1) /
                           static_cast<std::uint64_t>(ranks)) {}
  int owner(std::uint64_t i) const { return static_cast<int>(i / block); }
  std::uint64_t local_index(std::uint64_t i) const { return i % block; }
  std::uint64_t first(int rank) const {
    const std::uint64_t lo = static_cast<std::uint64_t>(rank) * block;
    return lo < total ? lo : total;
  }
  std::uint64_t local_size(int rank) const {
    const std::uint64_t lo = first(rank);
    return total - lo < block ? total - lo : block;
  }
};

}  // namespace buddy::msg::containers
