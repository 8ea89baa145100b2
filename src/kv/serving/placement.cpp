#include "buddy/kv/serving/placement.hpp"

#include <array>
#include <stdexcept>

namespace buddy::kv::serving {

namespace {
constexpr std::array<const char*, kDesigns> kDesignNames{"cpu-only", "engine-only", "lat",
                                                         "sav",      "dual",        "shrd"};
constexpr unsigned kMaxThreads = 256;
}  // namespace

std::optional<Design> parse_design(std::string_view s) {
  for (std::size_t i = 0; i < kDesigns; ++i) {
    if (s == kDesignNames[i]) return static_cast<Design>(i);
  }
  return std::nullopt;
}

const char* to_string(Design d) {
  return kDesignNames[static_cast<std::size_t>(d)];
}
const char* to_string(Side s) {
  return s == Side::host ? "host" : "engine";
}
const char* to_string(Role r) {
  return r == Role::full ? "full" : r == Role::ce ? "ce" : "pe";
}

std::size_t Placement::count(Side s) const {
  std::size_t n = 0;
  for (const auto& t : threads) n += t.side == s;
  return n;
}

std::size_t Placement::count(Side s, Role r) const {
  std::size_t n = 0;
  for (const auto& t : threads) n += t.side == s && t.role == r;
  return n;
}

std::vector<std::uint32_t> Placement::partitions_on(Side s) const {
  std::vector<std::uint32_t> v;
  for (std::uint32_t p = 0; p < partitions; ++p) {
    if (partition_side[p] == s) v.push_back(p);
  }
  return v;
}

std::string validate(const PlacementConfig& c) {
  const bool uses_host = c.design == Design::cpu_only || c.design == Design::shrd;
  const bool uses_engine = offloaded(c.design);
  if (uses_host && (c.host_threads == 0 || c.host_threads > kMaxThreads)) {
    return std::string("design ") + to_string(c.design) + " needs 1..256 host threads";
  }
  if (uses_engine && (c.engine_threads == 0 || c.engine_threads > kMaxThreads)) {
    return std::string("design ") + to_string(c.design) + " needs 1..256 engine threads";
  }
  if (c.design == Design::dual && c.spare_threads > kMaxThreads) return "at most 256 spare threads";
  if (c.partitions_per_thread == 0) return "partitions per thread must be at least 1";
  unsigned ports = 0;
  switch (c.design) {
    case Design::cpu_only:
      ports = c.host_threads;
      break;
    case Design::engine_only:
    case Design::lat:
    case Design::sav:
      ports = c.engine_threads;
      break;
    case Design::dual:
      ports = c.engine_threads + c.spare_threads;
      break;
    case Design::shrd:
      ports = c.host_threads + c.engine_threads;
      break;
  }
  if (std::uint64_t{ports} * c.partitions_per_thread > wire::kMaxPartitions) {
    return "too many partitions (at most " + std::to_string(wire::kMaxPartitions) + ")";
  }
  return {};
}

Placement place(const PlacementConfig& c) {
  if (std::string why = validate(c); !why.empty()) throw std::invalid_argument(why);
  Placement pl;
  pl.design = c.design;
  unsigned host_seen = 0, engine_seen = 0;
  auto add = [&](Side side, Role role) -> ThreadPlan& {
    ThreadPlan& t = pl.threads.emplace_back();
    t.side = side;
    t.role = role;
    const auto& cpus = side == Side::host ? c.host_cpus : c.engine_cpus;
    unsigned& seen = side == Side::host ? host_seen : engine_seen;
    if (!cpus.empty()) t.cpu = cpus[seen % cpus.size()];
    ++seen;
    return t;
  };
  auto serve_port = [&](std::size_t thread) {
    pl.threads[thread].port = static_cast<int>(pl.port_thread.size());
    pl.port_thread.push_back(static_cast<std::uint32_t>(thread));
  };
  auto add_serving = [&](Side side, Role role) -> ThreadPlan& {
    add(side, role);
    serve_port(pl.threads.size() - 1);
    return pl.threads.back();
  };
  // Host threads first (so host thread i is threads[i]), then engine threads.
  const unsigned E = c.engine_threads, H = c.host_threads, S = c.spare_threads;
  std::vector<std::size_t> ces;
  std::size_t main_pe = 0;
  switch (c.design) {
    case Design::cpu_only:
      for (unsigned i = 0; i < H; ++i) add_serving(Side::host, Role::full);
      break;
    case Design::engine_only:
      for (unsigned i = 0; i < E; ++i) add_serving(Side::engine, Role::full);
      break;
    case Design::lat:  // E PEs on the host, PE i paired 1:1 with CE i on the engine
      for (unsigned i = 0; i < E; ++i) add(Side::host, Role::pe).pairs = {i};
      for (unsigned i = 0; i < E; ++i) {
        ces.push_back(pl.threads.size());
        add_serving(Side::engine, Role::ce).pair = static_cast<int>(i);
      }
      break;
    case Design::sav:  // one host PE serves the E pairs round robin
    case Design::dual:
      main_pe = pl.threads.size();
      add(Side::host, Role::pe);
      for (unsigned i = 0; i < E; ++i) pl.threads[main_pe].pairs.push_back(i);
      if (c.design == Design::dual) {
        for (unsigned i = 0; i < S; ++i) add(Side::host, Role::full);
      }
      for (unsigned i = 0; i < E; ++i) {
        ces.push_back(pl.threads.size());
        add_serving(Side::engine, Role::ce).pair = static_cast<int>(i);
      }
      // Spare threads serve the ports after the engine's.
      for (unsigned i = 0; c.design == Design::dual && i < S; ++i) serve_port(main_pe + 1 + i);
      break;
    case Design::shrd:
      for (unsigned i = 0; i < H; ++i) add_serving(Side::host, Role::full);
      for (unsigned i = 0; i < E; ++i) add_serving(Side::engine, Role::full);
      break;
  }
  pl.queue_pairs = static_cast<std::uint32_t>(ces.size());
  const auto ports = static_cast<std::uint32_t>(pl.port_thread.size());
  pl.partitions = ports * c.partitions_per_thread;
  pl.partition_port.resize(pl.partitions);
  pl.partition_side.resize(pl.partitions);
  // Partition p is served on port p % ports: neighbouring hash ranges spread over the ports. The
  // port's thread accepts it; the writer is that thread (full) or the PE behind it (ce).
  for (std::uint32_t p = 0; p < pl.partitions; ++p) {
    const std::uint32_t port = p % ports;
    pl.partition_port[p] = static_cast<std::uint16_t>(port);
    ThreadPlan& t = pl.threads[pl.port_thread[port]];
    t.partitions.push_back(p);
    std::size_t writer = pl.port_thread[port];
    if (t.role == Role::ce) {
      writer = c.design == Design::lat ? static_cast<std::size_t>(t.pair) : main_pe;
      pl.threads[writer].partitions.push_back(p);
    }
    pl.partition_side[p] = pl.threads[writer].side;
  }
  return pl;
}

std::string Placement::validate() const {
  if (partitions == 0 || partitions > wire::kMaxPartitions) return "bad partition count";
  if (partition_port.size() != partitions || partition_side.size() != partitions) {
    return "partition tables do not cover every partition";
  }
  std::vector<int> writer(partitions, -1);
  std::vector<int> pair_pe(queue_pairs, -1), pair_ce(queue_pairs, -1);
  for (std::size_t i = 0; i < threads.size(); ++i) {
    const ThreadPlan& t = threads[i];
    if (t.role == Role::ce) {
      if (t.pair < 0 || static_cast<std::uint32_t>(t.pair) >= queue_pairs) return "CE without pair";
      if (pair_ce[t.pair] != -1) return "two CEs on one queue pair";
      pair_ce[t.pair] = static_cast<int>(i);
      continue;
    }
    if (t.role == Role::pe) {
      if (t.side != Side::host) return "a PE off the host";
      for (std::uint32_t q : t.pairs) {
        if (q >= queue_pairs || pair_pe[q] != -1) return "queue pair with two PEs or none";
        pair_pe[q] = static_cast<int>(i);
      }
    }
    for (std::uint32_t p : t.partitions) {
      if (p >= partitions) return "thread owns a partition out of range";
      if (writer[p] != -1) return "partition " + std::to_string(p) + " has two writers";
      writer[p] = static_cast<int>(i);
    }
  }
  for (std::uint32_t q = 0; q < queue_pairs; ++q) {
    if (pair_pe[q] == -1 || pair_ce[q] == -1) return "queue pair " + std::to_string(q) + " unused";
  }
  for (std::uint32_t p = 0; p < partitions; ++p) {
    if (writer[p] == -1) return "partition " + std::to_string(p) + " has no writer";
    if (partition_port[p] >= port_thread.size()) return "partition mapped to no port";
    const ThreadPlan& server = threads[port_thread[partition_port[p]]];
    if (server.port != partition_port[p]) return "port table and threads disagree";
    bool accepts = false;
    for (std::uint32_t a : server.partitions) accepts |= a == p;
    if (!accepts) return "partition " + std::to_string(p) + " mapped to a port that rejects it";
    // The port's thread writes p itself, or its CE's PE does.
    const int w = server.role == Role::ce ? pair_pe[server.pair]
                                          : static_cast<int>(port_thread[partition_port[p]]);
    if (w != writer[p]) return "partition " + std::to_string(p) + " served by a non-writer";
    if (threads[w].side != partition_side[p]) return "partition stored on the wrong side";
  }
  return {};
}

std::uint64_t digest(const Placement& p) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
  };
  mix(static_cast<std::uint64_t>(p.design));
  mix(p.partitions);
  mix(p.queue_pairs);
  for (const ThreadPlan& t : p.threads) {
    mix(static_cast<std::uint64_t>(t.side) << 8 | static_cast<std::uint64_t>(t.role));
    mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(t.port)));
    mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(t.pair)));
    for (std::uint32_t q : t.pairs) mix(q);
    for (std::uint32_t q : t.partitions) mix(q);
  }
  for (std::uint16_t port : p.partition_port) mix(port);
  return h;
}

}  // namespace buddy::kv::serving
