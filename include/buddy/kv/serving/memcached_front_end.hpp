// The memcached front end (docs/memcached.md): a TCP listener and its connections (epoll,
// non-blocking, pipelined) served by one thread, which turns memcached text and meta commands
// (kv/wire/memcached.hpp) into the native protocol's requests, batched into one datagram per
// serving port, as a native client does: multi-key gets are split per partition, and every
// connection is answered in its command order. Hosted on a serving thread (MemcachedConfig::host)
// it hands that thread's port its datagrams in-process (wire::LinkedTransport) and steps the
// worker itself; other ports are reached over UDP. It therefore runs in every design, whatever
// thread owns a partition: the server runs it on the host in cpu-only, the engine runtime
// (kv/engine) on the engine side in the offloaded designs, so that memcached parsing leaves the
// host's CPU there (docs/memcached.md).
//
// Commands that read and then write an item (add, cas, incr, append, touch, ms with a mode, ...)
// take an exclusive lock on their key inside the front end, reads a shared one, so that commands
// from all its connections on one key run one at a time, in order. memcached's item attributes
// (flags, exptime, CAS, flush epoch) are kept in the value (kv/wire/memcached_item.hpp).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "buddy/base/fields.hpp"
#include "buddy/base/shared_words.hpp"
#include "buddy/kv/serving/side.hpp"
#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/memcached.hpp"
#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::serving {

struct MemcachedConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port
  wire::PartitionMap map;  // the serving ports (on bind) and who owns which partition
  std::size_t max_connections = 4096;
  std::size_t max_line = wire::mc::kDefaultMaxLine;
  std::size_t max_inflight = 1024;        // commands of one connection started at once
  std::chrono::milliseconds timeout{50};  // before a native request is sent again (doubling)
  int max_retries = 6;
  // The serving thread to run on (its link(): in-process requests to its port, no datagram
  // crosses the kernel; docs/memcached.md): run() is then its loop, serving both the memcached
  // connections and the worker. Null: a thread of its own, every port reached over UDP.
  ServingThread* host = nullptr;
};

// The front end's counters (STATS "memcached"), named once in the field table.
struct MemcachedCounters {
  std::uint64_t connections = 0;          // accepted in all
  std::uint64_t open_connections = 0;     // open now
  std::uint64_t refused_connections = 0;  // over max_connections: answered and closed
  std::uint64_t closed_bad_line = 0;      // closed for a line over max_line
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t native_requests = 0;  // requests sent to serving ports (retransmissions too)
  std::uint64_t retransmits = 0;
  std::uint64_t timeouts = 0;       // commands answered SERVER_ERROR after the last retry
  std::uint64_t server_errors = 0;  // SERVER_ERROR answers from the store (out of memory, ...)
  std::uint64_t cpu_ns = 0;         // CPU time of the thread that runs the front end
  std::array<std::uint64_t, wire::mc::kOps> commands{};
  std::array<std::uint64_t, wire::mc::kErrors> errors{};

  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("connections", s.connections...);
    f("open_connections", s.open_connections...);
    f("refused_connections", s.refused_connections...);
    f("closed_bad_line", s.closed_bad_line...);
    f("bytes_in", s.bytes_in...);
    f("bytes_out", s.bytes_out...);
    f("native_requests", s.native_requests...);
    f("retransmits", s.retransmits...);
    f("timeouts", s.timeouts...);
    f("server_errors", s.server_errors...);
    f("cpu_ns", s.cpu_ns...);
    f(base::Field("commands").each(wire::mc::kOpNames), s.commands...);
    f(base::Field("errors").each(wire::mc::kErrorNames), s.errors...);
  }
};
static_assert(base::field_words<MemcachedCounters>() * 8 == sizeof(MemcachedCounters),
              "every MemcachedCounters field is in its table");

// The largest data block a command may carry with native datagrams of max_datagram bytes (the
// native request's value limit, or the store's 1 MiB, less the item header).
std::size_t memcached_max_value(std::uint32_t max_datagram) noexcept;

class MemcachedFrontEnd {
 public:
  // Binds the TCP listener and the UDP socket; throws std::runtime_error with a one-line reason.
  explicit MemcachedFrontEnd(MemcachedConfig cfg);
  ~MemcachedFrontEnd();
  MemcachedFrontEnd(const MemcachedFrontEnd&) = delete;
  MemcachedFrontEnd& operator=(const MemcachedFrontEnd&) = delete;

  std::uint16_t port() const noexcept;  // the TCP port it listens on
  // Serves until stop is set; open connections are closed then. The calling thread's CPU time
  // from here on is counted in cpu_ns.
  void run(const std::atomic<bool>& stop);
  MemcachedCounters counters() const noexcept { return shared_.read(); }  // any thread
  // The largest data block a command may carry (the native datagram limit less the item header).
  std::size_t max_value() const noexcept;

  struct Impl;

 private:
  MemcachedCounters counters_;  // the serving thread's own
  std::unique_ptr<Impl> impl_;
  base::SharedWords<MemcachedCounters> shared_;
};

}  // namespace buddy::kv::serving
