// Many servers in one process on loopback UDP, driven by the real ClusterClient: a static list
// (--servers), then a membership that changes under load (as a registry watcher changes it).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "buddy/kv/client/cluster_client.hpp"
#include "buddy/kv/server/server.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv {
namespace {

using namespace std::chrono_literals;
using server::Server;
using wire::Opcode;
using wire::Status;

std::unique_ptr<Server> start_server() {
  server::ServerConfig c;
  c.port = 0;
  c.placement.host_threads = 1;
  c.placement.partitions_per_thread = 2;
  c.store.memory_bytes = std::size_t{32} << 20;
  auto s = std::make_unique<Server>(c);
  s->start();
  return s;
}

std::string addr(const Server& s) {
  return "127.0.0.1:" + std::to_string(s.control_port());
}

ClientConfig client_config() {
  ClientConfig c;
  c.timeout = 100ms;
  return c;
}

// What a registry watcher does, by hand: a list that the test changes.
class ListMembership final : public Membership {
 public:
  std::uint64_t generation() const noexcept override { return gen_.load(); }
  std::vector<ServerAddress> servers() const override {
    std::lock_guard<std::mutex> l(mu_);
    return list_;
  }
  void set(std::vector<ServerAddress> l) {
    std::lock_guard<std::mutex> g(mu_);
    list_ = std::move(l);
    gen_.fetch_add(1);
  }

 private:
  mutable std::mutex mu_;
  std::vector<ServerAddress> list_;
  std::atomic<std::uint64_t> gen_{1};
};

// Submits every (key, value) as a SET (or a GET when value is empty) and waits for all answers.
std::map<std::uint64_t, RoutedCompletion> run(ClusterClient& c,
                                              const std::vector<std::string>& keys,
                                              const std::string& value_prefix,
                                              std::map<std::uint64_t, std::string>* values) {
  std::map<std::uint64_t, RoutedCompletion> got;
  std::array<RoutedCompletion, 64> done;
  auto take = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      got[done[i].tag] = done[i];
      if (values != nullptr) (*values)[done[i].tag] = std::string(done[i].value);
    }
  };
  for (std::uint64_t i = 0; i < keys.size(); ++i) {
    const bool get = value_prefix.empty();
    const std::string v = value_prefix + keys[i];
    while (!c.submit(get ? Opcode::get : Opcode::set, keys[i], get ? "" : v, i)) {
      take(c.poll(done, 1ms));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((c.outstanding() > 0 || got.size() < keys.size()) &&
         std::chrono::steady_clock::now() < deadline) {
    take(c.poll(done, 1ms));
  }
  return got;
}

std::vector<std::string> make_keys(int n) {
  std::vector<std::string> k;
  for (int i = 0; i < n; ++i) k.push_back("key-" + std::to_string(i));
  return k;
}

TEST(Cluster, StaticListRoutesEveryKeyToItsOwner) {
  std::vector<std::unique_ptr<Server>> s;
  for (int i = 0; i < 3; ++i) s.push_back(start_server());
  ClusterConfig cfg;
  cfg.client = client_config();
  cfg.servers = parse_server_list(addr(*s[0]) + "," + addr(*s[1]) + "," + addr(*s[2]));
  ClusterClient c(cfg);
  ASSERT_EQ(c.servers().ids(), (std::vector<std::uint32_t>{0, 1, 2}));

  const auto keys = make_keys(6000 / buddy::testing::kScale);
  const auto sets = run(c, keys, "v-", nullptr);
  ASSERT_EQ(sets.size(), keys.size());
  std::array<std::uint64_t, 3> per{};
  for (const auto& [tag, d] : sets) {
    ASSERT_FALSE(d.timed_out) << keys[tag];
    ASSERT_EQ(d.status, Status::ok) << keys[tag];
    ASSERT_EQ(d.server, c.owner(keys[tag])) << keys[tag];
    ++per[d.server];
  }
  // Each server holds what the route gave it, and only that: its store's item count.
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(per[i], keys.size() / 5) << "server " << i;
    EXPECT_EQ(s[i]->store_stats().items, per[i]) << "server " << i;
  }
  std::map<std::uint64_t, std::string> values;
  const auto gets = run(c, keys, "", &values);
  for (const auto& [tag, d] : gets) {
    ASSERT_EQ(d.status, Status::ok) << keys[tag];
    ASSERT_EQ(values[tag], "v-" + keys[tag]);
  }
  EXPECT_EQ(c.counters().timeouts, 0u);
  EXPECT_EQ(c.set("x", "y").status, Status::ok);
  EXPECT_EQ(c.get("x").value, "y");
  EXPECT_NE(c.stats(c.owner("x")).find("\"requests\":"), std::string::npos);
}

