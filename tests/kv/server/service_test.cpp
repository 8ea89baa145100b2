// End-to-end tests of the buddykv service in one process: a real Server on loopback UDP (port 0:
// any free one) and the real Client, plus raw datagrams for what a client library never sends.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <map>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "buddy/kv/client/client.hpp"
#include "buddy/kv/server/server.hpp"
#include "buddy/kv/wire/fake_net.hpp"
#include "buddy/kv/wire/udp.hpp"
#include "buddy/kv/wire/writer.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv {
namespace {

using namespace std::chrono_literals;
using server::Server;
using server::ServerConfig;
using wire::Opcode;
using wire::Status;

using buddy::testing::kScale;

ServerConfig small_config(unsigned threads = 2, std::uint32_t ppt = 2) {
  ServerConfig c;
  c.port = 0;
  c.placement.host_threads = threads;
  c.placement.partitions_per_thread = ppt;
  c.store.memory_bytes = std::size_t{64} << 20;
  return c;
}

ClientConfig client_for(const Server& s) {
  ClientConfig c;
  c.server = "127.0.0.1:" + std::to_string(s.control_port());
  c.timeout = 100ms;
  return c;
}

// Runs every request through the asynchronous API and returns the completions by tag.
std::map<std::uint64_t, std::pair<Completion, std::string>> drain(Client& c) {
  std::map<std::uint64_t, std::pair<Completion, std::string>> got;
  std::array<Completion, 64> done;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  // Answers may already sit in the client (one receive burst can finish many requests): poll
  // until nothing is outstanding and a poll hands out nothing more.
  for (;;) {
    const std::size_t n = c.poll(done, 1ms);
    for (std::size_t i = 0; i < n; ++i) got[done[i].tag] = {done[i], std::string(done[i].value)};
    if ((n == 0 && c.outstanding() == 0) || std::chrono::steady_clock::now() > deadline) break;
  }
  return got;
}

TEST(Service, SetGetDeleteAcrossPartitions) {
  Server s(small_config(2, 3));
  s.start();
  Client c(client_for(s));
  ASSERT_EQ(c.map().partitions, 6u);
  ASSERT_EQ(c.map().ports.size(), 2u);

  const int n = 20000 / kScale;
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> model;
  for (int i = 0; i < n; ++i) {
    std::string k = "key-" + std::to_string(i), v(1 + rng() % 300, 'a' + static_cast<char>(i % 26));
    while (!c.submit(Opcode::set, k, v, static_cast<std::uint64_t>(i))) {
      std::array<Completion, 64> done;
      const std::size_t got = c.poll(done, 1ms);
      for (std::size_t j = 0; j < got; ++j) ASSERT_EQ(done[j].status, Status::ok);
    }
    model[k] = v;
  }
  for (auto& [tag, r] : drain(c)) ASSERT_EQ(r.first.status, Status::ok) << tag;

  // Every key reads back, a window of GETs at a time, each answered once with its own value.
  std::vector<std::string> keys;
  auto check_window = [&] {
    const auto got = drain(c);
    ASSERT_EQ(got.size(), keys.size());
    for (auto& [t, r] : got) {
      ASSERT_LT(t, keys.size());
      ASSERT_EQ(r.first.status, Status::ok);
      ASSERT_EQ(r.second, model[keys[t]]);
    }
    keys.clear();
  };
  for (auto& [k, v] : model) {
    ASSERT_TRUE(c.submit(Opcode::get, k, {}, keys.size()));  // the window has room: drained below
    keys.push_back(k);
    if (c.window_full()) check_window();
  }
  check_window();
  // Deleted keys are gone.
  EXPECT_EQ(c.del("key-1").status, Status::ok);
  EXPECT_EQ(c.get("key-1").status, Status::not_found);
  EXPECT_EQ(c.del("key-1").status, Status::not_found);
  EXPECT_EQ(c.set("key-1", "again").status, Status::ok);
  EXPECT_EQ(c.get("key-1").value, "again");

  s.stop();
  const auto t = s.totals();
  EXPECT_EQ(t.requests, t.ops[0] + t.ops[1] + t.ops[2]);
  EXPECT_EQ(t.dropped(), 0u);
  EXPECT_EQ(t.status[static_cast<int>(Status::wrong_partition)], 0u);
}

TEST(Service, RefusesBadRequestsLocallyAndRemotely) {
  Server s(small_config(1, 1));
  s.start();
  Client c(client_for(s));
  c.submit(Opcode::get, "", {}, 1);                         // empty key
  c.submit(Opcode::get, std::string(256, 'k'), {}, 2);      // key too long
  c.submit(Opcode::set, "big", std::string(5000, 'v'), 3);  // cannot fit a 1472-byte datagram
  c.submit(Opcode::get, "fine", {}, 4);
  auto got = drain(c);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[1].first.local);
  EXPECT_EQ(got[1].first.status, Status::malformed);
  EXPECT_EQ(got[2].first.status, Status::malformed);
  EXPECT_EQ(got[3].first.status, Status::too_large);
  EXPECT_FALSE(got[4].first.local);
  EXPECT_EQ(got[4].first.status, Status::not_found);
}

