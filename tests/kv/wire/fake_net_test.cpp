// FakeNetwork: delivery between ports, unknown ports, truncation, waits, and seeded loss,
// duplication and reordering that give exactly the counts and order a reference model predicts.
#include "buddy/kv/wire/fake_net.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "wire_test_util.hpp"

namespace buddy::kv::wire::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kLoopback = 0x7f000001;

Bytes tagged(std::uint32_t tag, std::size_t size = 8) {
  Bytes b(std::max<std::size_t>(size, 4));
  store(b.data(), tag);
  return b;
}
std::uint32_t tag_of(const Datagram& d) {
  return load<std::uint32_t>(d.data);
}

struct RecvBuffers {
  explicit RecvBuffers(std::size_t n, std::uint32_t cap = 256) : bytes(n, Bytes(cap)), dgrams(n) {
    for (std::size_t i = 0; i < n; ++i) dgrams[i] = Datagram{bytes[i].data(), 0, cap, {}};
  }
  std::vector<Bytes> bytes;
  std::vector<Datagram> dgrams;
};

void send_tags(BurstTransport& from, Endpoint to, std::uint32_t first, std::uint32_t n) {
  std::vector<Bytes> bufs;
  std::vector<Datagram> out;
  for (std::uint32_t t = first; t < first + n; ++t) bufs.push_back(tagged(t));
  for (Bytes& b : bufs) out.push_back({b.data(), static_cast<std::uint32_t>(b.size()), 0, to});
  ASSERT_EQ(from.send_burst(out), n);
}

std::vector<std::uint32_t> drain(BurstTransport& port) {
  std::vector<std::uint32_t> tags;
  RecvBuffers rb(64);
  while (std::size_t n = port.recv_burst(rb.dgrams, 0us)) {
    for (std::size_t i = 0; i < n; ++i) tags.push_back(tag_of(rb.dgrams[i]));
  }
  return tags;
}

TEST(FakeNetwork, DeliversInOrderWithThePeerAddress) {
  FakeNetwork net;
  auto a = net.bind();
  auto b = net.bind();
  EXPECT_EQ(a->local(), (Endpoint{kLoopback, 40000}));
  EXPECT_EQ(b->local(), (Endpoint{kLoopback, 40001}));
  send_tags(*a, b->local(), 0, 100);
  RecvBuffers rb(150);
  ASSERT_EQ(b->recv_burst(rb.dgrams, 0us), 100u);
  for (std::uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(tag_of(rb.dgrams[i]), i);
    EXPECT_EQ(rb.dgrams[i].size, 8u);
    EXPECT_EQ(rb.dgrams[i].peer, a->local());
  }
  EXPECT_EQ(net.delivered(), 100u);
  EXPECT_EQ(net.lost(), 0u);
  EXPECT_TRUE(drain(*a).empty());
  // Bursts smaller than the queue take the oldest first.
  send_tags(*b, a->local(), 0, 10);
  RecvBuffers small(3);
  ASSERT_EQ(a->recv_burst(small.dgrams, 0us), 3u);
  EXPECT_EQ(tag_of(small.dgrams[0]), 0u);
  EXPECT_EQ(tag_of(small.dgrams[2]), 2u);
  EXPECT_EQ(drain(*a), (std::vector<std::uint32_t>{3, 4, 5, 6, 7, 8, 9}));
}

TEST(FakeNetwork, ExplicitPortsAndPortsInUse) {
  FakeNetwork net;
  auto p = net.bind(7000);
  EXPECT_EQ(p->local().port, 7000);
  try {
    net.bind(7000);
    FAIL() << "port 7000 bound twice";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "fake port 7000 is in use");
  }
  auto q = net.bind(40000);
  auto r = net.bind();  // skips the taken 40000
  EXPECT_EQ(r->local().port, 40001);
  // A closed port can be bound again; datagrams to it while closed are lost.
  p.reset();
  send_tags(*q, Endpoint{kLoopback, 7000}, 0, 1);
  EXPECT_EQ(net.lost(), 1u);
  p = net.bind(7000);
  send_tags(*q, p->local(), 1, 1);
  EXPECT_EQ(drain(*p), (std::vector<std::uint32_t>{1}));
}

