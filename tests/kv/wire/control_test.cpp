// The control exchange: HELLO and STATS requests and responses round trip, malformed control
// datagrams are dropped as bad_control (or the framing reason), PartitionMap::validate.
#include "buddy/kv/wire/control.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wire_test_util.hpp"

namespace buddy::kv::wire::testing {
namespace {

// Control layout offsets (docs/protocol.md, section 2).
constexpr std::size_t kOffCmd = 16;
constexpr std::size_t kOffReserved = 17;
constexpr std::size_t kOffBodyBytes = 20;
constexpr std::size_t kOffBody = 24;
constexpr std::size_t kOffPartitions = kOffBody + 0;
constexpr std::size_t kOffMaxDgram = kOffBody + 4;
constexpr std::size_t kOffPorts = kOffBody + 8;
constexpr std::size_t kOffPortList = kOffBody + 12;

PartitionMap make_map(std::uint32_t partitions, std::vector<std::uint16_t> ports) {
  PartitionMap m;
  m.partitions = partitions;
  m.max_datagram = 9000;
  m.ports = std::move(ports);
  m.owner.resize(partitions);
  for (std::uint32_t p = 0; p < partitions; ++p) {
    m.owner[p] = static_cast<std::uint16_t>((p * 7 + 3) % m.ports.size());
  }
  return m;
}

Bytes hello(const PartitionMap& m, std::uint32_t client = 11) {
  Bytes buf(kMaxDatagram);
  buf.resize(encode_hello(buf, client, m));
  EXPECT_GT(buf.size(), 0u);
  return buf;
}

Bytes stats(std::string_view json, std::uint32_t client = 11) {
  Bytes buf(kMaxDatagram);
  buf.resize(encode_stats(buf, client, json));
  EXPECT_GT(buf.size(), 0u);
  return buf;
}

Bytes control_request(Command c, std::uint32_t client = 11) {
  Bytes buf(64);
  buf.resize(encode_control_request(buf, c, client));
  EXPECT_EQ(buf.size(), kOffBody);
  return buf;
}

// The id a HELLO answer assigns (exactly-once writes) travels in the prefix's reserved bytes:
// 24 bits, little-endian; the parsed id has kAssignedClientBit set; 0 assigns none.
TEST(ControlResponse, HelloAssignsAClientId) {
  const PartitionMap m = make_map(4, {7001, 7002});
  Bytes buf(kMaxDatagram);
  buf.resize(encode_hello(buf, 11, m, kAssignedClientBit | 0xABCDEF));
  EXPECT_EQ(buf.size(), hello_bytes(2, 4));
  EXPECT_EQ(buf[kOffReserved], std::byte{0xEF});
  EXPECT_EQ(buf[kOffReserved + 2], std::byte{0xAB});
  const auto r = parse_control_response(buf);
  ASSERT_EQ(r.drop, Drop::none);
  EXPECT_EQ(r.header.client_id, 11u);
  EXPECT_EQ(r.assigned_client_id, kAssignedClientBit | 0xABCDEF);
  EXPECT_TRUE(sequenced_client(r.assigned_client_id));
  EXPECT_EQ(parse_control_response(hello(m)).assigned_client_id, 0u);
  // STATS answers assign nothing, whatever the bytes say.
  Bytes st = stats("{}");
  st[kOffReserved] = std::byte{1};
  EXPECT_EQ(parse_control_response(st).assigned_client_id, 0u);
}

// The HELLO body's flags word (offset 10 of the body, after partitions, max_datagram, ports):
// engine_down travels there; 0 from a server that says nothing (or an older one).
TEST(ControlResponse, HelloCarriesEngineDown) {
  const PartitionMap m = make_map(4, {7001, 7002});
  Bytes buf(kMaxDatagram);
  buf.resize(encode_hello(buf, 11, m, 0, kHelloEngineDown));
  EXPECT_EQ(buf[kControlHeaderBytes + 10], std::byte{1});
  const auto r = parse_control_response(buf);
  ASSERT_EQ(r.drop, Drop::none);
  EXPECT_EQ(r.flags, kHelloEngineDown);
  EXPECT_EQ(r.map.ports, m.ports);
  EXPECT_EQ(parse_control_response(hello(m)).flags, 0u);
}

TEST(ControlRequest, RoundTrip) {
  for (Command c : {Command::hello, Command::stats}) {
    const Bytes d = control_request(c, 0xDEADBEEF);
    const ControlRequest r = parse_control_request(as_span(d));
    ASSERT_EQ(r.drop, Drop::none) << to_string(r.drop);
    EXPECT_EQ(r.cmd, c);
    EXPECT_EQ(r.header.kind, Kind::control_request);
    EXPECT_EQ(r.header.count, 0);
    EXPECT_EQ(r.header.client_id, 0xDEADBEEFu);
    EXPECT_EQ(r.header.payload_bytes, 8u);
    EXPECT_EQ(static_cast<std::uint8_t>(d[kOffCmd]), static_cast<std::uint8_t>(c));
  }
}

TEST(ControlRequest, EncodeNeedsRoomForHeaderAndPrefix) {
  Bytes buf(kOffBody - 1);
  EXPECT_EQ(encode_control_request(buf, Command::hello, 1), 0u);
  buf.resize(kOffBody);
  EXPECT_EQ(encode_control_request(buf, Command::hello, 1), kOffBody);
}

TEST(ControlRequest, Malformed) {
  const Bytes good = control_request(Command::hello);
  // Framing reasons come through unchanged.
  EXPECT_EQ(parse_control_request({good.data(), 10}).drop, Drop::short_header);
  {
    Bytes d = good;
    d[0] = std::byte{0};
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_magic);
  }
  {
    Bytes d = good;
    patch<std::uint8_t>(d, kOffVersion, 9);
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_version);
  }
  EXPECT_EQ(parse_control_request(as_span(hello(make_map(4, {7000})))).drop, Drop::bad_kind);
  EXPECT_EQ(parse_control_request(as_span(encode_requests(sample_requests()))).drop,
            Drop::bad_kind);
  {
    Bytes d = good;
    d.pop_back();
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_length);
  }
  // Control-specific problems.
  for (std::uint8_t cmd : {0, 3, 255}) {
    Bytes d = good;
    patch<std::uint8_t>(d, kOffCmd, cmd);
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_control) << int{cmd};
  }
  {
    Bytes d = good;
    patch<std::uint16_t>(d, kOffCount, 1);
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_control);
  }
  for (std::size_t n = kHdr; n < kOffBody; ++n) {  // the prefix is cut
    Bytes d(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    fix_length(d);
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_control) << n;
  }
  for (std::uint32_t body : {1u, 0xFFFFFFFFu, 0xFFFFFFF8u}) {  // body_bytes disagrees
    Bytes d = good;
    patch<std::uint32_t>(d, kOffBodyBytes, body);
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_control) << body;
  }
  {  // a request carries no body
    Bytes d = good;
    d.push_back(std::byte{1});
    patch<std::uint32_t>(d, kOffBodyBytes, 1);
    fix_length(d);
    EXPECT_EQ(parse_control_request(as_span(d)).drop, Drop::bad_control);
  }
}

