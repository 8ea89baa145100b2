// buddykv store: limits, operation and result codes, and the one exception type (bad config).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace buddy::kv {

inline constexpr std::size_t kMaxKeyBytes = 255;
inline constexpr std::size_t kMaxValueBytes = std::size_t{1} << 20;  // 1 MiB

// What an operation did. Bad input and a full store are answers, never crashes.
enum class Status : std::uint8_t {
  ok,
  not_found,        // GET/DELETE of a key that is not there (or was evicted, cache mode)
  out_of_memory,    // SET did not fit; nothing was changed (store mode) or the item is too big
  bad_key,          // key length 0 or > kMaxKeyBytes
  value_too_large,  // value length > kMaxValueBytes
};

enum class Mode : std::uint8_t {
  store,  // lossless: a full store answers out_of_memory, never drops an acknowledged SET
  cache,  // MICA circular log: old items are evicted when the log wraps
};

enum class Op : std::uint8_t { get, set, del };

constexpr std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::not_found:
      return "not_found";
    case Status::out_of_memory:
      return "out_of_memory";
    case Status::bad_key:
      return "bad_key";
    case Status::value_too_large:
      return "value_too_large";
  }
  return "unknown";
}

constexpr std::string_view to_string(Mode m) {
  return m == Mode::store ? "store" : "cache";
}

// Thrown only when a store is created with an impossible configuration; one-line message.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace buddy::kv
