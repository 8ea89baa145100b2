// A serving port with an in-process entrance: a BurstTransport that wraps a real one (the port's
// UDP socket) and adds a lossless in-memory link for a client that runs on the same thread (the
// memcached front end, docs/memcached.md). The client puts request datagrams in with deliver();
// the worker receives them from recv_burst() ahead of the socket's; the worker's answers to
// kLinkPeer are kept for the client's take() instead of being sent; everything else goes through
// the real transport. Single-threaded: the worker and the linked client run on one thread, so
// nothing is locked; buffers are reused, a datagram is copied once each way.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::wire {

// The source address of the linked client's datagrams (0.0.0.0:1 is never a UDP peer).
inline constexpr Endpoint kLinkPeer{0, 1};

class LinkedTransport final : public BurstTransport {
 public:
  explicit LinkedTransport(std::unique_ptr<BurstTransport> real) : real_(std::move(real)) {}

  // The linked client's side.
  void deliver(std::span<const std::byte> datagram);  // a request datagram for the worker
  // Copies up to out.size() of the worker's answers into out (as recv_burst fills a buffer).
  std::size_t take(std::span<Datagram> out);
  bool has_requests() const noexcept { return in_.count > 0; }

  // The worker's side: linked requests first (no wait then), then the real transport's.
  std::size_t recv_burst(std::span<Datagram> out, std::chrono::microseconds wait) override;
  std::size_t send_burst(std::span<const Datagram> dgrams) override;
  Endpoint local() const override { return real_->local(); }
  int wait_fd() const override { return real_->wait_fd(); }

 private:
  // A FIFO of datagrams whose buffers are kept for reuse.
  struct Fifo {
    std::vector<std::vector<std::byte>> bufs;
    std::size_t head = 0, count = 0;
    void push(std::span<const std::byte> d);
    std::size_t pop(std::span<Datagram> out, Endpoint peer);
  };
  std::unique_ptr<BurstTransport> real_;
  Fifo in_, out_;
};

}  // namespace buddy::kv::wire
