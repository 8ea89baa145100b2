// The builder of a side's serving threads (ServingSide) over every design's placement: host and
// engine sides built from the same placement on one fake network, with the engine's counters in
// slots the test owns (as the engine's are in shared memory). Each port must answer SETs and GETs
// of its own partitions through whatever sits behind it (a full worker, or a CE and the PE behind
// it over a KV queue pair), every request must be counted once by the thread that served it, and a
// side missing what its threads need must say so in one line. Labelled `concurrent` (TSan).
#include "buddy/kv/serving/side.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "buddy/kv/wire/fake_net.hpp"
#include "buddy/kv/wire/writer.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv::serving {
namespace {

using namespace std::chrono_literals;
using wire::Opcode;
using wire::Status;

constexpr Design kAll[] = {Design::cpu_only, Design::engine_only, Design::lat,
                           Design::sav,      Design::dual,        Design::shrd};

std::string key_name(int i) {
  std::string s = "key-";
  s += std::to_string(i);
  return s;
}

// A client on the fake network: one request per datagram, waiting for its answer.
struct Peer {
  std::unique_ptr<wire::BurstTransport> t;
  std::vector<std::byte> out = std::vector<std::byte>(wire::kDefaultDatagram);
  std::vector<std::byte> in = std::vector<std::byte>(wire::kDefaultDatagram);
  std::uint64_t next_id = 1;

  std::pair<Status, std::string> call(std::uint16_t port, Opcode op, const std::string& key,
                                      const std::string& value = {}) {
    wire::RequestWriter w(out, 3);
    const std::uint64_t id = next_id++;
    EXPECT_TRUE(w.add(op, wire::key_hash(key), id, 0, key, value));
    const std::size_t n = w.finish();
    wire::Datagram d{out.data(), static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n),
                     wire::Endpoint{0x7f000001, port}};
    EXPECT_EQ(t->send_burst({&d, 1}), 1u);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::array<wire::ResponseView, 4> views;
    while (std::chrono::steady_clock::now() < deadline) {
      wire::Datagram r{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
      if (t->recv_burst({&r, 1}, 10ms) == 0) continue;
      const auto p = wire::parse_responses({r.data, r.size}, views);
      EXPECT_EQ(p.drop, wire::Drop::none);
      if (p.count == 1 && views[0].h.request_id == id) {
        return {views[0].h.status, std::string(views[0].value)};
      }
    }
    return {Status::malformed, "no answer"};
  }
};

// Everything one placement's two sides are built from.
struct Sides {
  Placement p;
  wire::FakeNetwork net;
  std::unique_ptr<Store> host_store, engine_store;
  std::optional<queue::KvQueue> queue;
  std::vector<std::unique_ptr<SharedCounters>> engine_slots;  // the engine's counters, elsewhere
  std::optional<ServingSide> host, engine;

