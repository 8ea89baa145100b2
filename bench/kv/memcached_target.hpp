// buddykv-bench's memcached target: drives a stock memcached over one TCP connection per bench
// thread, so the same YCSB loop, verification and latency accounting run against both servers.
//
//   auto t = buddy::bench::make_memcached_target({.host = "127.0.0.1", .port = 11211});
//   t->submit(OpKind::set, "k", "v", 1);  // queued; written to the socket by poll()
//   std::array<Done, 64> done;
//   std::size_t n = t->poll(done, std::chrono::milliseconds(1));
//
// Requests are pipelined: everything submitted since the last poll() goes out in one send(), and
// the answers are parsed as a stream. The protocol and why it was chosen: memcached_target.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "target.hpp"

namespace buddy::bench {

enum class MemcachedProtocol : std::uint8_t {
  meta,   // mg/ms, one answer per request, in order (default; needs memcached >= 1.6)
  ascii,  // classic text protocol: "get k1 k2 ... kN" multi-gets and "set" (any version)
};

struct MemcachedOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 11211;
  std::size_t window = 1024;  // most outstanding requests, 1..1<<20
  MemcachedProtocol protocol = MemcachedProtocol::meta;
  std::size_t multiget = 100;  // ascii: most keys per "get" line (1..1000)
  // No answer to the oldest outstanding request for this long: every outstanding request is
  // reported as a timeout and the connection is given up (0: wait forever).
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};  // connect and the "version" handshake
};

// Connects (TCP, TCP_NODELAY), checks that a memcached answers ("version"; the meta protocol
// needs 1.6 or later) and returns a Target. Throws std::runtime_error with a one-line reason:
// "cannot connect to memcached at HOST:PORT: ...".
//
// The Target never throws from submit()/poll(). A request memcached cannot take (key empty,
// longer than 250 bytes or with a space or control character) is answered by the next poll() as
// an error without being sent. If the connection breaks (memcached closed it, a socket error, an
// answer that does not parse) or the timeout passes, every outstanding request and every later
// one is reported as an error (timeout) whose detail names the reason, e.g.
// "memcached at 127.0.0.1:11211 closed the connection".
std::unique_ptr<Target> make_memcached_target(const MemcachedOptions& o);

}  // namespace buddy::bench
