// The server: its stores, the host's serving threads, the segment and engine control block of the
// offloaded designs, the control port (HELLO, STATS) and the figures STATS reports. The engine's
// start, watch and stop are in engine_process.cpp, the statistics' formats in server_stats.cpp.
#include "buddy/kv/server/server.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <stdexcept>

#include "buddy/kv/engine/engine_runtime.hpp"

namespace buddy::kv::server {

using namespace engine;
using namespace queue;
using namespace serving;

namespace {
std::atomic<unsigned> segment_counter{0};

// The port each thread of one side binds: port index i is served on first + i (0: any free one).
std::vector<std::uint16_t> serving_ports(const Placement& p, Side side, std::uint16_t first) {
  std::vector<std::uint16_t> ports;
  for (const ThreadPlan& t : p.threads) {
    if (t.side != side) continue;
    const int port = first == 0 || t.port < 0 ? 0 : first + t.port;
    if (port > 65535) throw std::runtime_error("serving ports would pass 65535");
    ports.push_back(static_cast<std::uint16_t>(port));
  }
  return ports;
}
// What dead servers left in /dev/shm (a kill -9 runs no destructor): their queue segments, and the
// named engine stores of segments that are gone, if the server that named them is gone too.
// Only the default names (buddykv-<pid>-<n>) are swept; a named segment is replaced when reused.
std::vector<std::string> remove_stale_segments() {
  std::vector<std::string> removed = KvQueue::remove_stale("buddykv-");
  if (DIR* dir = ::opendir("/dev/shm")) {
    std::vector<std::string> stores;
    while (const dirent* e = ::readdir(dir)) {
      const std::string_view f = e->d_name;
      if (f.starts_with("buddykv-") && f.ends_with(".store")) stores.emplace_back(f);
    }
    ::closedir(dir);
    for (const std::string& f : stores) {
      const std::string segment = f.substr(0, f.size() - 6);
      char* end = nullptr;
      const long pid = std::strtol(segment.c_str() + 8, &end, 10);
      if (pid <= 0 || *end != '-') continue;
      if (::access(("/dev/shm/buddy." + segment).c_str(), F_OK) == 0) continue;
      if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
      Store::remove_segment(f);
      removed.push_back(f);
    }
  }
  return removed;
}
}  // namespace

Server::Server(ServerConfig cfg, TransportFactory factory) : cfg_(std::move(cfg)) {
  if (std::string why = validate(cfg_); !why.empty()) throw std::runtime_error(why);
  if (!factory) factory = udp_factory(cfg_.bind);
  placement_ = place(cfg_.placement);
  if (std::string why = placement_.validate(); !why.empty()) {
    throw std::runtime_error("placement: " + why);
  }
  try {
    store_ = make_side_store(placement_, Side::host, cfg_.store);
  } catch (const kv::Error& e) {
    throw std::runtime_error(std::string("store: ") + e.what());
  }
  if (offloaded(placement_.design)) {
    KvQueueLayout layout;
    layout.queue_pairs = std::max<std::uint32_t>(placement_.queue_pairs, 1);
    layout.request_ring_bytes = cfg_.ring_bytes;
    layout.response_ring_bytes = cfg_.ring_bytes;
    layout.extra_bytes = sizeof(EngineBlock);
    if (cfg_.segment.empty()) {
      swept_ = remove_stale_segments();
      cfg_.segment = "buddykv-" + std::to_string(::getpid()) + "-" +
                     std::to_string(segment_counter.fetch_add(1));
    }
    try {
      queue_.emplace(KvQueue::create(cfg_.segment, layout));
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("segment: ") + e.what());
    }
    // The engine's named store is made by its first engine: one a dead server of this segment
    // name left behind is not this server's.
    Store::remove_segment(engine::store_segment_name(cfg_.segment));
  }

  control_ = factory(cfg_.port);
  const std::uint16_t first =
      cfg_.worker_port != 0 ? cfg_.worker_port
                            : (cfg_.port == 0 ? 0 : static_cast<std::uint16_t>(cfg_.port + 1));
  map_.partitions = placement_.partitions;
  map_.max_datagram = static_cast<std::uint32_t>(cfg_.max_datagram);
  map_.ports.assign(placement_.port_thread.size(), 0);
  map_.owner = placement_.partition_port;

