// CPU lists on command lines: "1", "0,1", "0-3", "0,2-3" (as taskset takes them).
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

namespace buddy::tools {

// The cpus of the list in order, or nullopt when it is not a list of cpus 0..4095.
inline std::optional<std::vector<int>> parse_cpu_list(std::string_view s) {
  std::vector<int> cpus;
  auto number = [](std::string_view t, int& v) {
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    return !t.empty() && r.ec == std::errc{} && r.ptr == t.data() + t.size();
  };
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string_view part = s.substr(0, comma);
    const std::size_t dash = part.find('-');
    int lo = 0, hi = 0;
    if (!number(part.substr(0, dash), lo)) return std::nullopt;
    hi = lo;
    if (dash != std::string_view::npos && !number(part.substr(dash + 1), hi)) return std::nullopt;
    if (lo < 0 || hi < lo || hi > 4095) return std::nullopt;
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
    if (s.empty()) return std::nullopt;  // trailing comma
  }
  return cpus;
}

}  // namespace buddy::tools
