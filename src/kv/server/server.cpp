#include "buddy/kv/server/server.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "buddy/kv/engine/engine_runtime.hpp"
#include "buddy/kv/serving/full_worker.hpp"
#include "buddy/kv/serving/measured_thread.hpp"
#include "buddy/kv/serving/pe_worker.hpp"
#include "buddy/kv/wire/udp.hpp"

namespace buddy::kv::server {

using namespace engine;
using namespace queue;
using namespace serving;

namespace {
// The engine must beat at least this often once ready, or it is taken for dead.
constexpr double kEngineHeartbeatTimeoutS = 5.0;

std::atomic<unsigned> segment_counter{0};

std::string default_engine_binary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "buddykv-engine";
  return (self.parent_path() / "buddykv-engine").string();
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}
}  // namespace

struct Server::HostThread {
  const ThreadPlan* plan = nullptr;
  std::unique_ptr<wire::BurstTransport> transport;
  std::unique_ptr<FullWorker> full;
  std::unique_ptr<PeWorker> pe;
  SharedCounters shared;
  MeasuredThread thread;
};

PlacementConfig placement_config(const ServerConfig& c) {
  PlacementConfig p;
  if (auto d = parse_design(c.design)) p.design = *d;
  p.host_threads = c.threads;
  p.engine_threads = c.engine_threads;
  p.spare_threads = c.spare_threads;
  p.partitions_per_thread = c.partitions_per_thread;
  p.host_cpus = c.cpus;
  p.engine_cpus = c.engine_cpus;
  return p;
}

std::string validate(const ServerConfig& c) {
  if (!parse_design(c.design)) {
    return "design '" + c.design + "' is not one of cpu-only, engine-only, lat, sav, dual, shrd";
  }
  if (std::string why = validate(placement_config(c)); !why.empty()) return why;
  if (c.max_datagram < wire::kMinDatagram || c.max_datagram > wire::kMaxDatagram) {
    return "max datagram must be " + std::to_string(wire::kMinDatagram) + ".." +
           std::to_string(wire::kMaxDatagram) + " bytes";
  }
  if (c.worker.burst == 0 || c.worker.burst > 1024) return "burst must be 1..1024";
  if (c.worker.pipeline == 0 || c.worker.pipeline > 64) return "pipeline must be 1..64";
  if (c.worker.pe_batch == 0) return "PE batch must be at least 1";
  if (c.engine_cpus.size() > kMaxEngineCpus) return "too many engine cpus";
  if (c.bind.size() >= EnginePlan{}.bind.size()) return "bind address too long";
  if (c.ring_bytes < 256 || (c.ring_bytes & (c.ring_bytes - 1)) != 0) {
    return "ring bytes must be a power of two, at least 256";
  }
  // The largest datagram's requests must fit one ring entry.
  if (c.ring_bytes / 2 < 2 * c.max_datagram) return "rings too small for the datagram size";
  return {};
}

