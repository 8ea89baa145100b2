// Validating readers for buddykv datagrams. Every length is checked against the datagram before
// anything is read; a datagram that does not frame exactly is rejected as a whole with a reason
// (the server drops and counts it), so a malformed datagram can never make the server read past
// its buffer. Requests that frame correctly but make no sense (unknown opcode, bad key length,
// wrong hash) are answered one by one with Status::malformed by the server (see check_request).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "buddy/kv/wire/format.hpp"

namespace buddy::kv::wire {

// Why a whole datagram was dropped. Counted per reason by servers and clients. The parsers
// return none .. bad_control; oversize is the receiver's own finding (the datagram was larger
// than its buffer and arrived truncated).
enum class Drop : std::uint8_t {
  none = 0,
  short_header,  // fewer than 16 bytes
  bad_magic,
  bad_version,
  bad_kind,     // e.g. a response sent to a server
  bad_length,   // payload_bytes differs from the datagram's size - 16
  bad_count,    // 0 or more than kMaxCount entries, or more than the reader can hold
  truncated,    // an entry's header, key or value runs past the end of the datagram
  trailing,     // bytes left over after the last entry
  bad_control,  // unknown control command or malformed control body
  oversize,     // larger than the receiver's buffer (its max_datagram)
};
inline constexpr std::size_t kDropReasons = 11;

constexpr std::string_view to_string(Drop d) {
  constexpr std::array<std::string_view, kDropReasons> names{
      "none",      "short_header", "bad_magic", "bad_version", "bad_kind", "bad_length",
      "bad_count", "truncated",    "trailing",  "bad_control", "oversize"};
  const auto i = static_cast<std::size_t>(d);
  return i < names.size() ? names[i] : "unknown";
}

// One request as it sits in the datagram: key and value point into the datagram's bytes.
struct RequestView {
  RequestHeader h;
  std::string_view key;
  std::string_view value;
};

struct ResponseView {
  ResponseHeader h;
  std::string_view value;
};

template <class View>
struct Parsed {
  Drop drop = Drop::none;  // none: the datagram framed exactly and `count` entries were filled
  DatagramHeader header{};
  std::size_t count = 0;
};

// Reads the 16-byte datagram header and checks magic, version, kind and payload_bytes.
Drop read_header(std::span<const std::byte> dgram, Kind expected, DatagramHeader& out) noexcept;

// Frames a request datagram into out[0..count). Nothing in `out` is meaningful unless
// drop == Drop::none.
Parsed<RequestView> parse_requests(std::span<const std::byte> dgram,
                                   std::span<RequestView> out) noexcept;
Parsed<ResponseView> parse_responses(std::span<const std::byte> dgram,
                                     std::span<ResponseView> out) noexcept;

// Semantic check of one framed request: ok, or malformed (unknown opcode, key length 0 or
// > kMaxKeyBytes, a GET/DELETE carrying a value, nonzero flags, hash not XXH3-64 of the key).
// A ping is ok with no key, no value, flags 0 and key hash 0.
Status check_request(const RequestView& r) noexcept;

}  // namespace buddy::kv::wire
