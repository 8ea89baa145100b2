// The server's statistics as STATS answers them (one JSON object, docs/protocol.md "STATS") and
// as the exit report prints them (DPU-KV's per-stage profile, per thread and per side). Counter
// names come from the field tables (Counters::fields, StatsSnapshot::fields).
#include <algorithm>
#include <cstdio>

#include "buddy/base/json.hpp"
#include "buddy/kv/engine/engine_block.hpp"
#include "buddy/kv/server/server.hpp"

namespace buddy::kv::server {

using namespace engine;
using namespace serving;
using base::json::Fixed;
using base::json::Writer;

namespace {

// CPU seconds and their per-request figures: microsecond digits, as they always were.
constexpr int kCpuDigits = 6;

// CPU seconds per million requests, null without requests.
void per_mreq(Writer& w, std::string_view key, double cpu_s, std::uint64_t requests) {
  w.key(key);
  if (requests == 0) {
    w.null();
  } else {
    w.value(Fixed{cpu_s * 1e6 / static_cast<double>(requests), kCpuDigits});
  }
}

// The CPU the work itself took: without the idle stage (polling for work that was not there).
double busy_s(double cpu_s, const Counters& c) {
  const auto idle = static_cast<std::size_t>(Stage::idle);
  return std::max(0.0, cpu_s - static_cast<double>(c.stage_ns[idle]) / 1e9);
}

const base::Field kControlDrops = base::Field("control_drop_reasons").each(kDropNames);

}  // namespace

void Server::set_registry_status(std::function<std::string()> status) {
  std::lock_guard<std::mutex> l(registry_mu_);
  registry_status_ = std::move(status);
}

std::string Server::stats_json(std::size_t max_bytes) const {
  const auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_);
  const Figures figs = figures();
  const Counters& t = figs.total;
  const Counters control = control_counters_.read();
  const double host_cpu = figs.cpu_s[0], engine_cpu = figs.cpu_s[1];
  Writer w(4096);
  w.begin_object();
  w.member("design", to_string(placement_.design));
  w.member("threads", cfg_.placement.host_threads);
  w.member("engine_threads", placement_.count(Side::engine));
  w.member("host_serving_threads", placement_.count(Side::host));
  w.member("partitions", map_.partitions);
  w.member("mode", to_string(cfg_.store.mode));
  w.member("uptime_s", Fixed{started_ ? up.count() : 0.0, kCpuDigits});
  write_json(w, t);
  w.member("control_drops", control.dropped());
  base::write_field(w, kControlDrops, control.drops);
  w.member("host_cpu_s", Fixed{host_cpu, kCpuDigits});
  w.member("engine_cpu_s", Fixed{engine_cpu, kCpuDigits});
  per_mreq(w, "host_cpu_s_per_mreq", host_cpu, t.requests);
  per_mreq(w, "engine_cpu_s_per_mreq", engine_cpu, t.requests);
  per_mreq(w, "host_busy_cpu_s_per_mreq", busy_s(host_cpu, figs.side[0]), t.requests);
  per_mreq(w, "engine_busy_cpu_s_per_mreq", busy_s(engine_cpu, figs.side[1]), t.requests);
  if (offloaded(placement_.design)) {
    const std::string lost = engine_lost();
    w.key("engine").begin_object();
    w.member("mode", cfg_.engine == EngineMode::process ? "process" : "thread");
    w.member("segment", segment_name());
    w.member("pid", engine_attacher_pid_.load());
    const EngineRestarts r = engine_restarts();
    w.member("state", !lost.empty() ? "lost" : (r.down ? "restarting" : "ok"));
    w.member("restarts", r.restarts);
    w.member("epoch", r.epoch);
    w.member("last_downtime_ms", Fixed{r.last_downtime_ms, 3});
    w.end_object();
  }
  {
    std::lock_guard<std::mutex> l(registry_mu_);
    if (registry_status_) w.member("registry", registry_status_());
  }
  w.key("store").begin_object();
  base::write_fields(w, store_stats());
  w.end_object();
  if (memcached_port() >= 0) {
    w.key("memcached").begin_object();
    w.member("port", memcached_port());
    w.member("side", to_string(memcached_side()));
    base::write_fields(w, memcached_counters());
    w.end_object();
  }

