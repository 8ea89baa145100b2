// Endpoint parsing and the UDP burst transport over loopback: bursts larger than one
// recvmmsg/sendmmsg call, waits that time out, oversize datagrams flagged as truncated, and
// segmentation offload delivering the very datagrams sent.
#include "buddy/kv/wire/udp.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "wire_test_util.hpp"

namespace buddy::kv::wire::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kLoopback = 0x7f000001;

std::string endpoint_error(const std::string& s) {
  try {
    const Endpoint e = parse_endpoint(s);
    return "parsed as " + to_string(e);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

TEST(Endpoint, GoodStrings) {
  EXPECT_EQ(parse_endpoint("127.0.0.1:7000"), (Endpoint{kLoopback, 7000}));
  EXPECT_EQ(parse_endpoint("0.0.0.0:1"), (Endpoint{0, 1}));
  EXPECT_EQ(parse_endpoint("10.1.2.3:65535"), (Endpoint{0x0a010203, 65535}));
  EXPECT_EQ(parse_endpoint("255.255.255.255:00080"), (Endpoint{0xffffffff, 80}));
  EXPECT_EQ(parse_endpoint("localhost:9"), (Endpoint{kLoopback, 9}));
  EXPECT_EQ(make_endpoint("192.168.1.20", 5), (Endpoint{0xc0a80114, 5}));
  EXPECT_EQ(to_string(Endpoint{0x0a010203, 80}), "10.1.2.3:80");
  EXPECT_EQ(to_string(Endpoint{}), "0.0.0.0:0");
  const Endpoint e{0xc0a80001, 4242};
  EXPECT_EQ(parse_endpoint(to_string(e)), e);
}

TEST(Endpoint, BadStringsGiveOneLineReasons) {
  const std::map<std::string, std::string> cases = {
      {"", "'' is not HOST:PORT"},
      {"127.0.0.1", "'127.0.0.1' is not HOST:PORT"},
      {":7000", "':7000' is not HOST:PORT"},
      {"127.0.0.1:", "'127.0.0.1:' is not HOST:PORT"},
      {"127.0.0.1:0", "port 0 is not in 1..65535"},
      {"127.0.0.1:00000", "port 00000 is not in 1..65535"},
      {"127.0.0.1:65536", "port 65536 is not in 1..65535"},
      {"127.0.0.1:99999", "port 99999 is not in 1..65535"},
      {"127.0.0.1:123456", "'123456' is not a port number"},
      {"127.0.0.1:7x", "'7x' is not a port number"},
      {"127.0.0.1:-1", "'-1' is not a port number"},
      {"127.0.0.1: 80", "' 80' is not a port number"},
      {"127.0.0.1:+80", "'+80' is not a port number"},
      {"no.such.host.invalid:80", "cannot resolve host 'no.such.host.invalid'"},
  };
  for (const auto& [in, want] : cases) {
    const std::string got = endpoint_error(in);
    EXPECT_EQ(got, want) << "input '" << in << "'";
    EXPECT_EQ(got.find('\n'), std::string::npos);
  }
}

// A request datagram whose first request id is `i`, of a size that varies with i.
Bytes numbered_datagram(std::uint64_t i) {
  std::vector<Req> reqs;
  for (std::uint64_t k = 0; k <= i % 4; ++k) {
    Req r{Opcode::set, i * 10 + k, i, "key-" + std::to_string(i) + "-" + std::to_string(k),
          std::string((i * 37 + k * 11) % 150, static_cast<char>('a' + i % 26))};
    reqs.push_back(r);
  }
  return encode_requests(reqs, static_cast<std::uint32_t>(i));
}

struct RecvBuffers {
  explicit RecvBuffers(std::size_t n, std::uint32_t cap) : bytes(n, Bytes(cap)), dgrams(n) {
    for (std::size_t i = 0; i < n; ++i) dgrams[i] = Datagram{bytes[i].data(), 0, cap, {}};
  }
  std::vector<Bytes> bytes;
  std::vector<Datagram> dgrams;
};

TEST(Udp, BindsAnyFreeLoopbackPort) {
  UdpSocket s(Endpoint{kLoopback, 0});
  EXPECT_EQ(s.local().ip, kLoopback);
  EXPECT_NE(s.local().port, 0);
  EXPECT_GE(s.fd(), 0);
}

TEST(Udp, BurstOfOneHundredToItself) {
  UdpSocket s(Endpoint{kLoopback, 0});
  constexpr std::size_t kN = 100;  // more than one 64-datagram mmsg call in each direction
  std::vector<Bytes> sent;
  std::vector<Datagram> out;
  for (std::size_t i = 0; i < kN; ++i) sent.push_back(numbered_datagram(i));
  for (Bytes& b : sent) {
    out.push_back(Datagram{b.data(), static_cast<std::uint32_t>(b.size()), 0, s.local()});
  }
  ASSERT_EQ(s.send_burst(out), kN);

  RecvBuffers rb(kN, kDefaultDatagram);
  std::size_t got = 0;
  const auto deadline = Clock::now() + 10s;
  while (got < kN && Clock::now() < deadline) {
    got += s.recv_burst(std::span(rb.dgrams).subspan(got), 100ms);
  }
  ASSERT_EQ(got, kN);
  std::vector<bool> seen(kN, false);
  std::vector<RequestView> views(kMaxCount);
  for (std::size_t j = 0; j < kN; ++j) {
    const Datagram& d = rb.dgrams[j];
    EXPECT_EQ(d.peer, s.local());
    const auto p = parse_requests({d.data, d.size}, views);
    ASSERT_EQ(p.drop, Drop::none) << to_string(p.drop);
    const std::uint64_t i = p.header.client_id;
    ASSERT_LT(i, kN);
    EXPECT_FALSE(seen[i]) << "datagram " << i << " twice";
    seen[i] = true;
    ASSERT_EQ(d.size, sent[i].size());
    EXPECT_TRUE(std::equal(d.data, d.data + d.size, sent[i].begin())) << "datagram " << i;
    EXPECT_EQ(p.count, i % 4 + 1);
    EXPECT_EQ(views[0].h.request_id, i * 10);
  }
  // Nothing more is queued.
  EXPECT_EQ(s.recv_burst(rb.dgrams, 0us), 0u);
}

TEST(Udp, BetweenTwoSockets) {
  UdpSocket a(Endpoint{kLoopback, 0});
  UdpSocket b(Endpoint{kLoopback, 0});
  Bytes d = numbered_datagram(3);
  Datagram out{d.data(), static_cast<std::uint32_t>(d.size()), 0, b.local()};
  ASSERT_EQ(a.send_burst({&out, 1}), 1u);
  RecvBuffers rb(4, kDefaultDatagram);
  ASSERT_EQ(b.recv_burst(rb.dgrams, 2s), 1u);
  EXPECT_EQ(rb.dgrams[0].peer, a.local());
  EXPECT_EQ(rb.dgrams[0].size, d.size());
}

TEST(Udp, RecvWaitTimesOutWhenNothingArrives) {
  UdpSocket s(Endpoint{kLoopback, 0});
  RecvBuffers rb(8, kDefaultDatagram);
  auto t0 = Clock::now();
  EXPECT_EQ(s.recv_burst(rb.dgrams, 0us), 0u);
  EXPECT_LT(Clock::now() - t0, 50ms);  // no wait
  t0 = Clock::now();
  EXPECT_EQ(s.recv_burst(rb.dgrams, 80ms), 0u);
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 75ms);
  EXPECT_LT(waited, 2s);
}

TEST(Udp, OversizeDatagramIsFlaggedTruncated) {
  UdpSocket s(Endpoint{kLoopback, 0});
  constexpr std::uint32_t kCap = 1000;
  Bytes big(2000, std::byte{0xAB}), exact(kCap, std::byte{0xCD}), after(10, std::byte{0xEF});
  std::vector<Datagram> out = {
      {big.data(), static_cast<std::uint32_t>(big.size()), 0, s.local()},
      {exact.data(), static_cast<std::uint32_t>(exact.size()), 0, s.local()},
      {after.data(), static_cast<std::uint32_t>(after.size()), 0, s.local()}};
  ASSERT_EQ(s.send_burst(out), 3u);
  RecvBuffers rb(3, kCap);
  std::size_t got = 0;
  const auto deadline = Clock::now() + 5s;
  while (got < 3 && Clock::now() < deadline) {
    got += s.recv_burst(std::span(rb.dgrams).subspan(got), 100ms);
  }
  ASSERT_EQ(got, 3u);
  EXPECT_EQ(rb.dgrams[0].size, kCap + 1);  // truncated: capacity + 1
  EXPECT_EQ(rb.bytes[0][kCap - 1], std::byte{0xAB});
  EXPECT_EQ(rb.dgrams[1].size, kCap);  // exactly the capacity is not truncated
  EXPECT_EQ(rb.bytes[1][kCap - 1], std::byte{0xCD});
  EXPECT_EQ(rb.dgrams[2].size, 10u);
  EXPECT_EQ(rb.bytes[2][0], std::byte{0xEF});
}

TEST(Udp, LargestDatagramRoundTrips) {
  UdpSocket s(Endpoint{kLoopback, 0});
  Bytes buf(kMaxDatagram);
  ResponseWriter w(buf, 1);
  ASSERT_TRUE(
      w.add(Status::ok, Opcode::get, 1, 1, std::string(max_response_value(kMaxDatagram), 'z')));
  ASSERT_EQ(w.finish(), kMaxDatagram);
  Datagram out{buf.data(), static_cast<std::uint32_t>(kMaxDatagram), 0, s.local()};
  ASSERT_EQ(s.send_burst({&out, 1}), 1u);
  RecvBuffers rb(1, kMaxDatagram);
  ASSERT_EQ(s.recv_burst(rb.dgrams, 2s), 1u);
  ASSERT_EQ(rb.dgrams[0].size, kMaxDatagram);
  std::vector<ResponseView> views(1);
  const auto p = parse_responses({rb.dgrams[0].data, rb.dgrams[0].size}, views);
  ASSERT_EQ(p.drop, Drop::none);
  EXPECT_EQ(views[0].value.size(), max_response_value(kMaxDatagram));
}

TEST(Udp, PortInUseIsAnError) {
  UdpSocket a(Endpoint{kLoopback, 0});
  try {
    UdpSocket b(a.local());
    FAIL() << "a second socket bound " << to_string(a.local());
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("cannot bind UDP " + to_string(a.local()) + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

TEST(Udp, BindToAForeignAddressIsAnError) {
  // 203.0.113.1 (TEST-NET-3) is never a local address.
  EXPECT_THROW(UdpSocket(Endpoint{0xcb007101, 0}), std::runtime_error);
}

// Segmentation offload (UDP_SEGMENT): runs of equal-sized datagrams to one peer go as one send,
// and every peer receives exactly the datagrams, in order, as without it: runs longer than the
// kernel's 64 segments, a shorter datagram ending a run, a larger one starting the next, peers
// alternating, and one datagram of the largest size, which goes alone.
TEST(Udp, SegmentOffloadDeliversTheSameDatagrams) {
  UdpSocket a(Endpoint{kLoopback, 0});
  UdpSocket b(Endpoint{kLoopback, 0});
  UdpSocket c(Endpoint{kLoopback, 0});
  a.set_segment_offload(true);
  ASSERT_TRUE(a.segment_offload());
  struct Plan {
    std::size_t count, size;
    UdpSocket* to;
  };
  const std::vector<Plan> plan = {{150, 1456, &b}, {1, 700, &b}, {3, 1456, &c},        {2, 500, &b},
                                  {4, 1472, &b},   {1, 9, &c},   {1, kMaxDatagram, &b}};
  std::vector<Bytes> sent;
  sent.reserve(200);  // out points into sent's buffers
  std::vector<Datagram> out;
  std::map<UdpSocket*, std::vector<std::size_t>> want;  // per receiver: indices into sent
  for (const Plan& p : plan) {
    for (std::size_t i = 0; i < p.count; ++i) {
      const std::size_t j = sent.size();
      Bytes d(p.size);
      for (std::size_t k = 0; k < d.size(); ++k) d[k] = static_cast<std::byte>((j * 7 + k) & 0xff);
      std::memcpy(d.data(), &j, std::min<std::size_t>(sizeof(j), d.size()));
      sent.push_back(std::move(d));
      want[p.to].push_back(j);
      out.push_back(Datagram{sent[j].data(), static_cast<std::uint32_t>(p.size), 0, p.to->local()});
    }
  }
  ASSERT_EQ(a.send_burst(out), sent.size());
  EXPECT_TRUE(a.segment_offload()) << "loopback takes UDP_SEGMENT (Linux 4.18+)";
  for (auto& [s, idx] : want) {
    RecvBuffers rb(idx.size() + 1, kMaxDatagram);
    std::size_t got = 0;
    const auto deadline = Clock::now() + 10s;
    while (got < idx.size() && Clock::now() < deadline) {
      got += s->recv_burst(std::span(rb.dgrams).subspan(got, idx.size() - got), 100ms);
    }
    ASSERT_EQ(got, idx.size());
    for (std::size_t n = 0; n < idx.size(); ++n) {
      const Bytes& w = sent[idx[n]];
      const Datagram& d = rb.dgrams[n];
      EXPECT_EQ(d.peer, a.local());
      ASSERT_EQ(d.size, w.size()) << "datagram " << n << " of this peer";
      EXPECT_TRUE(std::equal(d.data, d.data + d.size, w.begin())) << "datagram " << idx[n];
    }
    EXPECT_EQ(s->recv_burst(rb.dgrams, 0us), 0u);  // nothing more, nothing merged or split
  }
}

}  // namespace
}  // namespace buddy::kv::wire::testing
