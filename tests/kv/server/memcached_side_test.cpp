// Where the memcached front end runs (docs/memcached.md, "Where it runs"), in every design, with
// the engine on threads (the same EngineRuntime a buddykv-engine process runs): on the host in
// cpu-only, in the engine in the offloaded designs, where the host binds no memcached port and
// reads the front end's port and counters from the engine control block. A stock memcached
// exchange over TCP is answered byte for byte, the item lands in the server's store (a native
// client reads it with its item header), and STATS name the side and count the front end's CPU.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "buddy/kv/client/client.hpp"
#include "buddy/kv/server/server.hpp"
#include "buddy/kv/wire/memcached_item.hpp"
#include "design_config.hpp"

namespace buddy::kv {
namespace {

using namespace std::chrono_literals;
using server::Server;
using server::ServerConfig;

ServerConfig config_for(const std::string& design) {
  ServerConfig c = design_config(design);
  c.memcached_port = 0;  // any free port
  return c;
}

// Sends `req` to 127.0.0.1:port and reads until the answer ends with `end` (10 s at most).
std::string exchange(int port, const std::string& req, const std::string& end) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    while (got.size() < end.size() || got.compare(got.size() - end.size(), end.size(), end) != 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

class MemcachedSide : public ::testing::TestWithParam<const char*> {};

TEST_P(MemcachedSide, RunsOnTheSideThatParsesTheNativeProtocol) {
  const std::string design = GetParam();
  const bool offloaded = design != "cpu-only";
  Server s(config_for(design));
  s.start();
  ASSERT_GT(s.memcached_port(), 0);
  EXPECT_EQ(s.memcached_side(), offloaded ? serving::Side::engine : serving::Side::host);
  EXPECT_GT(s.memcached_max_value(), 1000u);

  EXPECT_EQ(exchange(s.memcached_port(),
                     "set greeting 7 0 5\r\nhello\r\nget greeting\r\nmg greeting v f\r\n"
                     "set gone 0 0 1\r\nx\r\nmd gone\r\nmg gone v\r\n",
                     "EN\r\n"),
            "STORED\r\nVALUE greeting 7 5\r\nhello\r\nEND\r\nVA 5 f7\r\nhello\r\nSTORED\r\nHD\r\n"
            "EN\r\n")
      << design;

  // The item is in the server's store: a native client sees it, with the front end's header.
  ClientConfig cc;
  cc.server = "127.0.0.1:" + std::to_string(s.control_port());
  Client c(cc);
  const auto r = c.get("greeting");
  ASSERT_EQ(r.status, wire::Status::ok) << design;
  ASSERT_EQ(r.value.size(), wire::mc::kItemHeader + 5) << design;
  EXPECT_EQ(r.value.substr(wire::mc::kItemHeader), "hello");

  // The engine publishes the front end's counters into the block every 10 ms.
  serving::MemcachedCounters mc;
  for (int i = 0; i < 500; ++i) {
    mc = s.memcached_counters();
    if (mc.commands[static_cast<std::size_t>(wire::mc::Op::set)] == 2 && mc.cpu_ns > 0) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(mc.connections, 1u) << design;
  EXPECT_EQ(mc.commands[static_cast<std::size_t>(wire::mc::Op::set)], 2u) << design;
  EXPECT_EQ(mc.commands[static_cast<std::size_t>(wire::mc::Op::mg)], 2u) << design;
  EXPECT_GT(mc.cpu_ns, 0u) << design;
  const std::string stats = s.stats_json();
  std::string side = "\"memcached\":{\"port\":" + std::to_string(s.memcached_port()) +
                     ",\"side\":\"" + (offloaded ? "engine" : "host") + "\"";
  EXPECT_NE(stats.find(side), std::string::npos) << stats;
  s.stop();
  EXPECT_EQ(s.engine_lost(), "");
}

INSTANTIATE_TEST_SUITE_P(All, MemcachedSide,
                         ::testing::Values("cpu-only", "engine-only", "lat", "sav", "dual", "shrd"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

}  // namespace
}  // namespace buddy::kv