// Sends raw datagrams to a worker port and returns the answers' statuses by request id.
struct Raw {
  wire::UdpSocket sock{wire::Endpoint{0x7f000001, 0}};
  std::vector<std::byte> buf = std::vector<std::byte>(wire::kMaxDatagram);

  void send(std::uint16_t port, std::span<const std::byte> bytes) {
    wire::Datagram d{const_cast<std::byte*>(bytes.data()),
                     static_cast<std::uint32_t>(bytes.size()),
                     static_cast<std::uint32_t>(bytes.size()),
                     {0x7f000001, port}};
    ASSERT_EQ(sock.send_burst({&d, 1}), 1u);
  }
  std::map<std::uint64_t, Status> receive(std::size_t want) {
    std::map<std::uint64_t, Status> out;
    std::vector<wire::ResponseView> views(wire::kMaxCount);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
      wire::Datagram d{buf.data(), 0, static_cast<std::uint32_t>(buf.size()), {}};
      if (sock.recv_burst({&d, 1}, 10ms) == 0) continue;
      const auto p = wire::parse_responses({d.data, d.size}, views);
      EXPECT_EQ(p.drop, wire::Drop::none);
      for (std::size_t i = 0; i < p.count; ++i) out[views[i].h.request_id] = views[i].h.status;
    }
    return out;
  }
};

std::vector<std::byte> one_request(Opcode op, std::string_view key, std::string_view value,
                                   std::uint64_t id, std::uint64_t hash) {
  std::vector<std::byte> b(wire::kDefaultDatagram);
  wire::RequestWriter w(b, 9);
  EXPECT_TRUE(w.add(op, hash, id, 0, key, value));
  b.resize(w.finish());
  return b;
}

// A ping is answered at once, ok, with its id and timestamp echoed, and is no request: the
// server's request, operation and status counters do not move. A ping that carries a key, a value
// or a hash is malformed, answered and counted as such.
TEST(Service, APingIsAnsweredAndIsNoRequest) {
  Server s(small_config(1, 1));
  s.start();
  Raw raw;
  const std::uint16_t port0 = s.map().ports[0];
  std::vector<std::byte> b(wire::kDefaultDatagram);
  wire::RequestWriter w(b, 9);
  ASSERT_TRUE(w.add(Opcode::ping, 0, 7, 123456, {}));
  b.resize(w.finish());
  raw.send(port0, b);
  std::vector<wire::ResponseView> views(wire::kMaxCount);
  wire::Datagram d{raw.buf.data(), 0, static_cast<std::uint32_t>(raw.buf.size()), {}};
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (raw.sock.recv_burst({&d, 1}, 10ms) == 0)
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
  const auto p = wire::parse_responses({d.data, d.size}, views);
  ASSERT_EQ(p.drop, wire::Drop::none);
  ASSERT_EQ(p.count, 1u);
  EXPECT_EQ(views[0].h.status, Status::ok);
  EXPECT_EQ(views[0].h.op, Opcode::ping);
  EXPECT_EQ(views[0].h.request_id, 7u);
  EXPECT_EQ(views[0].h.timestamp, 123456u);

  raw.send(port0, one_request(Opcode::ping, "k", {}, 8, wire::key_hash("k")));  // a key
  raw.send(port0, one_request(Opcode::ping, {}, {}, 9, 5));                     // a hash
  const auto bad = raw.receive(2);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad.at(8), Status::malformed);
  EXPECT_EQ(bad.at(9), Status::malformed);
  s.stop();  // the counters, published
  const auto t = s.totals();
  EXPECT_EQ(t.requests, 2u);  // the two malformed ones, not the ping
  EXPECT_EQ(t.processed, 0u);
  EXPECT_EQ(t.status[static_cast<std::size_t>(Status::ok)], 0u);
  EXPECT_EQ(t.status[static_cast<std::size_t>(Status::malformed)], 2u);
}

