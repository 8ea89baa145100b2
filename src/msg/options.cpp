#include "buddy/msg/options.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "buddy/msg/error.hpp"

namespace buddy::msg {

std::optional<routing> parse_routing(std::string_view s) {
  if (s == "none") return routing::none;
  if (s == "nr") return routing::nr;
  if (s == "nlnr") return routing::nlnr;
  return std::nullopt;
}

const char* to_string(routing r) {
  switch (r) {
    case routing::none:
      return "none";
    case routing::nr:
      return "nr";
    case routing::nlnr:
      return "nlnr";
  }
  return "?";
}

namespace {

// A whole decimal number in [lo, hi], or a one-line error naming the variable.
long long parse_int(const char* var, const char* text, long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    throw error(std::string(var) + ": '" + text + "' is not a whole number in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

}  // namespace

options options::from_env(options base) {
  if (const char* r = std::getenv("BUDDY_ROUTING"); r != nullptr && *r != '\0') {
    const auto parsed = parse_routing(r);
    if (!parsed) {
      throw error(std::string("BUDDY_ROUTING: unknown value '") + r +
                  "' (expected none, nr or nlnr)");
    }
    base.route = *parsed;
  }
  if (const char* b = std::getenv("BUDDY_BUFFER_KB"); b != nullptr && *b != '\0') {
    base.buffer_kb = static_cast<std::size_t>(parse_int("BUDDY_BUFFER_KB", b, 1, 1 << 20));
  }
  if (const char* k = std::getenv("BUDDY_RANKS_PER_NODE"); k != nullptr && *k != '\0') {
    base.ranks_per_node = static_cast<int>(parse_int("BUDDY_RANKS_PER_NODE", k, 0, 1 << 20));
  }
  base.validate();
  return base;
}

options options::from_env() {
  return from_env(options{});
}

void options::validate() const {
  if (buffer_kb < 1 || buffer_kb > (1u << 20)) {
    throw error("buddy::msg options: buffer_kb " + std::to_string(buffer_kb) +
                " is outside [1, 1048576]");
  }
  if (ranks_per_node < 0) {
    throw error("buddy::msg options: ranks_per_node " + std::to_string(ranks_per_node) +
                " is negative");
  }
  if (parse_routing(to_string(route)) != route) {
    throw error("buddy::msg options: unknown routing value");
  }
}

}  // namespace buddy::msg