Server::Server(ServerConfig cfg, TransportFactory factory) : cfg_(std::move(cfg)) {
  if (std::string why = validate(cfg_); !why.empty()) throw std::runtime_error(why);
  if (!factory) factory = udp_factory(cfg_.bind);
  placement_ = place(placement_config(cfg_));
  if (std::string why = placement_.validate(); !why.empty()) {
    throw std::runtime_error("placement: " + why);
  }
  const std::vector<std::uint32_t> host_parts = placement_.partitions_on(Side::host);
  if (!host_parts.empty()) {
    StoreConfig sc;
    sc.mode = cfg_.mode;
    sc.memory_bytes = cfg_.memory_bytes;
    sc.partitions = placement_.partitions;
    sc.expected_items = cfg_.expected_items;
    if (host_parts.size() != placement_.partitions) sc.only = host_parts;
    try {
      store_ = std::make_unique<Store>(sc);
    } catch (const kv::Error& e) {
      throw std::runtime_error(std::string("store: ") + e.what());
    }
  }
  if (offloaded(placement_.design)) {
    KvQueueLayout layout;
    layout.queue_pairs = std::max<std::uint32_t>(placement_.queue_pairs, 1);
    layout.request_ring_bytes = cfg_.ring_bytes;
    layout.response_ring_bytes = cfg_.ring_bytes;
    layout.extra_bytes = sizeof(EngineBlock);
    if (cfg_.segment.empty()) {
      cfg_.segment = "buddykv-" + std::to_string(::getpid()) + "-" +
                     std::to_string(segment_counter.fetch_add(1));
    }
    try {
      queue_.emplace(KvQueue::create(cfg_.segment, layout));
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("segment: ") + e.what());
    }
  }

  control_ = factory(cfg_.port);
  const std::uint16_t first =
      cfg_.worker_port != 0 ? cfg_.worker_port
                            : (cfg_.port == 0 ? 0 : static_cast<std::uint16_t>(cfg_.port + 1));
  auto port_for = [&](int index) -> std::uint16_t {
    if (first == 0) return 0;
    const int p = first + index;
    if (p > 65535) throw std::runtime_error("serving ports would pass 65535");
    return static_cast<std::uint16_t>(p);
  };

  map_.partitions = placement_.partitions;
  map_.max_datagram = static_cast<std::uint32_t>(cfg_.max_datagram);
  map_.ports.assign(placement_.port_thread.size(), 0);
  map_.owner = placement_.partition_port;

  // Host threads: full workers on their own port, PEs on their queue pairs.
  for (const ThreadPlan& tp : placement_.threads) {
    if (tp.side != Side::host) continue;
    auto h = std::make_unique<HostThread>();
    h->plan = &tp;
    if (tp.role == Role::full) {
      h->transport = factory(port_for(tp.port));
      map_.ports[tp.port] = h->transport->local().port;
      Ownership own;
      own.partitions = placement_.partitions;
      own.mine.assign(placement_.partitions, false);
      for (std::uint32_t p : tp.partitions) own.mine[p] = true;
      h->full = std::make_unique<FullWorker>(
          *h->transport, CommEngine(std::move(own), cfg_.max_datagram),
          ProcessingEngine(*store_, tp.partitions), h->shared, cfg_.worker);
    } else {
      std::vector<KvPeEnd> ends;
      for (std::uint32_t q : tp.pairs) ends.push_back(queue_->pe(q));
      h->pe = std::make_unique<PeWorker>(ProcessingEngine(*store_, tp.partitions), std::move(ends),
                                         h->shared, cfg_.worker);
    }
    host_.push_back(std::move(h));
  }

  if (offloaded(placement_.design)) {
    EnginePlan plan;
    plan.design = static_cast<std::uint8_t>(placement_.design);
    plan.mode = static_cast<std::uint8_t>(cfg_.mode);
    plan.host_threads = cfg_.threads;
    plan.engine_threads = cfg_.engine_threads;
    plan.spare_threads = cfg_.spare_threads;
    plan.partitions_per_thread = cfg_.partitions_per_thread;
    plan.engine_cpu_count = static_cast<std::uint32_t>(cfg_.engine_cpus.size());
    for (std::size_t i = 0; i < cfg_.engine_cpus.size(); ++i)
      plan.engine_cpus[i] = cfg_.engine_cpus[i];
    plan.memory_bytes = cfg_.memory_bytes;
    plan.expected_items = cfg_.expected_items;
    plan.max_datagram = static_cast<std::uint32_t>(cfg_.max_datagram);
    plan.burst = static_cast<std::uint32_t>(cfg_.worker.burst);
    plan.spins = cfg_.worker.spins;
    plan.wait_us = static_cast<std::uint32_t>(cfg_.worker.wait.count());
    plan.pipeline = cfg_.worker.pipeline;
    plan.pe_batch = cfg_.worker.pe_batch;
    std::memcpy(plan.bind.data(), cfg_.bind.data(), cfg_.bind.size());
    std::size_t k = 0;
    for (const ThreadPlan& tp : placement_.threads) {
      if (tp.side == Side::engine) plan.ports[k++] = port_for(tp.port);
    }
    plan.placement_digest = digest(placement_);
    block_ = EngineBlock::create(queue_->segment().extra().data(), queue_->segment().extra().size(),
                                 plan);
    queue_->segment().beat();
    start_engine(factory);
    k = 0;
    for (const ThreadPlan& tp : placement_.threads) {
      if (tp.side == Side::engine) {
        map_.ports[tp.port] = static_cast<std::uint16_t>(block_->threads[k++].port.load());
      }
    }
  }
  if (std::string why = map_.validate(); !why.empty()) {
    stop_engine();
    throw std::runtime_error(why);
  }
}

Server::~Server() {
  stop();
}

void Server::start_engine(const TransportFactory& factory) {
  if (cfg_.engine == EngineMode::thread) {
    try {
      engine_rt_ = std::make_unique<EngineRuntime>(*queue_, factory);
      engine_rt_->start();
    } catch (const std::exception& e) {
      engine_rt_.reset();
      throw std::runtime_error(std::string("engine: ") + e.what());
    }
    engine_thread_ = std::thread([this] { engine_rt_->serve(engine_thread_stop_); });
    return;
  }
  start_engine_process();
}

