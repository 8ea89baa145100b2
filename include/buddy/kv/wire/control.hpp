// The control exchange on a server's base port: HELLO (which partition is served on which UDP
// port) and STATS (the server's statistics as one JSON object). Layouts in docs/protocol.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/kv/wire/format.hpp"
#include "buddy/kv/wire/parse.hpp"

namespace buddy::kv::wire {

enum class Command : std::uint8_t { hello = 1, stats = 2 };

inline constexpr std::uint32_t kMaxPartitions = 16384;  // the map must fit in one datagram
// Control answers are not bound by max_datagram (which is the serving ports' limit): any one
// fits the largest UDP datagram, so a STATS body is at most this long.
inline constexpr std::size_t kControlHeaderBytes = 24;  // DatagramHeader + ControlPrefix
inline constexpr std::size_t kMaxStatsBytes = kMaxDatagram - kControlHeaderBytes;
// A HELLO response assigns a client id: kAssignedClientBit | a 24-bit number (1..0xFFFFFF) that
// travels in the control prefix's 3 reserved bytes.
inline constexpr std::uint32_t kAssignedNumberMask = 0xFFFFFFu;

// Which UDP port owns which partition. Every partition has exactly one owner.
struct PartitionMap {
  std::uint32_t partitions = 0;
  std::uint32_t max_datagram = kDefaultDatagram;  // the largest datagram the server accepts
  std::vector<std::uint16_t> ports;               // distinct serving ports
  std::vector<std::uint16_t> owner;               // partition -> index into ports

  std::uint16_t port_index_for(std::uint64_t hash) const noexcept {
    return owner[partition_of(hash, partitions)];
  }
  // Empty when consistent, else a one-line reason.
  std::string validate() const;
};

// The size of the HELLO response datagram for a map of `ports` ports and `partitions` partitions:
// header 16 + prefix 8 + body 12 + 2 x (ports + partitions) bytes. A server refuses to start
// when its HELLO would not fit its max_datagram (docs/protocol.md section 2).
constexpr std::size_t hello_bytes(std::size_t ports, std::size_t partitions) {
  return 36 + 2 * (ports + partitions);
}

// Encoders return the datagram size, or 0 when `buf` is too small.
std::size_t encode_control_request(std::span<std::byte> buf, Command cmd, std::uint32_t client_id);
// assigned: the client id the server gives this client for its data requests (bit 31 set,
// wire::sequenced_client), carried in the HELLO response's prefix; 0: none.
// flags: the HELLO body's flags word (kHelloEngineDown).
std::size_t encode_hello(std::span<std::byte> buf, std::uint32_t client_id, const PartitionMap& m,
                         std::uint32_t assigned = 0, std::uint16_t flags = 0);
// HELLO flag: the engine is down (restarting, or lost): the ports its threads serve do not answer
// now; a client keeps its requests for them and asks HELLO again (docs/protocol.md section 2).
inline constexpr std::uint16_t kHelloEngineDown = 1;
std::size_t encode_stats(std::span<std::byte> buf, std::uint32_t client_id, std::string_view json);

struct ControlRequest {
  Drop drop = Drop::none;
  DatagramHeader header{};
  Command cmd = Command::hello;
};
ControlRequest parse_control_request(std::span<const std::byte> dgram) noexcept;

struct ControlResponse {
  Drop drop = Drop::none;
  DatagramHeader header{};
  Command cmd = Command::hello;
  PartitionMap map;                      // HELLO
  std::uint32_t assigned_client_id = 0;  // HELLO: the id to send data requests with; 0: none
  std::uint16_t flags = 0;               // HELLO: kHelloEngineDown
  std::string text;                      // STATS
};
ControlResponse parse_control_response(std::span<const std::byte> dgram);

}  // namespace buddy::kv::wire