TEST(Hello, RoundTripWithSeveralPortsAndPartitions) {
  struct Case {
    std::uint32_t partitions;
    std::vector<std::uint16_t> ports;
  };
  for (const Case& c :
       {Case{1, {7001}}, Case{2, {7001, 7002}}, Case{7, {7001, 7002, 7003}},
        Case{64, {9000, 1, 65535, 8080}}, Case{1000, {7001, 7002, 7003, 7004, 7005}},
        Case{kMaxPartitions, {7001, 7002, 7003}}}) {
    SCOPED_TRACE(::testing::Message()
                 << c.partitions << " partitions, " << c.ports.size() << " ports");
    const PartitionMap m = make_map(c.partitions, c.ports);
    ASSERT_EQ(m.validate(), "");
    const Bytes d = hello(m, 99);
    EXPECT_EQ(d.size(), kOffBody + 12 + 2 * (c.ports.size() + c.partitions));
    const ControlResponse r = parse_control_response(as_span(d));
    ASSERT_EQ(r.drop, Drop::none) << to_string(r.drop);
    EXPECT_EQ(r.cmd, Command::hello);
    EXPECT_EQ(r.header.kind, Kind::control_response);
    EXPECT_EQ(r.header.client_id, 99u);
    EXPECT_EQ(r.map.partitions, m.partitions);
    EXPECT_EQ(r.map.max_datagram, m.max_datagram);
    EXPECT_EQ(r.map.ports, m.ports);
    EXPECT_EQ(r.map.owner, m.owner);
    EXPECT_TRUE(r.text.empty());
    // Both sides route a key to the same port.
    for (const char* k : {"a", "b", "user:1", "user:2", "k1"}) {
      const std::uint64_t h = key_hash(k);
      EXPECT_EQ(r.map.port_index_for(h), m.owner[partition_of(h, m.partitions)]);
    }
  }
}