TEST(Service, MalformedDatagramsAreDroppedAndCountedWhileGoodTrafficFlows) {
  Server s(small_config(2, 1));
  s.start();
  Client c(client_for(s));
  ASSERT_EQ(c.set("alive", "yes").status, Status::ok);

  Raw raw;
  const std::uint16_t port0 = s.map().ports[0];
  const auto good = one_request(Opcode::get, "alive", {}, 1, wire::key_hash("alive"));
  // Whole-datagram problems: each is dropped and counted, nothing is answered.
  std::vector<std::vector<std::byte>> bad;
  bad.push_back({good.begin(), good.begin() + 7});  // short header
  auto magic = good;
  magic[0] = std::byte{0};
  bad.push_back(magic);
  auto version = good;
  version[4] = std::byte{9};
  bad.push_back(version);
  bad.push_back({good.begin(), good.end() - 1});  // payload length disagrees
  auto truncated = good;                          // key length past the end, lengths consistent
  truncated[16 + 2] = std::byte{0xff};
  bad.push_back(truncated);
  auto kind = good;
  kind[5] = std::byte{1};  // a response sent to a server
  bad.push_back(kind);
  const int rounds = 50;
  for (int r = 0; r < rounds; ++r) {
    for (auto& b : bad) raw.send(port0, b);
  }
  // Requests that frame but are wrong: answered one by one.
  raw.send(port0, one_request(Opcode::get, "alive", {}, 100, 12345));  // hash mismatch
  auto opcode = one_request(Opcode::get, "alive", {}, 101, wire::key_hash("alive"));
  opcode[16] = std::byte{77};
  raw.send(port0, opcode);
  // Wrong partition: find a key owned by the other port and send it to port 0.
  std::string foreign;
  for (int i = 0; foreign.empty(); ++i) {
    const std::string k = "k" + std::to_string(i);
    if (s.map().port_index_for(wire::key_hash(k)) == 1) foreign = k;
  }
  raw.send(port0, one_request(Opcode::get, foreign, {}, 102, wire::key_hash(foreign)));
  raw.send(s.map().ports[s.map().port_index_for(wire::key_hash("alive"))], good);
  auto answers = raw.receive(4);
  EXPECT_EQ(answers[100], Status::malformed);
  EXPECT_EQ(answers[101], Status::malformed);
  EXPECT_EQ(answers[102], Status::wrong_partition);
  EXPECT_EQ(answers[1], Status::ok);
  EXPECT_EQ(c.get("alive").value, "yes");  // still serving

  // Drops are counted by the worker that read them; wait for its next publish.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (s.totals().dropped() < bad.size() * rounds &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const auto t = s.totals();
  EXPECT_EQ(t.dropped(), bad.size() * rounds);
  EXPECT_EQ(t.drops[static_cast<int>(wire::Drop::short_header)], 1u * rounds);
  EXPECT_EQ(t.drops[static_cast<int>(wire::Drop::bad_magic)], 1u * rounds);
  EXPECT_EQ(t.drops[static_cast<int>(wire::Drop::bad_version)], 1u * rounds);
  EXPECT_EQ(t.drops[static_cast<int>(wire::Drop::bad_length)], 1u * rounds);
  EXPECT_EQ(t.drops[static_cast<int>(wire::Drop::truncated)], 1u * rounds);
  EXPECT_EQ(t.drops[static_cast<int>(wire::Drop::bad_kind)], 1u * rounds);
  EXPECT_EQ(t.status[static_cast<int>(Status::wrong_partition)], 1u);
  EXPECT_EQ(t.status[static_cast<int>(Status::malformed)], 2u);
  // STATS reports them too.
  const std::string js = c.stats();
  EXPECT_NE(js.find("\"bad_magic\":" + std::to_string(rounds)), std::string::npos) << js;
}

TEST(Service, FullStoreAnswersOutOfMemoryAndKeepsAcknowledgedData) {
  ServerConfig cfg = small_config(1, 1);
  cfg.store.memory_bytes = std::size_t{1} << 20;  // small: fills quickly
  Server s(cfg);
  s.start();
  Client c(client_for(s));
  const std::string value(1000, 'x');
  std::vector<std::string> stored;
  Status last = Status::ok;
  for (int i = 0; i < 20000 && last == Status::ok; ++i) {
    const std::string k = "full-" + std::to_string(i);
    last = c.set(k, value).status;
    if (last == Status::ok) stored.push_back(k);
  }
  EXPECT_EQ(last, Status::out_of_memory);
  ASSERT_FALSE(stored.empty());
  for (const auto& k : stored) ASSERT_EQ(c.get(k).value, value) << k;  // nothing acknowledged lost
}

TEST(Service, CacheModeEvictsOldItemsButNeverAnswersAWrongValue) {
  ServerConfig cfg = small_config(1, 1);
  cfg.store.mode = kv::Mode::cache;
  cfg.store.memory_bytes = std::size_t{1} << 20;
  Server s(cfg);
  s.start();
  Client c(client_for(s));
  const int n = 20000;  // ~20 MB of values into a 1 MiB cache: most are evicted
  auto key = [](int i) {
    std::string k = "c";
    k += std::to_string(i);
    return k;
  };
  for (int i = 0; i < n; ++i) {
    const std::string v(1000, static_cast<char>('a' + i % 26));
    ASSERT_EQ(c.set(key(i), v).status, Status::ok) << i;  // never refused
  }
  int hits = 0;
  for (int i = 0; i < n; i += 10) {
    const auto r = c.get(key(i));
    if (r.status == Status::not_found) continue;
    ASSERT_EQ(r.status, Status::ok);
    ASSERT_EQ(r.value, std::string(1000, static_cast<char>('a' + i % 26))) << i;
    ++hits;
  }
  EXPECT_GT(hits, 0);           // the newest items are still there
  EXPECT_LT(hits, n / 10 / 2);  // and most old ones were evicted
  EXPECT_EQ(c.get(key(n - 1)).status, Status::ok);
}

TEST(Service, LargeDatagramsCarryLargeValues) {
  ServerConfig cfg = small_config(1, 1);
  cfg.max_datagram = wire::kMaxDatagram;
  Server s(cfg);
  s.start();
  ClientConfig cc = client_for(s);
  cc.max_datagram = wire::kMaxDatagram;
  Client c(cc);
  EXPECT_EQ(c.datagram_limit(), wire::kMaxDatagram);
  const std::string big(60000, 'b');
  ASSERT_EQ(c.set("big", big).status, Status::ok);
  EXPECT_EQ(c.get("big").value, big);
  // A client limited to one MTU cannot carry it, and the server cannot answer it in one MTU.
  Client small(client_for(s));
  EXPECT_EQ(small.datagram_limit(), wire::kDefaultDatagram);
  EXPECT_EQ(small.set("big2", big).status, Status::too_large);
}

