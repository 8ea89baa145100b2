// CPU lists on command lines: "1", "0,1", "0-3", "0,2-3" (as taskset takes them), checked
// against the cpus this process may run on.
#pragma once

#include <sched.h>

#include <charconv>
#include <optional>
#include <string>
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

// The cpus this process may run on (its affinity mask), as a list like "0-1" or "0,2-3".
inline std::string usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return "?";
  std::string s;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int hi = c;
    while (hi + 1 < CPU_SETSIZE && CPU_ISSET(hi + 1, &set)) ++hi;
    if (!s.empty()) s += ',';
    s += std::to_string(c);
    if (hi != c) s += '-' + std::to_string(hi);
    c = hi;
  }
  return s;
}

// Parses `text` (the value of `flag`) into out; "" when it is a list of cpus this process may
// run on, else a one-line reason naming the flag, e.g. "--cpus: cpu 99 does not exist here
// (usable cpus: 0-1)". An empty text (the flag left out) is an empty list (not pinned).
inline std::string parse_usable_cpus(std::string_view flag, std::string_view text,
                                     std::vector<int>& out) {
  const auto list = parse_cpu_list(text);
  if (!list) {
    return std::string(flag) + ": '" + std::string(text) + "' is not a cpu list like 0,1 or 0-3";
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  const bool known = sched_getaffinity(0, sizeof set, &set) == 0;
  for (int c : *list) {
    if (known && (c >= CPU_SETSIZE || !CPU_ISSET(c, &set))) {
      return std::string(flag) + ": cpu " + std::to_string(c) +
             " does not exist here (usable cpus: " + usable_cpus() + ")";
    }
  }
  out = *list;
  return {};
}

// A CLI11 check for a cpu list option: "" unless the list given is empty (`--cpus ''`), which is
// refused like `--segment ''` rather than taken as "not pinned" (leave the flag out for that).
inline std::string check_cpu_list_not_empty(const std::string& text) {
  return text.empty() ? "an empty cpu list (leave the flag out to run unpinned)" : std::string();
}

// For a single cpu number option (-1: not pinned), as a CLI11 check: "" when `text` is a
// negative number, not a number (CLI11's conversion then says so) or a cpu this process may
// run on, else "cpu 99 does not exist here (usable cpus: 0-1)".
inline std::string check_usable_cpu(std::string_view text) {
  int c = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), c);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || c < 0) return {};
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {};
  if (c < CPU_SETSIZE && CPU_ISSET(c, &set)) return {};
  return "cpu " + std::to_string(c) + " does not exist here (usable cpus: " + usable_cpus() + ")";
}

}  // namespace buddy::tools
