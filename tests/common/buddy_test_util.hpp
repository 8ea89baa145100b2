// Helpers every Buddy test suite shares: the test-payload mixer, the sanitizer scale-down, the
// soak factor, names for shared-memory segments, and a guard that never leaves a forked child
// behind.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace buddy::testing {

// splitmix64 finaliser: a bijection, used to make keys, values and checksums from numbers.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Sanitizer builds run the same tests on smaller counts.
#if defined(BUDDY_SANITIZER)
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif

// Soak tests (ctest label `soak`) run briefly by default; `./buddy test --long` sets
// BUDDY_SOAK=10 (or BUDDY_SOAK=N) and they run that many times longer: soak(n) = n * factor.
inline std::uint64_t soak_factor() {
  static const std::uint64_t f = [] {
    const char* s = std::getenv("BUDDY_SOAK");
    const long v = s != nullptr ? std::strtol(s, nullptr, 10) : 1;
    return static_cast<std::uint64_t>(v >= 1 ? v : 1);
  }();
  return f;
}
inline std::uint64_t soak(std::uint64_t n) {
  return n * soak_factor();
}

// A segment name unique to this process and call, so parallel test runs never collide.
inline std::string unique_name(const std::string& what) {
  static std::atomic<int> counter{0};
  std::string s = "test-";
  s += what;
  s += '-';
  s += std::to_string(::getpid());
  s += '-';
  s += std::to_string(counter++);
  return s;
}

// Owns a forked child: wait_status() reaps it; if the test fails first, the child is killed.
struct ChildGuard {
  pid_t pid = -1;
  bool reaped = false;
  int wait_status() {
    int st = 0;
    ::waitpid(pid, &st, 0);
    reaped = true;
    return st;
  }
  ~ChildGuard() {
    if (!reaped && pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace buddy::testing