// Drops the datagram sent in position `drop_at` (0-based) and passes every other one on.
class DropOne final : public wire::BurstTransport {
 public:
  DropOne(std::unique_ptr<wire::BurstTransport> t, std::size_t drop_at)
      : t_(std::move(t)), drop_at_(drop_at) {}
  std::size_t recv_burst(std::span<wire::Datagram> out, std::chrono::microseconds wait) override {
    return t_->recv_burst(out, wait);
  }
  std::size_t send_burst(std::span<const wire::Datagram> d) override {
    for (const wire::Datagram& x : d) {
      if (sent_++ != drop_at_) t_->send_burst({&x, 1});
    }
    return d.size();
  }
  wire::Endpoint local() const override { return t_->local(); }

 private:
  std::unique_ptr<wire::BurstTransport> t_;
  std::size_t drop_at_;
  std::size_t sent_ = 0;
};

// One lost datagram: only its requests are sent again, after the RTT-based timeout, while the
// other requests of the window complete meanwhile without a retry.
TEST(Service, OnlyTheLostDatagramsRequestsAreResent) {
  wire::FakeNetwork net({.seed = 3});
  ServerConfig cfg = small_config(1, 1);
  Server s(cfg, [&](std::uint16_t port) { return net.bind(port); });
  s.start();
  ClientConfig cc = client_for(s);
  cc.batch = 8;
  cc.window = 64;
  cc.min_timeout = 20ms;  // long enough that the others are surely answered first
  // Datagram 0 is HELLO, 1..8 the 64 GETs (8 each): lose the third of them.
  Client c(cc, std::make_unique<DropOne>(net.bind(), 3));
  ASSERT_EQ(c.map().ports.size(), 1u);
  for (int i = 0; i < 64; ++i) {
    const std::string key = std::to_string(1000 + i);
    ASSERT_TRUE(c.submit(Opcode::get, key, {}, static_cast<std::uint64_t>(i)));
  }
  std::array<Completion, 64> done;
  std::size_t first = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (first < 56 && std::chrono::steady_clock::now() - t0 < 10s) {
    const std::size_t n = c.poll(std::span(done).subspan(first), 1ms);
    for (std::size_t i = first; i < first + n; ++i) EXPECT_EQ(done[i].retries, 0u);
    first += n;
  }
  ASSERT_EQ(first, 56u);
  EXPECT_EQ(c.counters().retries, 0u);
  EXPECT_EQ(c.outstanding(), 8u);
  auto rest = drain(c);
  ASSERT_EQ(rest.size(), 8u);
  for (auto& [tag, r] : rest) {
    EXPECT_GE(tag, 16u);  // the third datagram held tags 16..23
    EXPECT_LT(tag, 24u);
    EXPECT_EQ(r.first.retries, 1u);
    EXPECT_FALSE(r.first.timed_out);
    EXPECT_EQ(r.first.status, Status::not_found);
  }
  EXPECT_EQ(c.counters().retries, 8u);
  EXPECT_EQ(c.counters().spurious, 0u);
  EXPECT_EQ(c.counters().stale, 0u);
  EXPECT_EQ(c.counters().datagrams_out, 9u);  // 8 + the one retransmission
}

// Over the fake network with loss and duplication: every request is still answered exactly once
// (retransmission), duplicates are recognised, SETs are never lost.
TEST(Service, ClientRetriesThroughLossAndDuplicates) {
  wire::FakeNetwork net({.loss = 0.2, .duplicate = 0.1, .reorder = 0.1, .seed = 42});
  ServerConfig cfg = small_config(2, 1);
  Server s(cfg, [&](std::uint16_t port) { return net.bind(port); });
  s.start();
  ClientConfig cc = client_for(s);
  cc.timeout = 5ms;
  cc.max_retries = 50;
  cc.hello_timeout = 5s;
  cc.window = 64;
  Client c(cc, net.bind());
  const int n = 3000 / kScale;
  for (int i = 0; i < n; ++i) {
    while (!c.submit(Opcode::set, "r" + std::to_string(i), std::to_string(i * 7),
                     static_cast<std::uint64_t>(i))) {
      std::array<Completion, 64> done;
      const std::size_t got = c.poll(done, 1ms);
      for (std::size_t j = 0; j < got; ++j) {
        ASSERT_FALSE(done[j].timed_out);
        ASSERT_EQ(done[j].status, Status::ok);
      }
    }
  }
  for (auto& [tag, r] : drain(c)) ASSERT_EQ(r.first.status, Status::ok);
  for (int i = 0; i < n; i += 7) {
    const auto r = c.get("r" + std::to_string(i));
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.value, std::to_string(i * 7));
  }
  EXPECT_GT(c.counters().retries, 0u);
  EXPECT_GT(c.counters().stale, 0u);  // duplicates and late answers were recognised
  EXPECT_GT(net.lost(), 0u);
}

