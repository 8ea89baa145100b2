// Byte sizes on command lines: "4096", "64K", "256M", "2G" (powers of 1024). Kept rather than
// CLI11's AsSizeValue, which takes "-5" as 2^64 - 5 and answers "1.5G" with "Value 1.5 could
// not be converted to UINT"; this one answers every bad size with the same one line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace buddy::tools {

inline std::optional<std::uint64_t> parse_size(const std::string& s) {
  // Digits first: stoull alone would skip blanks and take "-5" as 2^64 - 5.
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  std::size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = s.substr(pos);
  unsigned shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K" || unit == "KiB" || unit == "k") {
    shift = 10;
  } else if (unit == "M" || unit == "MiB") {
    shift = 20;
  } else if (unit == "G" || unit == "GiB") {
    shift = 30;
  } else {
    return std::nullopt;
  }
  if (shift != 0 && v > (~0ull >> shift)) return std::nullopt;
  return static_cast<std::uint64_t>(v) << shift;
}

// A CLI11 validator-like check: "" when fine, else a reason.
inline std::string check_size(const std::string& s) {
  return parse_size(s) ? std::string{} : "'" + s + "' is not a size (e.g. 4096, 64K, 256M, 2G)";
}

}  // namespace buddy::tools
