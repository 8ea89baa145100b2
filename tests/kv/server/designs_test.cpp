// Every design served for real, in one process: the server with its engine on threads (the same
// EngineRuntime a buddykv-engine process runs, attached to the same kind of segment), loopback
// UDP, and the real client. Each design must answer a mixed workload (SET/GET/DELETE, values of
// 1 B to 1.2 KB) exactly as a model map does, reject a partition sent to the wrong port, and
// account every request in its statistics.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "buddy/kv/client/client.hpp"
#include "buddy/kv/server/server.hpp"
#include "buddy/kv/wire/udp.hpp"
#include "buddy/kv/wire/writer.hpp"
#include "buddy_test_util.hpp"
#include "design_config.hpp"

namespace buddy::kv {
namespace {

using namespace std::chrono_literals;
using server::Server;
using server::ServerConfig;
using wire::Opcode;
using wire::Status;

ServerConfig config_for(const std::string& design) {
  return design_config(design);
}

// "prefix" + i, built without the operator+ that trips GCC 12's -Wrestrict.
std::string name(const char* prefix, int i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

ClientConfig client_for(const Server& s) {
  ClientConfig c;
  c.server = "127.0.0.1:" + std::to_string(s.control_port());
  // The test counts every request reaching a store once: a 200 ms floor keeps the RTT-based
  // timeout from retrying when the oversubscribed machine stalls a thread for a few ms.
  c.timeout = 200ms;
  c.min_timeout = 200ms;
  return c;
}

// Submits every (op, key, value) through the asynchronous API and returns the answers by index.
std::vector<std::pair<Status, std::string>> run_all(
    Client& c, const std::vector<std::tuple<Opcode, std::string, std::string>>& ops) {
  std::vector<std::pair<Status, std::string>> got(ops.size(), {Status::malformed, "unanswered"});
  std::array<Completion, 64> done;
  std::size_t next = 0, answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (answered < ops.size() && std::chrono::steady_clock::now() < deadline) {
    while (next < ops.size()) {
      const auto& [op, k, v] = ops[next];
      if (!c.submit(op, k, v, next)) break;
      ++next;
    }
    c.flush();
    const std::size_t n = c.poll(done, 1ms);
    for (std::size_t i = 0; i < n; ++i) {
      got[done[i].tag] = {done[i].status, std::string(done[i].value)};
      ++answered;
    }
  }
  return got;
}

class Design : public ::testing::TestWithParam<const char*> {};

TEST_P(Design, AnswersAMixedWorkloadLikeAModel) {
  Server s(config_for(GetParam()));
  s.start();
  Client c(client_for(s));
  ASSERT_EQ(c.map().ports.size(), s.placement().port_thread.size());

  std::mt19937_64 rng(11);
  const int keys = 3000 / buddy::testing::kScale;
  std::map<std::string, std::string> model;
  std::uint64_t sent = 0;
  for (int round = 0; round < 4; ++round) {
    // SETs and DELETEs first (distinct keys per batch, so order within a batch cannot matter),
    // then a GET of every key, present or not.
    std::vector<std::tuple<Opcode, std::string, std::string>> writes, reads;
    for (int i = 0; i < keys; ++i) {
      const std::string k = name("k", i);
      const auto r = rng() % 10;
      if (r < 5) {
        std::string v(1 + rng() % 1200, static_cast<char>('a' + (rng() % 26)));
        v[0] = static_cast<char>('0' + round);
        writes.emplace_back(Opcode::set, k, v);
        model[k] = v;
      } else if (r < 6) {
        writes.emplace_back(Opcode::del, k, "");
        model.erase(k);
      }
    }
    const auto w = run_all(c, writes);
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const Opcode op = std::get<0>(writes[i]);
      if (op == Opcode::set) {
        ASSERT_EQ(w[i].first, Status::ok) << GetParam() << " SET " << std::get<1>(writes[i]);
      } else {
        ASSERT_TRUE(w[i].first == Status::ok || w[i].first == Status::not_found);
      }
    }
    for (int i = 0; i < keys; ++i) reads.emplace_back(Opcode::get, name("k", i), "");
    const auto g = run_all(c, reads);
    for (int i = 0; i < keys; ++i) {
      const std::string k = name("k", i);
      const auto it = model.find(k);
      if (it == model.end()) {
        ASSERT_EQ(g[i].first, Status::not_found) << GetParam() << " " << k;
      } else {
        ASSERT_EQ(g[i].first, Status::ok) << GetParam() << " " << k;
        ASSERT_EQ(g[i].second, it->second) << GetParam() << " " << k;
      }
    }
    sent += writes.size() + reads.size();
  }
  // An oversubscribed machine (tests run two at a time on 2 cores) can delay an answer past the
  // timeout: the retransmission is answered twice and every result above still matches the
  // model. No request may give up, though. (0 retransmissions on a quiet machine: ./buddy demo.)
  EXPECT_EQ(c.counters().timeouts, 0u);

  const std::string stats = c.stats();
  std::string design_field = "\"design\":\"";
  design_field += GetParam();
  EXPECT_NE(stats.find(design_field), std::string::npos) << stats;
  s.stop();
  const auto t = s.totals();
  EXPECT_EQ(t.requests, sent);
  EXPECT_EQ(t.processed, sent);  // every request reached a store exactly once
  EXPECT_EQ(t.dropped(), 0u);
  EXPECT_EQ(s.store_stats().items, model.size());
  const bool offloaded = std::string(GetParam()) != "cpu-only";
  EXPECT_EQ(s.cpu_s(serving::Side::engine) > 0, offloaded);
  EXPECT_EQ(s.engine_lost(), "");
}

TEST_P(Design, RejectsAPartitionSentToAnotherPort) {
  Server s(config_for(GetParam()));
  s.start();
  const wire::PartitionMap& m = s.map();
  ASSERT_GE(m.ports.size(), 2u);
  // A key whose partition belongs to port 0, sent to port 1.
  std::string key;
  for (int i = 0;; ++i) {
    key = name("x", i);
    if (m.port_index_for(wire::key_hash(key)) == 0) break;
  }
  wire::UdpSocket sock{wire::Endpoint{0x7f000001, 0}};
  std::vector<std::byte> buf(1472), in(1472);
  wire::RequestWriter w(buf, 5);
  ASSERT_TRUE(w.add(Opcode::set, wire::key_hash(key), 77, 1, key, "v"));
  const std::size_t n = w.finish();
  wire::Datagram d{buf.data(), static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n),
                   wire::Endpoint{0x7f000001, m.ports[1]}};
  ASSERT_EQ(sock.send_burst({&d, 1}), 1u);
  wire::Datagram r{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
  ASSERT_EQ(sock.recv_burst({&r, 1}, 5s), 1u);
  std::array<wire::ResponseView, 4> views;
  const auto p = wire::parse_responses({r.data, r.size}, views);
  ASSERT_EQ(p.drop, wire::Drop::none);
  ASSERT_EQ(p.count, 1u);
  EXPECT_EQ(views[0].h.request_id, 77u);
  EXPECT_EQ(views[0].h.status, Status::wrong_partition);
  s.stop();
  EXPECT_EQ(s.store_stats().items, 0u);
}

INSTANTIATE_TEST_SUITE_P(All, Design,
                         ::testing::Values("cpu-only", "engine-only", "lat", "sav", "dual", "shrd"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

TEST(Designs, ABadConfigurationIsOneLine) {
  ServerConfig c = config_for("lat");
  c.placement.engine_threads = 0;
  EXPECT_NE(server::validate(c).find("engine threads"), std::string::npos);
  c = config_for("sav");
  c.engine = server::EngineMode::process;
  c.engine_binary = "/nonexistent/buddykv-engine";
  try {
    Server s(c);
    FAIL() << "started without an engine";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not executable"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace buddy::kv