// A client thread that was descheduled (or busy) for longer than the timeout finds the answers of
// its whole window waiting: it must take them all before it declares anything lost, or it
// retransmits answered requests and its SETs are applied twice (seen as "retries 1024" in demos).
TEST(Service, AnswersWaitingAfterAStallAreTakenNotRetransmitted) {
  wire::FakeNetwork net({.seed = 7});
  ServerConfig cfg = small_config(2, 1);
  Server s(cfg, [&](std::uint16_t port) { return net.bind(port); });
  s.start();
  ClientConfig cc = client_for(s);
  cc.timeout = 20ms;
  cc.hello_timeout = 5s;
  cc.window = 1024;
  cc.batch = 8;  // 128 datagrams of answers: several receive bursts
  Client c(cc, net.bind());
  for (int i = 0; i < 1024; ++i) {
    std::string key = "w";  // not "w" + to_string: GCC 12's -Wrestrict false positive
    key += std::to_string(i);
    ASSERT_TRUE(c.submit(Opcode::set, key, std::to_string(i * 3), static_cast<std::uint64_t>(i)));
  }
  std::array<Completion, 1> none;
  EXPECT_EQ(c.poll(std::span(none).first(0), 0us), 0u);  // sends the window
  std::this_thread::sleep_for(200ms);                    // the "stall": every answer arrives
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 1024u);
  for (const auto& [tag, r] : got) ASSERT_EQ(r.first.status, Status::ok) << tag;
  EXPECT_EQ(c.counters().retries, 0u);
  EXPECT_EQ(c.counters().stale, 0u);
  for (int i = 0; i < 1024; i += 97) {
    std::string key = "w";
    key += std::to_string(i);
    ASSERT_EQ(c.get(key).value, std::to_string(i * 3));
  }
}

// One server thread with one partition on the fake network, and its first 100 round trips
// for a client (the rto then follows the measured round trip, at its floor).
struct OneThreadServer {
  explicit OneThreadServer(std::uint64_t seed)
      : net({.seed = seed}),
        s(small_config(1, 1), [this](std::uint16_t p) { return net.bind(p); }) {
    s.start();
  }
  wire::FakeNetwork net;
  Server s;
};

void warm_up(Client& c) {
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c.get("warm").status, Status::not_found);
}

// Hides every answer from the client until a set time (a stall of the server or of the path):
// the datagrams wait in the fake network meanwhile. With `allow`, that many answer datagrams
// come through first (the server answered them, then stalled).
class StallReceive final : public wire::BurstTransport {
 public:
  explicit StallReceive(std::unique_ptr<wire::BurstTransport> t) : t_(std::move(t)) {}
  void stall_until(std::chrono::steady_clock::time_point t, std::size_t allow = 0) {
    until_ = t;
    allow_ = allow;
  }
  std::size_t recv_burst(std::span<wire::Datagram> out, std::chrono::microseconds wait) override {
    const auto now = std::chrono::steady_clock::now();
    if (allow_ > 0) {
      const std::size_t n = t_->recv_burst(out.first(std::min(out.size(), allow_)), wait);
      allow_ -= n;
      return n;
    }
    if (now < until_) {
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(wait, until_ - now));
      return 0;
    }
    return t_->recv_burst(out, wait);
  }
  std::size_t send_burst(std::span<const wire::Datagram> d) override { return t_->send_burst(d); }
  wire::Endpoint local() const override { return t_->local(); }

 private:
  std::unique_ptr<wire::BurstTransport> t_;
  std::chrono::steady_clock::time_point until_{};
  std::size_t allow_ = 0;
};

// A warmed-up client of srv whose answers `stall` can hide, with a 2 ms floor.
std::unique_ptr<Client> stallable_client(OneThreadServer& srv, ClientConfig cc,
                                         StallReceive*& stall) {
  cc.min_timeout = 2ms;
  cc.hello_timeout = 5s;
  auto t = std::make_unique<StallReceive>(srv.net.bind());
  stall = t.get();
  auto c = std::make_unique<Client>(cc, std::move(t));
  warm_up(*c);
  return c;
}

// Submits n SETs (key prefix + i, value i * mult, tag i) to c while its answers are hidden for
// `stall`, waits for them all, checks every one is ok, and returns the counters' growth.
ClientCounters stall_and_set(Client& c, StallReceive& stall, std::chrono::milliseconds hidden,
                             int n, const char* prefix, int mult) {
  const ClientCounters before = c.counters();
  stall.stall_until(std::chrono::steady_clock::now() + hidden);
  for (int i = 0; i < n; ++i) {
    std::string key = prefix;
    key += std::to_string(i);
    EXPECT_TRUE(
        c.submit(Opcode::set, key, std::to_string(i * mult), static_cast<std::uint64_t>(i)));
  }
  const auto got = drain(c);
  EXPECT_EQ(got.size(), static_cast<std::size_t>(n));
  for (const auto& [tag, r] : got) {
    EXPECT_EQ(r.first.status, Status::ok) << tag;
    EXPECT_FALSE(r.first.timed_out) << tag;
  }
  ClientCounters k = c.counters();
  k.held -= before.held;
  k.retries -= before.retries;
  k.pings -= before.pings;
  return k;
}

