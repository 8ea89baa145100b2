// LinkedTransport: linked requests reach the worker ahead of the socket's, in order, from
// kLinkPeer; answers to kLinkPeer stay in-process for take(), others go out of the real socket;
// truncation as recv_burst does; the queues grow past their first size and keep their order.
#include "buddy/kv/wire/linked_transport.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "buddy/kv/wire/fake_net.hpp"
#include "wire_test_util.hpp"

namespace buddy::kv::wire::testing {
namespace {

using namespace std::chrono_literals;

Bytes tagged(std::uint32_t tag, std::size_t size = 8) {
  Bytes b(size);
  store(b.data(), tag);
  return b;
}

struct RecvBuffers {
  explicit RecvBuffers(std::size_t n, std::uint32_t cap = 256) : bytes(n, Bytes(cap)), dgrams(n) {
    for (std::size_t i = 0; i < n; ++i) dgrams[i] = Datagram{bytes[i].data(), 0, cap, {}};
  }
  std::uint32_t tag(std::size_t i) const { return load<std::uint32_t>(dgrams[i].data); }
  std::vector<Bytes> bytes;
  std::vector<Datagram> dgrams;
};

TEST(LinkedTransport, LinkedRequestsComeFirstInOrderThenTheSockets) {
  FakeNetwork net;
  auto client = net.bind();
  LinkedTransport link(net.bind());
  const Bytes remote = tagged(100);
  Datagram d{const_cast<std::byte*>(remote.data()), 8, 8, link.local()};
  ASSERT_EQ(client->send_burst({&d, 1}), 1u);
  EXPECT_FALSE(link.has_requests());
  for (std::uint32_t i = 0; i < 20; ++i) link.deliver(tagged(i));  // past the first 8 buffers
  EXPECT_TRUE(link.has_requests());

  RecvBuffers rx(16);
  ASSERT_EQ(link.recv_burst(rx.dgrams, 0us), 16u);
  for (std::uint32_t i = 0; i < 16; ++i) {
    EXPECT_EQ(rx.tag(i), i);
    EXPECT_EQ(rx.dgrams[i].size, 8u);
    EXPECT_EQ(rx.dgrams[i].peer, kLinkPeer);
  }
  ASSERT_EQ(link.recv_burst(rx.dgrams, 0us), 4u);  // the linked ones only, no wait
  EXPECT_EQ(rx.tag(3), 19u);
  EXPECT_FALSE(link.has_requests());
  ASSERT_EQ(link.recv_burst(rx.dgrams, 100ms), 1u);  // then the socket's
  EXPECT_EQ(rx.tag(0), 100u);
  EXPECT_EQ(rx.dgrams[0].peer, client->local());
  EXPECT_EQ(link.recv_burst(rx.dgrams, 0us), 0u);
}

TEST(LinkedTransport, AnswersToTheLinkStayInProcessOthersAreSent) {
  FakeNetwork net;
  auto client = net.bind();
  LinkedTransport link(net.bind());
  const Bytes a = tagged(1), b = tagged(2, 12), c = tagged(3), e = tagged(4);
  std::vector<Datagram> tx{{const_cast<std::byte*>(a.data()), 8, 8, kLinkPeer},
                           {const_cast<std::byte*>(b.data()), 12, 12, client->local()},
                           {const_cast<std::byte*>(c.data()), 8, 8, kLinkPeer},
                           {const_cast<std::byte*>(e.data()), 8, 8, client->local()}};
  EXPECT_EQ(link.send_burst(tx), 4u);

  RecvBuffers got(4);
  ASSERT_EQ(link.take(got.dgrams), 2u);
  EXPECT_EQ(got.tag(0), 1u);
  EXPECT_EQ(got.tag(1), 3u);
  EXPECT_EQ(got.dgrams[0].peer, link.local());
  EXPECT_EQ(link.take(got.dgrams), 0u);

  RecvBuffers sent(4);
  ASSERT_EQ(client->recv_burst(sent.dgrams, 100ms), 2u);
  EXPECT_EQ(sent.tag(0), 2u);
  EXPECT_EQ(sent.dgrams[0].size, 12u);
  EXPECT_EQ(sent.tag(1), 4u);
  EXPECT_EQ(sent.dgrams[1].peer, link.local());
  EXPECT_EQ(link.wait_fd(), -1);  // the fake network has no descriptor
}

TEST(LinkedTransport, OversizeIsMarkedAsTheSocketDoes) {
  FakeNetwork net;
  LinkedTransport link(net.bind());
  link.deliver(tagged(7, 64));
  RecvBuffers rx(2, 16);
  ASSERT_EQ(link.recv_burst(rx.dgrams, 0us), 1u);
  EXPECT_EQ(rx.dgrams[0].size, 17u);  // capacity + 1: the caller counts and drops it
  EXPECT_EQ(rx.tag(0), 7u);
}

}  // namespace
}  // namespace buddy::kv::wire::testing
