#include "buddy/msg/transport/options.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "buddy/msg/transport/error.hpp"

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

std::optional<run_mode> parse_mode(std::string_view s) {
  if (s == "inline") return run_mode::inline_mode;
  if (s == "offload") return run_mode::offload;
  return std::nullopt;
}

const char* to_string(run_mode m) {
  return m == run_mode::offload ? "offload" : "inline";
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
  if (const char* m = std::getenv("BUDDY_MODE"); m != nullptr && *m != '\0') {
    const auto parsed = parse_mode(m);
    if (!parsed) {
      throw error(std::string("BUDDY_MODE: unknown value '") + m +
                  "' (expected inline or offload)");
    }
    base.mode = *parsed;
  }
  if (const char* r = std::getenv("BUDDY_RING_KB"); r != nullptr && *r != '\0') {
    base.ring_kb = static_cast<std::size_t>(parse_int("BUDDY_RING_KB", r, 16, 1 << 20));
  }
  if (const char* e = std::getenv("BUDDY_ENGINES_PER_NODE"); e != nullptr && *e != '\0') {
    base.engines_per_node = static_cast<int>(parse_int("BUDDY_ENGINES_PER_NODE", e, 1, 64));
  }
  if (const char* t = std::getenv("BUDDY_ENGINE_TIMEOUT_MS"); t != nullptr && *t != '\0') {
    base.engine_timeout_ms =
        static_cast<int>(parse_int("BUDDY_ENGINE_TIMEOUT_MS", t, 100, 3600000));
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
  if (ring_kb < 16 || ring_kb > (1u << 20) || (ring_kb & (ring_kb - 1)) != 0) {
    throw error("buddy::msg options: ring_kb " + std::to_string(ring_kb) +
                " is not a power of two in [16, 1048576] (BUDDY_RING_KB)");
  }
  if (engines_per_node < 1 || engines_per_node > 64) {
    throw error("buddy::msg options: engines_per_node " + std::to_string(engines_per_node) +
                " is outside [1, 64]");
  }
  if (engine_timeout_ms < 100) {
    throw error("buddy::msg options: engine_timeout_ms " + std::to_string(engine_timeout_ms) +
                " is below 100");
  }
  if (parse_mode(to_string(mode)) != mode) throw error("buddy::msg options: unknown mode value");
  if (parse_routing(to_string(route)) != route) {
    throw error("buddy::msg options: unknown routing value");
  }
}

}  // namespace buddy::msg
