// How much memory a tool may still allocate here: the kernel's MemAvailable (/proc/meminfo),
// capped by this process's address-space limit (RLIMIT_AS) when one is set. Tools check a
// request against it before allocating, and refuse with one line naming the limit instead of
// dying of std::bad_alloc (or swapping for hours).
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace buddy::tools {

// Bytes available, or nullopt when the machine does not say (no /proc/meminfo).
inline std::optional<std::uint64_t> memory_available() {
  std::optional<std::uint64_t> avail;
  if (FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    unsigned long long kib = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
        avail = static_cast<std::uint64_t>(kib) * 1024;
        break;
      }
    }
    std::fclose(f);
  }
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    const auto cap = static_cast<std::uint64_t>(as.rlim_cur);
    if (!avail || cap < *avail) avail = cap;
  }
  return avail;
}

// "1.5 GiB", "200.0 MiB": a byte count for a one-line message.
inline std::string format_bytes(std::uint64_t b) {
  char buf[32];
  if (b >= (std::uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1u << 30));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1u << 20));
  }
  return buf;
}

}  // namespace buddy::tools
