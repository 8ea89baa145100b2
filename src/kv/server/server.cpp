#include "buddy/kv/server/server.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "buddy/kv/wire/udp.hpp"

namespace buddy::kv::server {

namespace {
// STATS lists items per partition up to this many partitions (the answer is one datagram).
constexpr std::uint32_t kListedPartitions = 512;
}  // namespace

struct Server::Worker {
  std::unique_ptr<wire::BurstTransport> transport;
  std::unique_ptr<CpuOnlyWorker> worker;
  SharedCounters shared;
  std::thread thread;
  std::atomic<clockid_t> clock{0};
  std::atomic<bool> clock_ready{false};
  std::atomic<double> final_cpu_s{-1.0};  // set when the thread ends
  int cpu = -1;
};

std::string validate(const ServerConfig& c) {
  if (c.design != "cpu-only") {
    return "design '" + c.design + "' is not available (this build serves: cpu-only)";
  }
  if (c.threads == 0 || c.threads > 256) return "threads must be 1..256";
  if (c.partitions_per_thread == 0) return "partitions per thread must be at least 1";
  if (std::uint64_t{c.threads} * c.partitions_per_thread > wire::kMaxPartitions) {
    return "too many partitions (at most " + std::to_string(wire::kMaxPartitions) + ")";
  }
  if (c.max_datagram < wire::kMinDatagram || c.max_datagram > wire::kMaxDatagram) {
    return "max datagram must be " + std::to_string(wire::kMinDatagram) + ".." +
           std::to_string(wire::kMaxDatagram) + " bytes";
  }
  if (c.port != 0 && c.worker_port == 0 && std::uint32_t{c.port} + c.threads > 65535) {
    return "worker ports would pass 65535";
  }
  if (c.worker.burst == 0 || c.worker.burst > 1024) return "burst must be 1..1024";
  return {};
}

TransportFactory udp_factory(const std::string& bind) {
  return [bind](std::uint16_t port) -> std::unique_ptr<wire::BurstTransport> {
    return std::make_unique<wire::UdpSocket>(wire::make_endpoint(bind, port));
  };
}

Server::Server(ServerConfig cfg, TransportFactory factory) : cfg_(std::move(cfg)) {
  if (std::string why = validate(cfg_); !why.empty()) throw std::runtime_error(why);
  if (!factory) factory = udp_factory(cfg_.bind);
  const std::uint32_t parts = cfg_.threads * cfg_.partitions_per_thread;
  StoreConfig sc;
  sc.mode = cfg_.mode;
  sc.memory_bytes = cfg_.memory_bytes;
  sc.partitions = parts;
  sc.expected_items = cfg_.expected_items;
  try {
    store_ = std::make_unique<Store>(sc);
  } catch (const kv::Error& e) {
    throw std::runtime_error(std::string("store: ") + e.what());
  }
  control_ = factory(cfg_.port);
  const std::uint16_t first =
      cfg_.worker_port != 0 ? cfg_.worker_port
                            : (cfg_.port == 0 ? 0 : static_cast<std::uint16_t>(cfg_.port + 1));
  map_.partitions = parts;
  map_.max_datagram = static_cast<std::uint32_t>(cfg_.max_datagram);
  map_.owner.resize(parts);
  // Partition p belongs to thread p % threads: neighbouring hash ranges spread over threads.
  for (unsigned w = 0; w < cfg_.threads; ++w) {
    auto wk = std::make_unique<Worker>();
    wk->transport = factory(first == 0 ? 0 : static_cast<std::uint16_t>(first + w));
    map_.ports.push_back(wk->transport->local().port);
    Ownership own;
    own.partitions = parts;
    own.mine.assign(parts, false);
    std::vector<std::uint32_t> owned;
    for (std::uint32_t p = w; p < parts; p += cfg_.threads) {
      own.mine[p] = true;
      owned.push_back(p);
      map_.owner[p] = static_cast<std::uint16_t>(w);
    }
    wk->cpu = cfg_.cpus.empty() ? -1 : cfg_.cpus[w % cfg_.cpus.size()];
    wk->worker = std::make_unique<CpuOnlyWorker>(
        *wk->transport, CommEngine(std::move(own), cfg_.max_datagram),
        ProcessingEngine(*store_, std::move(owned)), wk->shared, cfg_.worker);
    workers_.push_back(std::move(wk));
  }
  if (std::string why = map_.validate(); !why.empty()) throw std::runtime_error(why);
}

Server::~Server() {
  stop();
}

void Server::start() {
  if (started_) return;
  started_ = true;
  start_time_ = std::chrono::steady_clock::now();
  for (auto& wp : workers_) {
    Worker* w = wp.get();
    w->thread = std::thread([this, w] {
      if (w->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      }
      clockid_t id{};
      if (pthread_getcpuclockid(pthread_self(), &id) == 0) {
        w->clock.store(id);
        w->clock_ready.store(true);
      }
      w->worker->run(stop_);
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      w->final_cpu_s.store(static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9);
    });
  }
  control_thread_ = std::thread([this] { control_loop(); });
}

void Server::stop() {
  stop_.store(true);
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  if (control_thread_.joinable()) control_thread_.join();
}

void Server::control_loop() {
  std::vector<std::byte> in(wire::kMaxDatagram), out(wire::kMaxDatagram);
  wire::Datagram d{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
  while (!stop_.load(std::memory_order_relaxed)) {
    if (control_->recv_burst({&d, 1}, std::chrono::milliseconds(50)) == 0) continue;
    const auto req = wire::parse_control_request({d.data, std::min(d.size, d.capacity)});
    if (req.drop != wire::Drop::none || d.size > d.capacity) {
      control_drops_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    std::size_t n = 0;
    if (req.cmd == wire::Command::hello) {
      n = wire::encode_hello(out, req.header.client_id, map_);
    } else {
      n = wire::encode_stats(out, req.header.client_id, stats_json());
    }
    if (n == 0) continue;
    wire::Datagram r{out.data(), static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n),
                     d.peer};
    control_->send_burst({&r, 1});
  }
}

Counters Server::totals() const {
  Counters t;
  for (const auto& w : workers_) t += w->shared.read();
  return t;
}

double Server::thread_cpu_s(std::size_t i) const {
  const Worker& w = *workers_[i];
  if (const double f = w.final_cpu_s.load(); f >= 0) return f;
  if (!w.clock_ready.load()) return 0.0;
  timespec ts{};
  if (clock_gettime(w.clock.load(), &ts) != 0) return 0.0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string Server::stats_json() const {
  const auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_);
  std::string s = "{\"design\":\"" + cfg_.design +
                  "\",\"threads\":" + std::to_string(cfg_.threads) +
                  ",\"partitions\":" + std::to_string(map_.partitions) + ",\"mode\":\"" +
                  std::string(to_string(cfg_.mode)) +
                  "\",\"uptime_s\":" + std::to_string(started_ ? up.count() : 0.0) + ",";
  s += json_members(totals());
  s += ",\"control_drops\":" + std::to_string(control_drops_.load());
  const StatsSnapshot st = store_->stats();
  s += ",\"store\":{\"items\":" + std::to_string(st.items) +
       ",\"bytes\":" + std::to_string(st.bytes) + ",\"memory\":" + std::to_string(st.memory) +
       ",\"hits\":" + std::to_string(st.hits) + ",\"misses\":" + std::to_string(st.misses) +
       ",\"sets\":" + std::to_string(st.sets) + ",\"deletes\":" + std::to_string(st.deletes) +
       ",\"evictions\":" + std::to_string(st.evictions) + ",\"oom\":" + std::to_string(st.oom) +
       "}";
  // Per-partition items, or a summary when the list would not fit a STATS datagram.
  std::uint64_t lo = UINT64_MAX, hi = 0;
  std::string list;
  for (std::uint32_t p = 0; p < map_.partitions; ++p) {
    const std::uint64_t n = store_->partition(p).stats().items;
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    if (map_.partitions <= kListedPartitions) {
      if (p != 0) list += ',';
      list += std::to_string(n);
    }
  }
  s += ",\"partition_items_min\":" + std::to_string(lo) +
       ",\"partition_items_max\":" + std::to_string(hi);
  if (map_.partitions <= kListedPartitions) s += ",\"partition_items\":[" + list + "]";
  s += ",\"workers\":[";
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (i != 0) s += ',';
    s += "{\"port\":" + std::to_string(map_.ports[i]) +
         ",\"cpu\":" + std::to_string(workers_[i]->cpu) +
         ",\"cpu_s\":" + std::to_string(thread_cpu_s(i)) + ",";
    s += json_members(workers_[i]->shared.read());
    s += '}';
  }
  s += "]}";
  return s;
}

std::string Server::stats_text() const {
  const Counters t = totals();
  const StatsSnapshot st = store_->stats();
  std::string s;
  char line[512];
  std::snprintf(
      line, sizeof(line),
      "requests %llu (get %llu, set %llu, del %llu); datagrams in %llu, out %llu; "
      "dropped %llu; send failures %llu\n",
      static_cast<unsigned long long>(t.requests), static_cast<unsigned long long>(t.ops[0]),
      static_cast<unsigned long long>(t.ops[1]), static_cast<unsigned long long>(t.ops[2]),
      static_cast<unsigned long long>(t.datagrams_in),
      static_cast<unsigned long long>(t.datagrams_out),
      static_cast<unsigned long long>(t.dropped()),
      static_cast<unsigned long long>(t.send_failures));
  s += line;
  s += "status:";
  for (std::size_t i = 0; i < kStatuses; ++i) {
    s += ' ';
    s += to_string(static_cast<wire::Status>(i));
    s += '=';
    s += std::to_string(t.status[i]);
  }
  s += "\ndrops: oversize=" + std::to_string(t.oversize);
  for (std::size_t i = 1; i < wire::kDropReasons; ++i) {
    s += ' ';
    s += to_string(static_cast<wire::Drop>(i));
    s += '=';
    s += std::to_string(t.drops[i]);
  }
  s += " control=" + std::to_string(control_drops_.load());
  std::snprintf(line, sizeof(line), "\nstore: %llu items, %.1f MiB in use\n",
                static_cast<unsigned long long>(st.items),
                static_cast<double>(st.memory) / (1 << 20));
  s += line;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const Counters c = workers_[i]->shared.read();
    std::snprintf(
        line, sizeof(line),
        "thread %zu port %u: cpu %.2f s; ms receive %.0f parse %.0f process %.0f "
        "respond %.0f idle %.0f\n",
        i, static_cast<unsigned>(map_.ports[i]), thread_cpu_s(i),
        static_cast<double>(c.stage_ns[0]) / 1e6, static_cast<double>(c.stage_ns[1]) / 1e6,
        static_cast<double>(c.stage_ns[2]) / 1e6, static_cast<double>(c.stage_ns[3]) / 1e6,
        static_cast<double>(c.stage_ns[4]) / 1e6);
    s += line;
  }
  return s;
}

}  // namespace buddy::kv::server
