// A struct of 64-bit fields shared between threads or processes without locks: the owner thread
// publishes a copy with relaxed atomic stores, word by word, and any thread reads one back. Each
// field is exact as of the owner's last publish; fields of one read may come from two
// consecutive publishes. The words are address-free lock-free atomics, so the copy may live in
// shared memory (the kv engine block). No names here: the struct's field table
// (base/fields.hpp) names the fields; this only moves its words.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace buddy::base {

template <class S>
class SharedWords {
 public:
  static constexpr std::size_t kWords = sizeof(S) / sizeof(std::uint64_t);
  static_assert(std::is_trivially_copyable_v<S> && sizeof(S) == kWords * sizeof(std::uint64_t),
                "SharedWords needs a struct of 64-bit fields");
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  using Words = std::array<std::uint64_t, kWords>;

  void publish(const S& s) noexcept {  // owner thread
    const auto a = std::bit_cast<Words>(s);
    for (std::size_t i = 0; i < kWords; ++i) w_[i].store(a[i], std::memory_order_relaxed);
  }
  S read() const noexcept {  // any thread
    Words a{};
    for (std::size_t i = 0; i < kWords; ++i) a[i] = w_[i].load(std::memory_order_relaxed);
    return std::bit_cast<S>(a);
  }

 private:
  std::array<std::atomic<std::uint64_t>, kWords> w_{};
};

}  // namespace buddy::base