  // Host threads: full workers on their own port, PEs on their queue pairs.
  const std::vector<std::uint16_t> host_ports = serving_ports(placement_, Side::host, first);
  SideResources host;
  host.store = store_.get();
  host.queue = queue_ ? &*queue_ : nullptr;
  host.factory = factory;
  host.ports = host_ports;
  host.worker = cfg_.worker;
  host.max_datagram = cfg_.max_datagram;
  if (queue_) {
    queue_epoch_.store(1);
    host.queue_epoch = &queue_epoch_;
  }
  // cpu-only: the memcached front end runs on the first full worker's thread, in-process.
  host.link_first = cfg_.memcached_port >= 0 && !offloaded(placement_.design);
  host_ = std::make_unique<ServingSide>(placement_, Side::host, host);
  for (std::size_t k = 0; k < host_->size(); ++k) {
    const ThreadPlan& t = host_->thread(k).plan();
    if (t.port >= 0) map_.ports[t.port] = host_->thread(k).port();
  }

  if (offloaded(placement_.design)) {
    const EnginePlan plan =
        EnginePlan::make(cfg_.placement, cfg_.store, cfg_.worker, cfg_.max_datagram, cfg_.bind,
                         serving_ports(placement_, Side::engine, first));
    block_ = EngineBlock::create(queue_->extra().data(), queue_->extra().size(), plan);
    block_->epoch.store(1);
    engine_carry_.assign(placement_.count(Side::engine), Counters{});
    engine_carry_cpu_.assign(placement_.count(Side::engine), 0.0);
    if (cfg_.memcached_port >= 0) {  // the engine runs the front end
      EngineMemcached& m = block_->memcached;
      if (map_.ports.size() > kMaxMapPorts) {
        throw std::runtime_error("memcached: more than " + std::to_string(kMaxMapPorts) +
                                 " serving ports");
      }
      m.port = cfg_.memcached_port;
      m.max_connections = static_cast<std::uint32_t>(cfg_.memcached_max_connections);
      m.map_ports = static_cast<std::uint32_t>(map_.ports.size());
      std::copy(map_.ports.begin(), map_.ports.end(), m.host_ports.begin());
    }
    queue_->segment().beat();
    start_engine(factory);
    engine_attacher_pid_ = queue_->segment().holder(qp::Side::attacher).pid;
    std::size_t k = 0;
    for (const ThreadPlan& t : placement_.threads) {
      if (t.side == Side::engine) {
        map_.ports[t.port] = static_cast<std::uint16_t>(block_->threads[k++].port.load());
      }
    }
  }
  if (std::string why = map_.validate(); !why.empty()) {
    stop_engine();
    throw std::runtime_error(why);
  }
  if (block_ != nullptr && cfg_.memcached_port >= 0) {
    engine_memcached_port_ = static_cast<int>(block_->memcached.bound_port.load());
  } else if (cfg_.memcached_port >= 0) {
    MemcachedConfig mc;
    mc.bind = cfg_.bind;
    mc.port = static_cast<std::uint16_t>(cfg_.memcached_port);
    mc.map = map_;
    mc.max_connections = cfg_.memcached_max_connections;
    mc.host = host_->linked();
    try {
      memcached_ = std::make_unique<MemcachedFrontEnd>(mc);
      if (mc.host != nullptr) {
        mc.host->host([fe = memcached_.get()](const std::atomic<bool>& stop) { fe->run(stop); });
      }
    } catch (const std::exception&) {
      stop_engine();
      throw;
    }
  }
}

MemcachedCounters Server::memcached_counters() const {
  if (memcached_) return memcached_->counters();
  if (engine_memcached_port_ >= 0) return block_->memcached.counters.read();
  return MemcachedCounters{};
}

Server::~Server() {
  stop();
}

std::string Server::segment_name() const {
  return queue_ ? queue_->segment().name() : "";
}

