// Helpers shared by the buddy::qp tests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace buddy::qp::testing {

// A segment name unique to this process and call, so parallel test runs never collide.
inline std::string unique_name(const std::string& what) {
  static std::atomic<int> counter{0};
  return "test-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// splitmix64: the checksum/pattern function for test payloads.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Sanitizer builds run the same tests on smaller counts.
#if defined(BUDDY_SANITIZER)
inline constexpr std::uint64_t kScale = 10;
#else
inline constexpr std::uint64_t kScale = 1;
#endif

}  // namespace buddy::qp::testing
