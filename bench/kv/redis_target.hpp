// buddykv-bench's Redis target: drives a stock redis-server over one TCP connection per bench
// thread with RESP (the Redis serialization protocol), pipelined exactly like the memcached
// target (pipelined_target.hpp: same window, same in-order matching, same timeout), so the same
// YCSB loop, verification and latency accounting run against buddykv, memcached and Redis.
//
//   auto t = buddy::bench::make_redis_target({.host = "127.0.0.1", .port = 6379});
//   t->submit(OpKind::set, "k", "v", 1);  // queued; written to the socket by poll()
//   std::array<Done, 64> done;
//   std::size_t n = t->poll(done, std::chrono::milliseconds(1));
//
// Requests are RESP arrays of bulk strings, answers RESP2:
//   GET  "*2\r\n$3\r\nGET\r\n$<klen>\r\n<key>\r\n"   -> "$<len>\r\n<data>\r\n" | "$-1\r\n"
//   SET  "*3\r\n$3\r\nSET\r\n$<klen>\r\n<key>\r\n$<vlen>\r\n<value>\r\n" -> "+OK\r\n"
// An error answer ("-OOM command not allowed when used memory > 'maxmemory'.", "-ERR ...") is
// that request's Outcome::error with the line (without '-') as detail; anything else (another
// type, a malformed line) fails the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "target.hpp"

namespace buddy::bench {

struct RedisOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::size_t window = 1024;  // most outstanding requests, 1..1<<20
  // No answer to the oldest outstanding request for this long: every outstanding request is
  // reported as a timeout and the connection is given up (0: wait forever).
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};  // connect and the "PING" handshake
};

// Connects (TCP, TCP_NODELAY), checks that a Redis answers "PING" with "+PONG" and returns a
// Target. Throws std::runtime_error with a one-line reason: "cannot connect to redis at
// HOST:PORT: ..." (a server that wants AUTH is refused there, with its answer).
//
// The Target never throws from submit()/poll(). Every key is valid (RESP is binary safe). If
// the connection breaks or the timeout passes, every outstanding request and every later one is
// reported as an error (timeout) whose detail names the reason, e.g.
// "redis at 127.0.0.1:6379 closed the connection".
std::unique_ptr<Target> make_redis_target(const RedisOptions& o);

}  // namespace buddy::bench