void Server::start() {
  if (started_) return;
  started_ = true;
  start_time_ = std::chrono::steady_clock::now();
  host_->start();
  control_thread_ = std::thread([this] { control_loop(); });
  if (block_ != nullptr) watch_thread_ = std::thread([this] { watch_loop(); });
  if (memcached_ && host_->linked() == nullptr) {  // hosted: it runs in a serving thread
    memcached_thread_ = std::thread([this] { memcached_->run(memcached_stop_); });
  }
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_.store(true);
  memcached_stop_.store(true);
  if (memcached_thread_.joinable()) memcached_thread_.join();
  // The control thread first (it also watches the engine), then the engine (its CEs wait on host
  // PEs, never the other way round), then the host threads.
  if (control_thread_.joinable()) control_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
  stop_engine();
  host_->stop();
  if (queue_) Store::remove_segment(engine::store_segment_name(cfg_.segment));
}

void Server::control_loop() {
  std::vector<std::byte> in(wire::kMaxDatagram), out(wire::kMaxDatagram);
  wire::Datagram d{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
  serving::Counters c;  // the control port's datagrams and drops, published to control_counters_
  // Client ids for exactly-once writes: one per HELLO, unique in this server's life (2^24 HELLOs
  // before they wrap), starting at a random number so that a client of a previous server on the
  // same port is unlikely to share one with a client of this one.
  std::uint32_t next_client = std::random_device{}() & wire::kAssignedNumberMask;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (control_->recv_burst({&d, 1}, std::chrono::milliseconds(50)) == 0) continue;
    ++c.datagrams_in;
    const auto req = wire::parse_control_request({d.data, std::min(d.size, d.capacity)});
    if (d.size > d.capacity || req.drop != wire::Drop::none) {
      c.count_drop(d.size > d.capacity ? wire::Drop::oversize : req.drop);
      control_counters_.publish(c);
      continue;
    }
    ++c.requests;
    std::size_t n = 0;
    if (req.cmd == wire::Command::hello) {
      next_client = (next_client + 1) & wire::kAssignedNumberMask;
      if (next_client == 0) next_client = 1;
      // While the engine is down (restarting, or lost) its ports do not answer: HELLO says so.
      const bool down = block_ != nullptr && (engine_down_.load() || !engine_lost().empty());
      n = wire::encode_hello(out, req.header.client_id, map_,
                             wire::kAssignedClientBit | next_client,
                             down ? wire::kHelloEngineDown : std::uint16_t{0});
    } else {  // cut to fit one control datagram (docs/protocol.md, "STATS")
      n = wire::encode_stats(out, req.header.client_id, stats_json(wire::kMaxStatsBytes));
    }
    wire::Datagram r{out.data(), static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n),
                     d.peer};
    if (n != 0 && control_->send_burst({&r, 1}) == 1) {
      ++c.datagrams_out;
    } else {
      ++c.send_failures;
    }
    control_counters_.publish(c);
  }
}

Server::Figures Server::figures() const {
  Figures f;
  for (std::size_t k = 0; k < host_->size(); ++k) {
    const ServingThread& h = host_->thread(k);
    f.threads.push_back({Side::host, h.plan().role, h.plan().port >= 0 ? h.port() : -1,
                         h.plan().cpu, h.cpu_s(), h.counters()});
  }
  std::size_t k = 0;
  {
    // A restarted engine's figures start from 0: the dead engines' are carried on top.
    std::lock_guard lock(engine_mu_);
    for (const ThreadPlan& tp : placement_.threads) {
      if (tp.side != Side::engine) continue;
      const EngineThreadSlot& s = block_->threads[k];
      Counters c = s.counters.read();
      c += engine_carry_[k];
      f.threads.push_back({Side::engine, tp.role, map_.ports[tp.port], tp.cpu,
                           static_cast<double>(s.cpu_ns.load()) / 1e9 + engine_carry_cpu_[k], c});
      ++k;
    }
  }
  for (const ThreadFigures& t : f.threads) {
    f.total += t.c;
    f.side[static_cast<std::size_t>(t.side)] += t.c;
    f.cpu_s[static_cast<std::size_t>(t.side)] += t.cpu_s;
  }
  return f;
}

Counters Server::totals() const {
  return figures().total;
}

double Server::cpu_s(Side side) const {
  return figures().cpu_s[static_cast<std::size_t>(side)];
}

StatsSnapshot Server::store_stats() const {
  StatsSnapshot s = store_ ? store_->stats() : StatsSnapshot{};
  if (block_ != nullptr) s += block_->store_stats();
  return s;
}

}  // namespace buddy::kv::server