// The server answers nothing for 60 ms while a whole window is out (a stall, as a VM's vCPU being
// taken away gives): the timeouts pass, but since nothing sent since was answered, the client
// pings the port (Client::kSilentPings times), then resends one request (the probe) with backoff;
// the rest wait unsent. When the answers come, the window completes with a handful of
// retransmissions, not 1024 of them.
TEST(Service, AServerStallCostsOneProbeNotTheWindow) {
  OneThreadServer srv(9);
  ClientConfig cc = client_for(srv.s);
  cc.window = 1024;
  StallReceive* stall = nullptr;
  const auto client = stallable_client(srv, cc, stall);
  Client& c = *client;
  const ClientCounters k = stall_and_set(c, *stall, 60ms, 1024, "s", 5);
  EXPECT_GT(k.held, 1000u);  // every request but the probe waited at least once
  EXPECT_LE(k.retries, 10u) << "the probe's retransmissions only";
  EXPECT_GE(k.pings, 2u);
  for (int i = 0; i < 1024; i += 101) {
    std::string key = "s";
    key += std::to_string(i);
    ASSERT_EQ(c.get(key).value, std::to_string(i * 5));
  }
}

// A stall shorter than the pings' backoff (with the 2 ms floor: pings at 2, 6 and 14 ms, the
// first resend at 30 ms) costs no retransmission at all: the pings wait behind the stalled
// requests, and the requests' own answers come first.
TEST(Service, AShortStallCostsPingsNotRetransmissions) {
  OneThreadServer srv(10);
  ClientConfig cc = client_for(srv.s);
  cc.window = 256;
  StallReceive* stall = nullptr;
  const auto client = stallable_client(srv, cc, stall);
  const ClientCounters k = stall_and_set(*client, *stall, 8ms, 256, "p", 1);
  EXPECT_EQ(k.retries, 0u);
  EXPECT_GE(k.pings, 1u);
  EXPECT_GT(k.held, 200u);
}

// Requests submitted back to back share one clock reading (Client's kClockReuse), but every copy
// still carries its own, increasing timestamp: when the server answers the first of 16 datagrams
// and then stalls, the other 15 were sent after the one answered, so they wait behind one probe
// instead of each being resent as if lost (which equal timestamps made them: 15 retransmissions
// and more).
TEST(Service, RequestsSharingAClockReadingAreStillOrderedForTheStallCheck) {
  OneThreadServer srv(11);
  ClientConfig cc = client_for(srv.s);
  cc.window = 64;
  cc.batch = 1;  // one request per datagram: 16 datagrams
  StallReceive* stall = nullptr;
  const auto client = stallable_client(srv, cc, stall);
  Client& c = *client;
  const ClientCounters before = c.counters();
  stall->stall_until(std::chrono::steady_clock::now() + 30ms, 1);
  for (int i = 0; i < 16; ++i) {
    std::string key = "r";
    key += std::to_string(i);
    ASSERT_TRUE(c.submit(Opcode::get, key, {}, static_cast<std::uint64_t>(i)));
  }
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 16u);
  for (const auto& [tag, r] : got) ASSERT_EQ(r.first.status, Status::not_found) << tag;
  const ClientCounters& k = c.counters();
  EXPECT_GE(k.held - before.held, 14u);  // the 15 behind the answered one wait for the probe
  EXPECT_LE(k.retries - before.retries, 8u) << "the probe's retransmissions only";
}

// A port's SETs and GETs go in two lanes of datagrams, so a SET datagram opened first (its SET
// stamped earliest) leaves after the GET datagrams that filled behind it. When the server answers
// the first GET datagram and then stalls, that GET answer is no sign the SET was lost: the SET
// waits behind a ping like the GETs sent after the answered ones, instead of being resent at once
// (which comparing stamps across lanes did: the demo's spurious retries after a vCPU stall).
TEST(Service, AnAnsweredGetDoesNotMakeAnEarlierStampedSetLookLost) {
  OneThreadServer srv(14);
  ClientConfig cc = client_for(srv.s);
  cc.window = 64;
  cc.batch = 4;  // GET datagrams of 4: the 12 GETs fill 3 while the SET's datagram stays open
  StallReceive* stall = nullptr;
  const auto client = stallable_client(srv, cc, stall);
  Client& c = *client;
  const ClientCounters before = c.counters();
  stall->stall_until(std::chrono::steady_clock::now() + 10ms, 1);
  ASSERT_TRUE(c.submit(Opcode::set, "lane-set", "v", 100));
  for (int i = 0; i < 12; ++i) {
    std::string key = "lane-get";
    key += std::to_string(i);
    ASSERT_TRUE(c.submit(Opcode::get, key, {}, static_cast<std::uint64_t>(i)));
  }
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 13u);
  EXPECT_EQ(got.at(100).first.status, Status::ok);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(got.at(i).first.status, Status::not_found) << i;
  const ClientCounters& k = c.counters();
  EXPECT_EQ(k.retries - before.retries, 0u) << "a 10 ms stall costs pings, not retransmissions";
  EXPECT_GE(k.pings - before.pings, 1u);
  EXPECT_EQ(c.get("lane-set").value, "v");
}