  explicit Sides(Design d) : p(place(PlacementConfig{d, 2, 2, 1, 2, {}, {}})) {
    StoreSettings st;
    st.memory_bytes = std::size_t{8} << 20;
    host_store = make_side_store(p, Side::host, st);
    engine_store = make_side_store(p, Side::engine, st);
    if (p.queue_pairs > 0) {
      queue::KvQueueLayout l;
      l.queue_pairs = p.queue_pairs;
      l.request_ring_bytes = 64u << 10;
      l.response_ring_bytes = 64u << 10;
      queue.emplace(queue::KvQueue::create(buddy::testing::unique_name("kvside"), l));
    }
    for (std::size_t k = 0; k < p.count(Side::engine); ++k) {
      engine_slots.push_back(std::make_unique<SharedCounters>());
    }
    for (const Side s : {Side::host, Side::engine}) {
      SideResources r;
      r.store = s == Side::host ? host_store.get() : engine_store.get();
      r.queue = queue ? &*queue : nullptr;
      r.factory = [this](std::uint16_t port) { return net.bind(port); };
      if (s == Side::engine) {
        r.counters = [this](std::size_t k) -> SharedCounters& { return *engine_slots[k]; };
      }
      (s == Side::host ? host : engine).emplace(p, s, r);
    }
  }
  // The UDP port serving port index i, from whichever side serves it.
  std::uint16_t port(std::size_t i) const {
    for (const ServingSide* side : {&*host, &*engine}) {
      for (std::size_t k = 0; k < side->size(); ++k) {
        if (side->thread(k).plan().port == static_cast<int>(i)) return side->thread(k).port();
      }
    }
    return 0;
  }
};

class EveryDesign : public ::testing::TestWithParam<Design> {};

TEST_P(EveryDesign, BothSidesServeThePlacementsMapAndCountEachRequestOnce) {
  Sides s(GetParam());
  ASSERT_EQ(s.host->size(), s.p.count(Side::host));
  ASSERT_EQ(s.engine->size(), s.p.count(Side::engine));
  for (const ServingSide* side : {&*s.host, &*s.engine}) {
    for (std::size_t k = 0; k < side->size(); ++k) {
      const ServingThread& t = side->thread(k);
      EXPECT_EQ(t.plan().side, side->side());
      EXPECT_EQ(t.port() != 0, t.plan().role != Role::pe) << to_string(t.plan().role);
    }
  }
  // Host and engine stores hold exactly the partitions the placement puts on their side.
  EXPECT_EQ(s.host_store != nullptr, !s.p.partitions_on(Side::host).empty());
  EXPECT_EQ(s.engine_store != nullptr, !s.p.partitions_on(Side::engine).empty());

  s.host->start();
  s.engine->start();
  Peer peer{s.net.bind()};
  const int keys = 200;
  std::map<std::string, std::string> model;
  std::uint64_t sent = 0;
  for (int i = 0; i < keys; ++i) {
    const std::string k = key_name(i);
    const std::uint32_t part = wire::partition_of(wire::key_hash(k), s.p.partitions);
    const std::uint16_t port = s.port(s.p.partition_port[part]);
    const std::string v(1 + i % 300, static_cast<char>('a' + i % 26));
    ASSERT_EQ(peer.call(port, Opcode::set, k, v).first, Status::ok) << to_string(GetParam());
    model[k] = v;
    // The same key on another port is refused there, and changes nothing.
    const std::uint16_t other = s.port((s.p.partition_port[part] + 1) % s.p.port_thread.size());
    ASSERT_EQ(peer.call(other, Opcode::set, k, "wrong").first, Status::wrong_partition);
    sent += 2;
  }
  for (const auto& [k, v] : model) {
    const std::uint32_t part = wire::partition_of(wire::key_hash(k), s.p.partitions);
    const auto got = peer.call(s.port(s.p.partition_port[part]), Opcode::get, k);
    ASSERT_EQ(got.first, Status::ok) << k;
    ASSERT_EQ(got.second, v) << k;
    ++sent;
  }
  s.engine->stop();
  s.host->stop();

  Counters total;
  for (const ServingSide* side : {&*s.host, &*s.engine}) {
    for (std::size_t k = 0; k < side->size(); ++k) total += side->thread(k).counters();
  }
  EXPECT_EQ(total.requests, sent);        // parsed once, by the CE or full worker
  EXPECT_EQ(total.processed, 2u * keys);  // each SET and GET reached a store once
  EXPECT_EQ(total.status[static_cast<int>(Status::wrong_partition)], 1u * keys);
  // The engine's threads counted into the slots they were given, nowhere else.
  Counters in_slots;
  for (const auto& slot : s.engine_slots) in_slots += slot->read();
  Counters engine;
  for (std::size_t k = 0; k < s.engine->size(); ++k) engine += s.engine->thread(k).counters();
  EXPECT_EQ(in_slots.requests, engine.requests);
  EXPECT_EQ(in_slots.requests != 0, s.engine->size() != 0);
  EXPECT_GT(s.host->cpu_s() + s.engine->cpu_s(), 0.0);
  std::uint64_t items = 0;
  for (const Store* st : {s.host_store.get(), s.engine_store.get()}) {
    if (st != nullptr) items += st->stats().items;
  }
  EXPECT_EQ(items, model.size());
}

INSTANTIATE_TEST_SUITE_P(All, EveryDesign, ::testing::ValuesIn(kAll), [](const auto& p) {
  std::string n = to_string(p.param);
  for (char& ch : n) ch = ch == '-' ? '_' : ch;
  return n;
});

TEST(ServingSide, MissingResourcesAreOneLine) {
  wire::FakeNetwork net;
  const Placement lat = place(PlacementConfig{Design::lat, 1, 1, 0, 1, {}, {}});
  SideResources r;
  r.factory = [&](std::uint16_t port) { return net.bind(port); };
  // The engine's CE needs the segment's queue pairs; the host's PE needs a store.
  try {
    ServingSide side(lat, Side::engine, r);
    FAIL() << "a CE without queue pairs";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "a ce thread needs queue pairs but there is no segment");
  }
  try {
    ServingSide side(place(PlacementConfig{}), Side::host, r);
    FAIL() << "a full worker without a store";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "a host full thread owns partitions but its side has no store");
  }
  // A port already taken is refused by the transport, and nothing is left running.
  auto taken = net.bind(0);
  const std::uint16_t busy = taken->local().port;
  StoreSettings st;
  st.memory_bytes = std::size_t{1} << 20;
  const Placement cpu = place(PlacementConfig{});
  auto store = make_side_store(cpu, Side::host, st);
  r.store = store.get();
  const std::vector<std::uint16_t> ports{busy};
  r.ports = ports;
  EXPECT_THROW(ServingSide(cpu, Side::host, r), std::exception);
  // A side with no threads of its own (cpu-only's engine) is empty and starts and stops.
  ServingSide none(cpu, Side::engine, r);
  EXPECT_EQ(none.size(), 0u);
  none.start();
  none.stop();
}

TEST(ServingSide, StoreOfASideHoldsItsPartitionsOnly) {
  const Placement shrd = place(PlacementConfig{Design::shrd, 1, 2, 0, 2, {}, {}});
  StoreSettings st;
  st.memory_bytes = std::size_t{4} << 20;
  st.mode = kv::Mode::cache;
  const auto host = side_store_config(shrd, Side::host, st);
  const auto engine = side_store_config(shrd, Side::engine, st);
  ASSERT_TRUE(host && engine);
  EXPECT_EQ(host->only, shrd.partitions_on(Side::host));
  EXPECT_EQ(engine->only, shrd.partitions_on(Side::engine));
  EXPECT_EQ(host->partitions, shrd.partitions);
  EXPECT_EQ(host->memory_bytes, st.memory_bytes);  // each store has the whole budget
  EXPECT_EQ(engine->mode, kv::Mode::cache);
  // cpu-only holds everything on the host (no `only` list) and nothing on the engine.
  const Placement cpu = place(PlacementConfig{Design::cpu_only, 2, 1, 0, 3, {}, {}});
  EXPECT_TRUE(side_store_config(cpu, Side::host, st)->only.empty());
  EXPECT_FALSE(side_store_config(cpu, Side::engine, st));
}

}  // namespace
}  // namespace buddy::kv::serving