  // Items per partition: the extremes always, the list when it fits.
  std::uint64_t lo = UINT64_MAX, hi = 0;
  Writer items(8 * map_.partitions + 2);
  items.begin_array();
  for (std::uint32_t p = 0; p < map_.partitions; ++p) {
    const std::uint64_t n = placement_.partition_side[p] == Side::host
                                ? store_->partition(p).stats().items
                                : block_->partition_items[p].load(std::memory_order_relaxed);
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    items.value(n);
  }
  items.end_array();
  w.member("partition_items_min", lo);
  w.member("partition_items_max", hi);

  std::vector<std::string> workers;
  for (const auto& f : figs.threads) {
    Writer o(1024);
    o.begin_object();
    o.member("side", to_string(f.side));
    o.member("role", to_string(f.role));
    o.member("port", f.port);
    o.member("cpu", f.cpu);
    o.member("cpu_s", Fixed{f.cpu_s, kCpuDigits});
    write_json(o, f.c);
    o.end_object();
    workers.push_back(o.take());
  }

  // The lists, within max_bytes: every worker that fits (in order), then the partition list if
  // it fits too. What is always written after them is at most this long:
  constexpr std::size_t kTail = sizeof(",\"workers\":[],\"workers_omitted\":18446744073709551615}");
  const std::size_t room =
      max_bytes == SIZE_MAX ? SIZE_MAX : max_bytes - std::min(max_bytes, w.size() + kTail);
  std::size_t used = 0, listed = 0;
  for (const std::string& x : workers) {
    if (room - used < x.size() + 1) break;  // + the comma
    used += x.size() + 1;
    ++listed;
  }
  constexpr std::size_t kItemsKey = sizeof(",\"partition_items\":");
  if (listed == workers.size() && room - used >= items.size() + kItemsKey) {
    w.raw_member("partition_items", items.str());
  }
  w.key("workers").begin_array();
  for (std::size_t i = 0; i < listed; ++i) w.raw(workers[i]);
  w.end_array();
  w.member("workers_omitted", workers.size() - listed);
  w.end_object();
  return w.take();
}

std::string Server::stats_text() const {
  const Figures figs = figures();
  const Counters& t = figs.total;
  const Counters control = control_counters_.read();
  const double host_cpu = figs.cpu_s[0], engine_cpu = figs.cpu_s[1];
  std::string s = "serving ports: " + to_text(t);
  s += "control port: datagrams_in=" + std::to_string(control.datagrams_in) +
       " datagrams_out=" + std::to_string(control.datagrams_out) +
       " send_failures=" + std::to_string(control.send_failures) +
       " dropped=" + std::to_string(control.dropped()) + "\n";
  s += base::text_field(kControlDrops, control.drops) + "\n";
  s += "store: " + base::text_fields(store_stats());
  if (memcached_port() >= 0) {
    s += std::string("memcached: side=") + to_string(memcached_side()) + " " +
         base::text_fields(memcached_counters());
  }
  char line[512];
  const double mreq = static_cast<double>(t.requests) / 1e6;
  std::snprintf(line, sizeof(line),
                "design %s: host cpu %.2f s, engine cpu %.2f s; per million requests: host %.3f "
                "s, engine %.3f s\n",
                to_string(placement_.design), host_cpu, engine_cpu,
                mreq > 0 ? host_cpu / mreq : 0.0, mreq > 0 ? engine_cpu / mreq : 0.0);
  s += line;
  if (const std::string lost = engine_lost(); !lost.empty()) s += "engine lost: " + lost + "\n";
  // DPU-KV's profile: CPU time by stage, per thread and per side.
  constexpr int kColumn = 9;
  s += "thread       port  cpu s  | cpu ms";
  for (std::string_view name : kStageNames) {
    std::snprintf(line, sizeof(line), "%*.*s", kColumn, static_cast<int>(name.size()), name.data());
    s += line;
  }
  s += '\n';
  auto row = [&](const char* side, const char* role, int port, double cpu, const Counters& c) {
    std::snprintf(line, sizeof(line), "%-6s %-4s%6d %6.2f  |       ", side, role, port, cpu);
    s += line;
    for (std::uint64_t ns : c.stage_ns) {
      std::snprintf(line, sizeof(line), "%*.0f", kColumn, static_cast<double>(ns) / 1e6);
      s += line;
    }
    s += '\n';
  };
  for (const auto& f : figs.threads)
    row(to_string(f.side), to_string(f.role), f.port, f.cpu_s, f.c);
  if (placement_.count(Side::host) > 0 && placement_.count(Side::engine) > 0) {
    row("host", "all", -1, host_cpu, figs.side[0]);
    row("engine", "all", -1, engine_cpu, figs.side[1]);
  }
  return s;
}

}  // namespace buddy::kv::server