TEST(FakeNetwork, UnknownPortsAndForeignAddressesLoseTheDatagram) {
  FakeNetwork net;
  auto a = net.bind();
  send_tags(*a, Endpoint{kLoopback, 12345}, 0, 3);
  send_tags(*a, Endpoint{0x0a000001, a->local().port}, 0, 2);  // 10.0.0.1: not this host
  EXPECT_EQ(net.lost(), 5u);
  EXPECT_EQ(net.delivered(), 0u);
  EXPECT_TRUE(drain(*a).empty());
}

TEST(FakeNetwork, OversizeDatagramIsFlaggedTruncated) {
  FakeNetwork net;
  auto a = net.bind();
  Bytes big(300, std::byte{0x5A}), exact(100, std::byte{0x6B});
  std::vector<Datagram> out = {{big.data(), 300, 0, a->local()},
                               {exact.data(), 100, 0, a->local()}};
  ASSERT_EQ(a->send_burst(out), 2u);
  RecvBuffers rb(2, 100);
  ASSERT_EQ(a->recv_burst(rb.dgrams, 0us), 2u);
  EXPECT_EQ(rb.dgrams[0].size, 101u);
  EXPECT_EQ(rb.bytes[0][99], std::byte{0x5A});
  EXPECT_EQ(rb.dgrams[1].size, 100u);
  EXPECT_EQ(rb.bytes[1][99], std::byte{0x6B});
}

TEST(FakeNetwork, WaitTimesOut) {
  FakeNetwork net;
  auto a = net.bind();
  RecvBuffers rb(4);
  auto t0 = Clock::now();
  EXPECT_EQ(a->recv_burst(rb.dgrams, 0us), 0u);
  EXPECT_LT(Clock::now() - t0, 50ms);
  t0 = Clock::now();
  EXPECT_EQ(a->recv_burst(rb.dgrams, 60ms), 0u);
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 60ms);
  EXPECT_LT(waited, 2s);
}

TEST(FakeNetwork, WaitEndsWhenADatagramArrives) {
  FakeNetwork net;
  auto a = net.bind();
  auto b = net.bind();
  std::thread sender([&] {
    std::this_thread::sleep_for(30ms);
    send_tags(*b, a->local(), 77, 1);
  });
  RecvBuffers rb(4);
  const auto t0 = Clock::now();
  const std::size_t n = a->recv_burst(rb.dgrams, 10s);
  const auto waited = Clock::now() - t0;
  sender.join();
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(tag_of(rb.dgrams[0]), 77u);
  EXPECT_LT(waited, 5s);
}

// What FakeNetwork does with one seeded generator: per datagram to a live port, one draw for loss,
// one for duplication, and for each copy one for reordering when the queue is not empty.
struct FaultModel {
  explicit FaultModel(FakeFaults faults) : f(faults), rng(faults.seed) {}
  void send(std::uint32_t tag) {
    if (u(rng) < f.loss) {
      ++lost;
      return;
    }
    const int copies = u(rng) < f.duplicate ? 2 : 1;
    if (copies == 2) ++duplicated;
    for (int c = 0; c < copies; ++c) {
      if (!queue.empty() && u(rng) < f.reorder) {
        queue.insert(queue.end() - 1, tag);
        ++reordered;
      } else {
        queue.push_back(tag);
      }
      ++delivered;
    }
  }
  FakeFaults f;
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> u{0.0, 1.0};
  std::deque<std::uint32_t> queue;
  std::uint64_t lost = 0, delivered = 0, duplicated = 0, reordered = 0;
};