TEST(Hello, EncodeRefusesASmallBuffer) {
  const PartitionMap m = make_map(10, {7001, 7002});
  const std::size_t size = kOffBody + 12 + 2 * (2 + 10);
  Bytes buf(size - 1);
  EXPECT_EQ(encode_hello(buf, 1, m), 0u);
  buf.resize(size);
  EXPECT_EQ(encode_hello(buf, 1, m), size);
  EXPECT_EQ(parse_control_response(as_span(buf)).drop, Drop::none);
}

// hello_bytes() is the size encode_hello() writes: what a server checks against its max_datagram.
TEST(Hello, SizeIsWhatTheEncoderWrites) {
  using Shape = std::pair<std::uint32_t, std::uint16_t>;  // partitions, ports
  for (const auto& [parts, ports] : {Shape{1, 1}, Shape{800, 2}, Shape{716, 2}, Shape{16384, 7}}) {
    std::vector<std::uint16_t> list;
    for (std::uint16_t i = 0; i < ports; ++i) list.push_back(static_cast<std::uint16_t>(7001 + i));
    EXPECT_EQ(hello(make_map(parts, list)).size(), hello_bytes(ports, parts)) << parts;
  }
  EXPECT_EQ(hello_bytes(2, 800), 1640u);  // more than a default 1472-byte datagram
  EXPECT_EQ(hello_bytes(2, 716), kDefaultDatagram);
}

TEST(Hello, MalformedBodies) {
  const PartitionMap m = make_map(8, {7001, 7002, 7003});
  const Bytes good = hello(m);
  auto expect_bad = [](Bytes d, const char* what) {
    EXPECT_EQ(parse_control_response(as_span(d)).drop, Drop::bad_control) << what;
  };
  auto resize_body = [](Bytes d, std::size_t size) {
    d.resize(size);
    fix_length(d);
    patch<std::uint32_t>(d, kOffBodyBytes, static_cast<std::uint32_t>(size - kOffBody));
    return d;
  };
  for (std::size_t n = kOffBody; n < kOffPortList; ++n) {
    expect_bad(resize_body(good, n), "body shorter than the fixed HELLO part");
  }
  expect_bad(resize_body(good, good.size() - 1), "owner table one byte short");
  expect_bad(resize_body(good, good.size() - 2), "owner table one entry short");
  expect_bad(resize_body(good, good.size() + 2), "one owner entry too many");
  {
    Bytes d = good;
    patch<std::uint32_t>(d, kOffPartitions, 9);
    expect_bad(d, "partition count disagrees with the body size");
  }
  {
    Bytes d = good;
    patch<std::uint16_t>(d, kOffPorts, 4);
    expect_bad(d, "port count disagrees with the body size");
  }
  {
    Bytes d = good;
    patch<std::uint32_t>(d, kOffPartitions, 0xFFFFFFFF);
    expect_bad(d, "huge partition count");
  }
  {  // 0 ports and 11 partitions have the same body size as 3 ports and 8 partitions
    Bytes d = good;
    patch<std::uint16_t>(d, kOffPorts, 0);
    patch<std::uint32_t>(d, kOffPartitions, 11);
    expect_bad(d, "no ports");
  }
  {  // 4 ports and 7 partitions: the same body size, and the 4th "port" is owner[0] == 0
    Bytes d = good;
    patch<std::uint16_t>(d, kOffPorts, 4);
    patch<std::uint32_t>(d, kOffPartitions, 7);
    expect_bad(d, "port 0");
  }
  {
    Bytes d = good;
    patch<std::uint16_t>(d, kOffPortList + 2, 7001);  // ports 7001, 7001, 7003
    expect_bad(d, "a port listed twice");
  }
  {
    Bytes d = good;
    patch<std::uint16_t>(d, kOffPortList + 2 * 3, 3);  // partition 0 -> port index 3 of 3
    expect_bad(d, "owner index out of range");
  }
  for (std::uint32_t md : {0u, 127u, 65508u, 0xFFFFFFFFu}) {
    Bytes d = good;
    patch<std::uint32_t>(d, kOffMaxDgram, md);
    expect_bad(d, "max_datagram out of range");
  }
  {
    Bytes d = good;
    patch<std::uint8_t>(d, kOffCmd, 7);
    expect_bad(d, "unknown command");
  }
  // Reserved bytes are not checked (room for later versions).
  Bytes d = good;
  patch<std::uint8_t>(d, kOffReserved, 1);
  patch<std::uint16_t>(d, kOffBody + 10, 0xFFFF);
  EXPECT_EQ(parse_control_response(as_span(d)).drop, Drop::none);
  // A control response sent to a server is the wrong kind.
  EXPECT_EQ(parse_control_request(as_span(good)).drop, Drop::bad_kind);
  EXPECT_EQ(parse_control_response(as_span(control_request(Command::hello))).drop, Drop::bad_kind);
}