void Server::start_engine_process() {
  const std::string bin = cfg_.engine_binary.empty() ? default_engine_binary() : cfg_.engine_binary;
  if (::access(bin.c_str(), X_OK) != 0) {
    throw std::runtime_error("engine binary " + bin +
                             " is not executable: " + std::strerror(errno));
  }
  const std::string name = cfg_.segment;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec. It dies with the server.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM for sigtimedwait
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    const char* argv[] = {bin.c_str(), "--attach", name.c_str(), nullptr};
    ::execv(bin.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  engine_pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + cfg_.engine_start_timeout;
  for (;;) {
    const EngineState s = block_->current();
    if (s == EngineState::ready) return;
    int status = 0;
    std::string why;
    if (s == EngineState::failed) {
      why = "engine failed: " + block_->failure();
    } else if (::waitpid(pid, &status, WNOHANG) == pid) {
      engine_pid_ = -1;
      why = "engine process " + describe_status(status) + " before it was ready";
    } else if (std::chrono::steady_clock::now() > deadline) {
      why = "engine process did not become ready within " +
            std::to_string(cfg_.engine_start_timeout.count()) + " ms";
    }
    if (!why.empty()) {
      stop_engine();
      throw std::runtime_error(why);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Server::stop_engine() {
  if (block_ != nullptr) block_->stop.store(1);
  if (engine_thread_.joinable()) {
    engine_thread_stop_.store(true);
    engine_thread_.join();
  }
  engine_rt_.reset();
  if (engine_pid_ > 0) {
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 500 && (r = ::waitpid(engine_pid_, &status, WNOHANG)) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (r == 0) {
      ::kill(engine_pid_, SIGKILL);
      ::waitpid(engine_pid_, &status, 0);
      engine_died("engine process did not stop within 5 s and was killed");
    } else if (r == engine_pid_ && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
               engine_lost().empty()) {
      engine_died("engine process " + describe_status(status) + " while stopping");
    }
    engine_pid_ = -1;
  }
}

void Server::engine_died(const std::string& why) {
  std::lock_guard lock(engine_mu_);
  if (!engine_lost_.empty()) return;
  engine_lost_ = why;
  std::string ports;
  for (const ThreadPlan& tp : placement_.threads) {
    if (tp.side == Side::engine && tp.port >= 0) {
      if (!ports.empty()) ports += ',';
      ports += std::to_string(map_.ports[tp.port]);
    }
  }
  const StatsSnapshot st = store_ ? store_->stats() : StatsSnapshot{};
  std::fprintf(stderr,
               "buddykv-server: %s; engine ports %s no longer answer; the host store keeps its "
               "%llu items\n",
               why.c_str(), ports.c_str(), static_cast<unsigned long long>(st.items));
}

std::string Server::engine_lost() const {
  std::lock_guard lock(engine_mu_);
  return engine_lost_;
}

std::string Server::segment_name() const {
  return queue_ ? queue_->segment().name() : "";
}

void Server::watch_engine() {
  if (block_ == nullptr || !engine_lost().empty()) return;
  queue_->segment().beat();
  if (engine_pid_ > 0) {
    int status = 0;
    if (::waitpid(engine_pid_, &status, WNOHANG) == engine_pid_) {
      engine_pid_ = -1;
      engine_died("engine process " + describe_status(status));
      return;
    }
  }
  const EngineState s = block_->current();
  if (s == EngineState::failed) {
    engine_died("engine failed: " + block_->failure());
  } else if (s == EngineState::exited) {
    engine_died("engine exited (it saw the host as dead)");
  } else if (block_->heartbeat_age_s() > kEngineHeartbeatTimeoutS) {
    engine_died("engine stopped beating for " + std::to_string(kEngineHeartbeatTimeoutS) + " s");
  }
}

void Server::start() {
  if (started_) return;
  started_ = true;
  start_time_ = std::chrono::steady_clock::now();
  for (auto& hp : host_) {
    HostThread* h = hp.get();
    h->thread.start(h->plan->cpu, [this, h] {
      if (h->full) {
        h->full->run(stop_);
      } else {
        h->pe->run(stop_);
      }
    });
  }
  control_thread_ = std::thread([this] { control_loop(); });
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_.store(true);
  // The control thread first (it also watches the engine), then the engine (its CEs wait on host
  // PEs, never the other way round), then the host threads.
  if (control_thread_.joinable()) control_thread_.join();
  stop_engine();
  for (auto& h : host_) h->thread.join();
}

void Server::control_loop() {
  std::vector<std::byte> in(wire::kMaxDatagram), out(wire::kMaxDatagram);
  wire::Datagram d{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
  serving::Counters c;  // the control port's datagrams and drops, published to control_counters_
  while (!stop_.load(std::memory_order_relaxed)) {
    watch_engine();
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
      n = wire::encode_hello(out, req.header.client_id, map_);
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
  for (const auto& h : host_) {
    f.threads.push_back({Side::host, h->plan->role,
                         h->plan->port >= 0 ? map_.ports[h->plan->port] : -1, h->plan->cpu,
                         h->thread.cpu_s(), h->shared.read()});
  }
  std::size_t k = 0;
  for (const ThreadPlan& tp : placement_.threads) {
    if (tp.side != Side::engine) continue;
    const EngineThreadSlot& s = block_->threads[k++];
    f.threads.push_back({Side::engine, tp.role, map_.ports[tp.port], tp.cpu,
                         static_cast<double>(s.cpu_ns.load()) / 1e9, s.counters.read()});
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
