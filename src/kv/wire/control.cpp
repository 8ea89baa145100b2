#include "buddy/kv/wire/control.hpp"

namespace buddy::kv::wire {

namespace {

// Control bodies start with an 8-byte prefix: command, 3 reserved bytes, u32 body length.
struct ControlPrefix {
  Command cmd = Command::hello;
  std::uint8_t reserved[3] = {0, 0, 0};
  std::uint32_t body_bytes = 0;
};
static_assert(sizeof(ControlPrefix) == 8);

struct HelloBody {
  std::uint32_t partitions = 0;
  std::uint32_t max_datagram = 0;
  std::uint16_t ports = 0;
  std::uint16_t flags = 0;  // kHelloEngineDown
};
static_assert(sizeof(HelloBody) == 12);

std::size_t finish(std::span<std::byte> buf, Kind kind, std::uint32_t client_id, Command cmd,
                   std::size_t body, std::uint32_t assigned = 0) {
  DatagramHeader h;
  h.kind = kind;
  h.client_id = client_id;
  h.payload_bytes = static_cast<std::uint32_t>(sizeof(ControlPrefix) + body);
  ControlPrefix c;
  c.cmd = cmd;
  c.body_bytes = static_cast<std::uint32_t>(body);
  const std::uint32_t number = assigned & kAssignedNumberMask;
  c.reserved[0] = static_cast<std::uint8_t>(number);
  c.reserved[1] = static_cast<std::uint8_t>(number >> 8);
  c.reserved[2] = static_cast<std::uint8_t>(number >> 16);
  store(buf.data(), h);
  store(buf.data() + sizeof(h), c);
  return sizeof(h) + sizeof(c) + body;
}

constexpr std::size_t kBodyOffset = sizeof(DatagramHeader) + sizeof(ControlPrefix);
static_assert(hello_bytes(0, 0) == kBodyOffset + sizeof(HelloBody));
static_assert(kBodyOffset == kControlHeaderBytes);

bool valid_command(std::uint8_t c) {
  return c == 1 || c == 2;
}

// Checks the header and the prefix; on success `body` is the control body.
Drop read_control(std::span<const std::byte> d, Kind kind, DatagramHeader& h, Command& cmd,
                  std::span<const std::byte>& body, std::uint32_t* assigned = nullptr) noexcept {
  if (Drop r = read_header(d, kind, h); r != Drop::none) return r;
  if (h.count != 0 || d.size() < kBodyOffset) return Drop::bad_control;
  const auto c = load<ControlPrefix>(d.data() + sizeof(DatagramHeader));
  if (!valid_command(static_cast<std::uint8_t>(c.cmd))) return Drop::bad_control;
  if (c.body_bytes != d.size() - kBodyOffset) return Drop::bad_control;
  cmd = c.cmd;
  body = d.subspan(kBodyOffset);
  if (assigned != nullptr) {
    const std::uint32_t number = std::uint32_t{c.reserved[0]} |
                                 (std::uint32_t{c.reserved[1]} << 8) |
                                 (std::uint32_t{c.reserved[2]} << 16);
    *assigned = cmd == Command::hello && number != 0 ? (kAssignedClientBit | number) : 0;
  }
  return Drop::none;
}

}  // namespace

std::string PartitionMap::validate() const {
  if (partitions == 0 || partitions > kMaxPartitions) {
    return "partition count " + std::to_string(partitions) + " is not in 1.." +
           std::to_string(kMaxPartitions);
  }
  if (ports.empty()) return "no serving port";
  std::vector<bool> seen(65536, false);
  for (std::uint16_t p : ports) {
    if (p == 0) return "port 0 cannot serve";
    if (seen[p]) return "port " + std::to_string(p) + " is listed twice";
    seen[p] = true;
  }
  if (owner.size() != partitions) return "owner table does not cover every partition";
  for (std::uint16_t o : owner) {
    if (o >= ports.size()) return "a partition is owned by port index " + std::to_string(o);
  }
  if (max_datagram < kMinDatagram || max_datagram > kMaxDatagram) return "bad max_datagram";
  return {};
}

std::size_t encode_control_request(std::span<std::byte> buf, Command cmd, std::uint32_t client_id) {
  if (buf.size() < kBodyOffset) return 0;
  return finish(buf, Kind::control_request, client_id, cmd, 0);
}

std::size_t encode_hello(std::span<std::byte> buf, std::uint32_t client_id, const PartitionMap& m,
                         std::uint32_t assigned, std::uint16_t flags) {
  const std::size_t body = hello_bytes(m.ports.size(), m.owner.size()) - kBodyOffset;
  if (buf.size() < kBodyOffset + body || m.ports.size() > 0xffff) return 0;
  HelloBody b;
  b.partitions = m.partitions;
  b.max_datagram = m.max_datagram;
  b.ports = static_cast<std::uint16_t>(m.ports.size());
  b.flags = flags;
  std::byte* p = buf.data() + kBodyOffset;
  store(p, b);
  p += sizeof(b);
  for (std::uint16_t port : m.ports) p = (store(p, port), p + 2);
  for (std::uint16_t o : m.owner) p = (store(p, o), p + 2);
  return finish(buf, Kind::control_response, client_id, Command::hello, body, assigned);
}

std::size_t encode_stats(std::span<std::byte> buf, std::uint32_t client_id, std::string_view json) {
  if (buf.size() < kBodyOffset + json.size()) return 0;
  std::memcpy(buf.data() + kBodyOffset, json.data(), json.size());
  return finish(buf, Kind::control_response, client_id, Command::stats, json.size());
}

ControlRequest parse_control_request(std::span<const std::byte> dgram) noexcept {
  ControlRequest r;
  std::span<const std::byte> body;
  r.drop = read_control(dgram, Kind::control_request, r.header, r.cmd, body);
  if (r.drop == Drop::none && !body.empty()) r.drop = Drop::bad_control;
  return r;
}

ControlResponse parse_control_response(std::span<const std::byte> dgram) {
  ControlResponse r;
  std::span<const std::byte> body;
  r.drop =
      read_control(dgram, Kind::control_response, r.header, r.cmd, body, &r.assigned_client_id);
  if (r.drop != Drop::none) return r;
  if (r.cmd == Command::stats) {
    r.text.assign(reinterpret_cast<const char*>(body.data()), body.size());
    return r;
  }
  if (body.size() < sizeof(HelloBody)) {
    r.drop = Drop::bad_control;
    return r;
  }
  const auto b = load<HelloBody>(body.data());
  if (b.partitions > kMaxPartitions ||
      body.size() != sizeof(HelloBody) + 2 * (std::size_t{b.ports} + b.partitions)) {
    r.drop = Drop::bad_control;
    return r;
  }
  const std::byte* p = body.data() + sizeof(HelloBody);
  r.map.partitions = b.partitions;
  r.map.max_datagram = b.max_datagram;
  r.flags = b.flags;
  r.map.ports.resize(b.ports);
  r.map.owner.resize(b.partitions);
  for (auto& port : r.map.ports) port = (p += 2, load<std::uint16_t>(p - 2));
  for (auto& o : r.map.owner) o = (p += 2, load<std::uint16_t>(p - 2));
  if (!r.map.validate().empty()) r.drop = Drop::bad_control;
  return r;
}

}  // namespace buddy::kv::wire
