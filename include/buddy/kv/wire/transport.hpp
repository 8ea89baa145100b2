// The narrow burst transport every buddykv endpoint talks through (as in eRPC and MICA2): receive
// a burst of datagrams, send a burst. UdpSocket (udp.hpp) is the real one; FakeNetwork
// (fake_net.hpp) is an in-memory one for tests, with loss and reordering on demand.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace buddy::kv::wire {

// An IPv4 address and port, host byte order.
struct Endpoint {
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

std::string to_string(const Endpoint& e);
// "a.b.c.d:port" or "host:port" (resolved); throws std::runtime_error with a one-line message.
Endpoint parse_endpoint(const std::string& s);
Endpoint make_endpoint(const std::string& host, std::uint16_t port);

// One datagram buffer. For receive: data/capacity are the caller's, size and peer are filled in.
// For send: data/size are the datagram, peer the destination.
struct Datagram {
  std::byte* data = nullptr;
  std::uint32_t size = 0;
  std::uint32_t capacity = 0;
  Endpoint peer;
};

class BurstTransport {
 public:
  virtual ~BurstTransport() = default;
  // Fills up to out.size() datagrams; waits at most `wait` for the first one (0: do not wait).
  // Datagrams larger than a buffer's capacity are truncated by the OS: they arrive with
  // size == capacity + 1 so the caller can count and drop them.
  virtual std::size_t recv_burst(std::span<Datagram> out, std::chrono::microseconds wait) = 0;
  // Sends the datagrams in order; returns how many were handed to the network (the rest failed,
  // e.g. no buffer space; UDP semantics: the caller may treat them as lost).
  virtual std::size_t send_burst(std::span<const Datagram> dgrams) = 0;
  virtual Endpoint local() const = 0;
  // A file descriptor that polls readable when a receive would find a datagram (-1: none), so a
  // thread can wait on it beside others (epoll).
  virtual int wait_fd() const { return -1; }
};

}  // namespace buddy::kv::wire