// A request's timeout counts from when its datagram left, not from submit(): a client thread that
// is held up between the two (descheduled, or busy with its own work) for longer than the
// timeout does not resend what it has only just sent.
TEST(Service, TimeBetweenSubmitAndSendDoesNotCountAgainstTheTimeout) {
  OneThreadServer srv(13);
  ClientConfig cc = client_for(srv.s);
  cc.window = 256;
  cc.min_timeout = 20ms;  // the answers come well within it, even under the sanitizers
  cc.hello_timeout = 5s;
  Client c(cc, srv.net.bind());
  warm_up(c);
  const ClientCounters before = c.counters();
  for (int i = 0; i < 256; ++i) {
    std::string key = "d";
    key += std::to_string(i);
    ASSERT_TRUE(c.submit(Opcode::set, key, std::to_string(i), static_cast<std::uint64_t>(i)));
  }
  std::this_thread::sleep_for(100ms);  // past the timeout before anything was sent
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 256u);
  for (const auto& [tag, r] : got) ASSERT_EQ(r.first.status, Status::ok) << tag;
  EXPECT_EQ(c.counters().retries - before.retries, 0u);
  EXPECT_EQ(c.counters().held - before.held, 0u);
}

// The members of the JSON object that follows "key": (no nesting inside), e.g. a drops object.
std::string object_after(const std::string& js, const std::string& key) {
  const auto at = js.find("\"" + key + "\":{");
  if (at == std::string::npos) return {};
  const auto open = js.find('{', at);
  return js.substr(open, js.find('}', open) - open + 1);
}

std::uint64_t number_after(const std::string& js, const std::string& key) {
  const auto at = js.find("\"" + key + "\":");
  EXPECT_NE(at, std::string::npos) << key << " in " << js;
  return at == std::string::npos ? 0 : std::stoull(js.substr(at + key.size() + 3));
}