TEST(Stats, RoundTrip) {
  const std::string json =
      R"({"design":"lat","partitions":8,"gets":123456,"sets":42,"drops":{"bad_magic":1}})";
  for (const std::string& text : {json, std::string(), std::string("{}"), std::string(5000, 'x'),
                                  std::string("with \0 a nul and \xff bytes", 25)}) {
    const Bytes d = stats(text, 5);
    EXPECT_EQ(d.size(), kOffBody + text.size());
    const ControlResponse r = parse_control_response(as_span(d));
    ASSERT_EQ(r.drop, Drop::none) << to_string(r.drop);
    EXPECT_EQ(r.cmd, Command::stats);
    EXPECT_EQ(r.header.client_id, 5u);
    EXPECT_EQ(r.text, text);
    EXPECT_EQ(r.map.partitions, 0u);
  }
  Bytes buf(kOffBody + json.size() - 1);
  EXPECT_EQ(encode_stats(buf, 1, json), 0u);
  buf.resize(kOffBody + json.size());
  EXPECT_EQ(encode_stats(buf, 1, json), buf.size());
}

TEST(Stats, BodyLengthMustMatch) {
  Bytes d = stats("{\"a\":1}");
  patch<std::uint32_t>(d, kOffBodyBytes, 6);
  EXPECT_EQ(parse_control_response(as_span(d)).drop, Drop::bad_control);
  d = stats("{\"a\":1}");
  d.push_back(std::byte{'x'});
  fix_length(d);  // header says one more byte, the prefix does not
  EXPECT_EQ(parse_control_response(as_span(d)).drop, Drop::bad_control);
}

TEST(PartitionMap, Validate) {
  PartitionMap m = make_map(16, {7001, 7002});
  EXPECT_EQ(m.validate(), "");
  auto with = [&](auto change) {
    PartitionMap c = m;
    change(c);
    return c.validate();
  };
  EXPECT_EQ(with([](PartitionMap& c) { c.partitions = 0; }),
            "partition count 0 is not in 1..16384");
  EXPECT_EQ(with([](PartitionMap& c) { c.partitions = kMaxPartitions + 1; }),
            "partition count 16385 is not in 1..16384");
  EXPECT_EQ(with([](PartitionMap& c) { c.ports.clear(); }), "no serving port");
  EXPECT_EQ(with([](PartitionMap& c) { c.owner.pop_back(); }),
            "owner table does not cover every partition");
  EXPECT_EQ(with([](PartitionMap& c) { c.owner.push_back(0); }),
            "owner table does not cover every partition");
  EXPECT_EQ(with([](PartitionMap& c) { c.owner[5] = 2; }), "a partition is owned by port index 2");
  EXPECT_EQ(with([](PartitionMap& c) { c.ports.push_back(7001); }), "port 7001 is listed twice");
  EXPECT_EQ(with([](PartitionMap& c) { c.ports[1] = 0; }), "port 0 cannot serve");
  EXPECT_EQ(with([](PartitionMap& c) { c.max_datagram = kMinDatagram - 1; }), "bad max_datagram");
  EXPECT_EQ(with([](PartitionMap& c) { c.max_datagram = kMaxDatagram + 1; }), "bad max_datagram");
  EXPECT_EQ(with([](PartitionMap& c) { c.max_datagram = kMinDatagram; }), "");
  EXPECT_EQ(with([](PartitionMap& c) { c.max_datagram = kMaxDatagram; }), "");
  EXPECT_EQ(PartitionMap{}.validate(), "partition count 0 is not in 1..16384");
  // Reasons are one line.
  for (const std::string& s :
       {with([](PartitionMap& c) { c.owner[0] = 9; }), PartitionMap{}.validate()}) {
    EXPECT_EQ(s.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace buddy::kv::wire::testing