TEST(FakeNetwork, SeededFaultsGiveTheExpectedCountsAndOrder) {
  constexpr std::uint32_t kN = 10'000;
  for (FakeFaults f : {FakeFaults{0.25, 0.0, 0.0, 1}, FakeFaults{0.0, 0.1, 0.0, 2},
                       FakeFaults{0.0, 0.0, 0.3, 3}, FakeFaults{0.1, 0.05, 0.2, 4},
                       FakeFaults{1.0, 0.0, 0.0, 5}, FakeFaults{0.0, 1.0, 0.0, 6}}) {
    SCOPED_TRACE(::testing::Message() << "loss " << f.loss << " dup " << f.duplicate << " reorder "
                                      << f.reorder << " seed " << f.seed);
    FakeNetwork net(f);
    auto a = net.bind();
    auto b = net.bind();
    FaultModel model(f);
    for (std::uint32_t t = 0; t < kN; t += 100) {
      send_tags(*a, b->local(), t, 100);
      for (std::uint32_t i = t; i < t + 100; ++i) model.send(i);
    }
    EXPECT_EQ(net.lost(), model.lost);
    EXPECT_EQ(net.delivered(), model.delivered);
    EXPECT_EQ(model.lost + model.delivered, kN + model.duplicated);
    const std::vector<std::uint32_t> got = drain(*b);
    EXPECT_EQ(got, std::vector<std::uint32_t>(model.queue.begin(), model.queue.end()));
    // The model itself is plausible for these probabilities (many standard deviations wide).
    auto near = [](std::uint64_t n, double p, std::uint64_t trials) {
      const double mean = p * static_cast<double>(trials);
      return std::abs(static_cast<double>(n) - mean) <= 0.02 * static_cast<double>(trials) + 1;
    };
    EXPECT_TRUE(near(model.lost, f.loss, kN)) << model.lost;
    EXPECT_TRUE(near(model.duplicated, f.duplicate, kN - model.lost)) << model.duplicated;
    if (f.reorder == 0.0) {
      EXPECT_EQ(model.reordered, 0u);
      EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
    } else {
      EXPECT_TRUE(near(model.reordered, f.reorder, model.delivered)) << model.reordered;
      EXPECT_FALSE(std::is_sorted(got.begin(), got.end()));
    }
  }
}

TEST(FakeNetwork, SameSeedSameOutcomeOtherSeedOtherOutcome) {
  auto run = [](std::uint64_t seed) {
    FakeNetwork net(FakeFaults{0.2, 0.2, 0.2, seed});
    auto a = net.bind();
    auto b = net.bind();
    send_tags(*a, b->local(), 0, 500);
    return drain(*b);
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

// A client thread and a server thread, each owning a port: every request is echoed once.
TEST(FakeNetwork, EchoBetweenTwoThreads) {
  FakeNetwork net;
  auto server = net.bind(7000);
  auto client = net.bind();
  constexpr std::uint32_t kN = 2000;
  std::atomic<bool> stop{false};
  std::thread srv([&] {
    RecvBuffers rb(32);
    while (!stop.load()) {
      const std::size_t n = server->recv_burst(rb.dgrams, 1ms);
      // Each received datagram's peer is its sender: send them straight back.
      std::vector<Datagram> replies(rb.dgrams.begin(),
                                    rb.dgrams.begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_EQ(server->send_burst(replies), n);
    }
  });
  std::vector<bool> seen(kN, false);
  std::uint32_t got = 0;
  RecvBuffers rb(32);
  for (std::uint32_t t = 0; t < kN; t += 50) {
    send_tags(*client, server->local(), t, 50);
    const auto deadline = Clock::now() + 10s;
    while (got < t + 50 && Clock::now() < deadline) {
      const std::size_t n = client->recv_burst(rb.dgrams, 10ms);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t tag = tag_of(rb.dgrams[i]);
        ASSERT_LT(tag, kN);
        EXPECT_FALSE(seen[tag]);
        seen[tag] = true;
        EXPECT_EQ(rb.dgrams[i].peer, server->local());
        ++got;
      }
    }
  }
  stop = true;
  srv.join();
  EXPECT_EQ(got, kN);
  EXPECT_EQ(net.delivered(), 2u * kN);
}

}  // namespace
}  // namespace buddy::kv::wire::testing