std::size_t count(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Service, ControlPortDropsAreCountedPerReason) {
  Server s(small_config(1, 1));
  s.start();
  Client c(client_for(s));
  Raw raw;
  std::vector<std::byte> req(64);
  req.resize(wire::encode_control_request(req, wire::Command::stats, 5));
  raw.send(s.control_port(), std::span(req).first(7));  // short_header
  auto magic = req;
  magic[0] = std::byte{0};
  raw.send(s.control_port(), magic);  // bad_magic
  auto cmd = req;
  cmd[16] = std::byte{9};
  raw.send(s.control_port(), cmd);  // bad_control: no command 9
  raw.send(s.control_port(), cmd);
  const auto data = one_request(Opcode::get, "k", {}, 1, wire::key_hash("k"));
  raw.send(s.control_port(), data);  // bad_kind: a data request on the control port
  // The control thread reads its datagrams in order: the answer to STATS comes after all five.
  const std::string js = c.stats();
  EXPECT_EQ(number_after(js, "control_drops"), 5u) << js;
  const std::string reasons = object_after(js, "control_drop_reasons");
  EXPECT_NE(reasons.find("\"short_header\":1,"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("\"bad_magic\":1,"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("\"bad_kind\":1,"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("\"bad_control\":2,"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("\"oversize\":0}"), std::string::npos) << reasons;
  EXPECT_EQ(reasons.find("none"), std::string::npos) << reasons;
  // The serving ports saw none of it.
  EXPECT_EQ(number_after(js, "dropped"), 0u) << js;
}

// STATS answers in one control datagram, whatever the serving ports' --max-datagram: 1024
// partitions list whole (about 5 KB, more than 1472 bytes).
TEST(Service, StatsOf1024PartitionsAnswersInOneControlDatagram) {
  ServerConfig cfg = small_config(2, 512);
  cfg.store.memory_bytes = std::size_t{256} << 20;  // the least for 1024 partitions
  cfg.max_datagram = wire::kDefaultDatagram;
  Server s(cfg);
  s.start();
  Client c(client_for(s));
  ASSERT_EQ(c.set("one", "item").status, Status::ok);
  const std::string js = c.stats();
  EXPECT_GT(js.size(), wire::kDefaultDatagram);
  EXPECT_LE(js.size(), wire::kMaxStatsBytes);
  EXPECT_EQ(js.back(), '}');
  const auto list = js.find("\"partition_items\":[");
  ASSERT_NE(list, std::string::npos) << js;
  const std::string items = js.substr(list, js.find(']', list) - list);
  EXPECT_EQ(count(items, ","), 1023u) << items;
  EXPECT_EQ(number_after(js, "partition_items_max"), 1u);
  EXPECT_EQ(count(js, "\"side\":"), 2u);
  EXPECT_EQ(number_after(js, "workers_omitted"), 0u);
}

// Under a smaller limit the partition list goes first, then workers from the end.
TEST(Service, StatsIsCutToItsLimit) {
  ServerConfig cfg = small_config(2, 512);
  cfg.store.memory_bytes = std::size_t{256} << 20;
  Server s(cfg);
  s.start();
  const std::string full = s.stats_json();
  ASSERT_NE(full.find("\"partition_items\":["), std::string::npos);
  ASSERT_EQ(number_after(full, "workers_omitted"), 0u);
  const auto list = full.find(",\"partition_items\":[");
  const std::size_t list_bytes = full.find(']', list) + 1 - list;

  std::string js = s.stats_json(full.size() + 100);
  EXPECT_NE(js.find("\"partition_items\":["), std::string::npos);
  js = s.stats_json(full.size() - list_bytes + 50);  // the workers fit, the list does not
  EXPECT_EQ(js.find("\"partition_items\""), std::string::npos) << js;
  EXPECT_EQ(number_after(js, "workers_omitted"), 0u);
  EXPECT_NE(js.find("\"partition_items_min\":0"), std::string::npos);

  bool cut_a_worker = false;
  for (std::size_t limit = 1500; limit < full.size() + 200; limit += 97) {
    js = s.stats_json(limit);
    ASSERT_LE(js.size(), limit);
    EXPECT_EQ(js.back(), '}');
    const std::uint64_t omitted = number_after(js, "workers_omitted");
    EXPECT_EQ(count(js, "\"side\":") + omitted, 2u) << js;
    if (js.find("\"partition_items\":[") != std::string::npos) {
      EXPECT_EQ(omitted, 0u);
    }
    cut_a_worker = cut_a_worker || omitted > 0;
  }
  EXPECT_TRUE(cut_a_worker);
}

TEST(Service, ConfigErrorsAreOneLine) {
  ServerConfig cfg = small_config();
  cfg.placement.host_threads = 0;
  EXPECT_EQ(server::validate(cfg), "design cpu-only needs 1..256 host threads");
  EXPECT_THROW(Server{cfg}, std::runtime_error);
  ClientConfig cc;
  cc.server = "127.0.0.1";
  EXPECT_THROW(Client{cc}, std::runtime_error);
  cc.server = "127.0.0.1:1";  // nothing there
  cc.hello_timeout = 300ms;
  try {
    Client c(cc);
    FAIL() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no answer"), std::string::npos);
  }
}

// Too many partitions for the memory: the error says to give more memory or use fewer partitions
// (it once advised more partitions, which makes each smaller still).
TEST(Service, TooLittleMemoryPerPartitionSaysWhatHelps) {
  ServerConfig cfg = small_config(2, 1024);
  cfg.store.memory_bytes = std::size_t{256} << 20;
  EXPECT_EQ(server::validate(cfg),
            "host store memory 256 MiB over 2048 partition(s) is 128 KiB each, below the 256 KiB "
            "minimum: give the store more memory or use fewer partitions");
  try {
    Server s(cfg);
    FAIL() << "served 128 KiB partitions";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("more memory or use fewer partitions"), std::string::npos);
  }
  cfg.max_datagram = wire::kMaxDatagram;  // the HELLO of 2048 partitions needs it
  cfg.store.memory_bytes = std::size_t{512} << 20;
  EXPECT_EQ(server::validate(cfg), "");
  // Each side's store is checked with its own partitions: shrd's engine store holds half.
  cfg = small_config(1, 512);
  cfg.placement.design = serving::Design::shrd;
  cfg.placement.engine_threads = 2;
  cfg.store.memory_bytes = std::size_t{128} << 20;  // host: 512 x 256 KiB fits; engine: 1024
  EXPECT_EQ(server::validate(cfg).rfind("engine store memory 128 MiB over 1024 partition(s)", 0),
            0u)
      << server::validate(cfg);
}

// A client learns the partition map from one HELLO answer, a control datagram that is not bound by
// the serving ports' max datagram: 800 partitions give a 1640-byte HELLO, more than the default
// 1472, which arrives whole in a 65507-byte buffer, and the client routes by it.
TEST(Service, HelloIsOneControlDatagramWhateverTheServingLimit) {
  ServerConfig cfg = small_config(2, 400);  // 800 partitions, 2 ports: 36 + 2 x 802 bytes
  cfg.store.memory_bytes = std::size_t{256} << 20;
  ASSERT_EQ(cfg.max_datagram, wire::kDefaultDatagram);
  ASSERT_EQ(server::validate(cfg), "");
  Server s(cfg);
  s.start();
  Raw raw;
  std::vector<std::byte> req(64);
  const std::size_t n = wire::encode_control_request(req, wire::Command::hello, 21);
  raw.send(s.control_port(), {req.data(), n});
  std::vector<std::byte> in(wire::kMaxDatagram);
  wire::Datagram d{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
  ASSERT_EQ(raw.sock.recv_burst({&d, 1}, 5s), 1u);
  EXPECT_EQ(d.size, wire::hello_bytes(2, 800));
  EXPECT_EQ(d.size, 1640u);
  const auto hello = wire::parse_control_response({d.data, d.size});
  ASSERT_EQ(hello.drop, wire::Drop::none);
  EXPECT_EQ(hello.map.partitions, 800u);
  EXPECT_EQ(hello.map.max_datagram, wire::kDefaultDatagram);
  EXPECT_EQ(hello.map.ports, s.map().ports);
  Client c(client_for(s));
  for (int i = 0; i < 200; ++i) {
    const std::string k = "hello-" + std::to_string(i);
    ASSERT_EQ(c.set(k, k).status, Status::ok);
    ASSERT_EQ(c.get(k).value, k);
  }
}

}  // namespace
}  // namespace buddy::kv