TEST(Cluster, StaticListWithADeadServerFailsInOneLine) {
  auto s = start_server();
  ClusterConfig cfg;
  cfg.client = client_config();
  cfg.client.hello_timeout = 300ms;
  cfg.servers = parse_server_list(addr(*s) + ",127.0.0.1:1");
  try {
    ClusterClient c(cfg);
    FAIL() << "a server that does not answer was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}

TEST(Cluster, FollowsJoinAndLeaveUnderLoad) {
  std::vector<std::unique_ptr<Server>> s;
  for (int i = 0; i < 4; ++i) s.push_back(start_server());
  auto m = std::make_shared<ListMembership>();
  m->set({{0, addr(*s[0])}, {1, addr(*s[1])}, {2, addr(*s[2])}});
  ClusterConfig cfg;
  cfg.client = client_config();
  cfg.membership = m;
  ClusterClient c(cfg);
  ASSERT_EQ(c.servers().ids().size(), 3u);

  const auto keys = make_keys(4000 / buddy::testing::kScale);
  std::vector<std::uint32_t> before;
  for (const auto& k : keys) before.push_back(c.owner(k));
  for (const auto& [tag, d] : run(c, keys, "a-", nullptr)) ASSERT_EQ(d.status, Status::ok);

  // A fourth server joins: keys move only to it; the others are read back where they were.
  m->set({{0, addr(*s[0])}, {1, addr(*s[1])}, {2, addr(*s[2])}, {3, addr(*s[3])}});
  std::array<RoutedCompletion, 64> done;
  ASSERT_EQ(c.poll(done, 0ms), 0u);  // the membership is read at each poll
  std::map<std::uint64_t, std::string> values;
  const auto gets = run(c, keys, "", &values);
  ASSERT_EQ(c.servers().ids().size(), 4u);
  int moved = 0;
  for (const auto& [tag, d] : gets) {
    if (d.server != before[tag]) {
      ASSERT_EQ(d.server, 3u);
      ASSERT_EQ(d.status, Status::not_found);  // no migration (docs/kv-cluster.md)
      ++moved;
    } else {
      ASSERT_EQ(d.status, Status::ok) << keys[tag];
      ASSERT_EQ(values[tag], "a-" + keys[tag]);
    }
  }
  EXPECT_GT(moved, static_cast<int>(keys.size()) / 8);

  // Server 1 leaves while a window of SETs is in flight: they go to the new owners.
  for (std::uint64_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(c.submit(Opcode::set, keys[i], "b-" + keys[i], i) || i > 0);
    if (i == 200) {
      s[1]->stop();
      m->set({{0, addr(*s[0])}, {2, addr(*s[2])}, {3, addr(*s[3])}});
      break;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (c.outstanding() > 0 && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = c.poll(done, 1ms);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_FALSE(done[i].timed_out);
      ASSERT_EQ(done[i].status, Status::ok);
      ASSERT_NE(done[i].server, 1u);
    }
  }
  EXPECT_EQ(c.outstanding(), 0u);
  EXPECT_EQ(c.cluster_counters().leaves, 1u);
  EXPECT_EQ(c.counters().timeouts, 0u);
  for (const auto& [tag, d] : run(c, keys, "c-", nullptr)) {
    ASSERT_EQ(d.status, Status::ok);
    ASSERT_NE(d.server, 1u);
  }
}

TEST(Cluster, WithoutServersRequestsWaitThenGoOrTimeOut) {
  auto s = start_server();
  auto m = std::make_shared<ListMembership>();  // nobody registered yet
  ClusterConfig cfg;
  cfg.client = client_config();
  cfg.membership = m;
  cfg.hold_without_servers = 300ms;
  ClusterClient c(cfg);
  ASSERT_TRUE(c.servers().empty());
  ASSERT_TRUE(c.submit(Opcode::set, "k", "v", 1));
  std::array<RoutedCompletion, 4> done;
  EXPECT_EQ(c.poll(done, 1ms), 0u);  // waits in the client
  EXPECT_EQ(c.outstanding(), 1u);
  m->set({{0, addr(*s)}});  // a server appears: the request goes, in order
  std::size_t n = 0;
  for (int i = 0; i < 1000 && n == 0; ++i) n = c.poll(done, 1ms);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(done[0].tag, 1u);
  EXPECT_FALSE(done[0].timed_out);
  EXPECT_EQ(done[0].status, Status::ok);
  EXPECT_EQ(c.get("k").value, "v");

  m->set({});  // gone again: a request waits hold_without_servers, then times out locally
  ASSERT_EQ(c.poll(done, 0ms), 0u);
  ASSERT_TRUE(c.submit(Opcode::get, "k", "", 2));
  const auto t0 = std::chrono::steady_clock::now();
  n = 0;
  while (n == 0 && std::chrono::steady_clock::now() - t0 < 5s) n = c.poll(done, 1ms);
  ASSERT_EQ(n, 1u);
  EXPECT_TRUE(done[0].timed_out);
  EXPECT_TRUE(done[0].local);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
}

}  // namespace
}  // namespace buddy::kv
