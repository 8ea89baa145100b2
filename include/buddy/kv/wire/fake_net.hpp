// An in-memory network for tests: ports are queues of datagrams, with optional loss, duplication
// and reordering from a seeded generator, so client retries and server drops can be tested
// deterministically without sockets. Thread-safe: a server thread and a client thread may each
// own a port.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::wire {

struct FakeFaults {
  double loss = 0.0;       // probability a sent datagram vanishes
  double duplicate = 0.0;  // probability it is delivered twice
  double reorder = 0.0;    // probability it is delivered before the datagram queued ahead of it
  std::uint64_t seed = 1;
};

class FakeNetwork {
 public:
  explicit FakeNetwork(FakeFaults faults = {}) : faults_(faults), rng_(faults.seed) {}

  // A port bound at 127.0.0.1:port (0: the next free one). Throws if the port is taken.
  std::unique_ptr<BurstTransport> bind(std::uint16_t port = 0);

  std::uint64_t delivered() const;
  std::uint64_t lost() const;

 private:
  friend class FakePort;
  struct Queue {
    std::deque<std::vector<std::byte>> data;
    std::deque<Endpoint> from;
    std::condition_variable cv;
  };
  void deliver(const Endpoint& from, const Datagram& d);
  std::size_t receive(std::uint16_t port, std::span<Datagram> out, std::chrono::microseconds wait);
  void close(std::uint16_t port);

  FakeFaults faults_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::uint16_t, std::unique_ptr<Queue>> queues_;
  std::uint16_t next_port_ = 40000;
  std::uint64_t delivered_ = 0;
  std::uint64_t lost_ = 0;
};

}  // namespace buddy::kv::wire
