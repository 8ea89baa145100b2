// The server's statistics as STATS answers them (one JSON object) and as the exit report prints
// them (DPU-KV's per-stage profile, per thread and per side).
#include <algorithm>
#include <cstdio>

#include "buddy/kv/engine/engine_block.hpp"
#include "buddy/kv/server/server.hpp"

namespace buddy::kv::server {

using namespace engine;
using namespace serving;

namespace {
// STATS lists items per partition up to this many partitions (the answer is one datagram).
constexpr std::uint32_t kListedPartitions = 512;
std::string per_mreq(double cpu_s, std::uint64_t requests) {
  return requests == 0 ? "null" : std::to_string(cpu_s * 1e6 / static_cast<double>(requests));
}
}  // namespace

std::string Server::stats_json() const {
  const auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_);
  const Figures figs = figures();
  const Counters& t = figs.total;
  const double host_cpu = figs.cpu_s[0], engine_cpu = figs.cpu_s[1];
  std::string s = "{\"design\":\"" + std::string(to_string(placement_.design)) +
                  "\",\"threads\":" + std::to_string(cfg_.placement.host_threads) +
                  ",\"engine_threads\":" + std::to_string(placement_.count(Side::engine)) +
                  ",\"host_serving_threads\":" + std::to_string(placement_.count(Side::host)) +
                  ",\"partitions\":" + std::to_string(map_.partitions) + ",\"mode\":\"" +
                  std::string(to_string(cfg_.store.mode)) +
                  "\",\"uptime_s\":" + std::to_string(started_ ? up.count() : 0.0) + ",";
  s += json_members(t);
  s += ",\"control_drops\":" + std::to_string(control_drops_.load());
  s += ",\"host_cpu_s\":" + std::to_string(host_cpu) +
       ",\"engine_cpu_s\":" + std::to_string(engine_cpu) +
       ",\"host_cpu_s_per_mreq\":" + per_mreq(host_cpu, t.requests) +
       ",\"engine_cpu_s_per_mreq\":" + per_mreq(engine_cpu, t.requests);
  // The same without the idle stage (polling for work that was not there): the CPU the work
  // itself took on each side.
  const auto idle = static_cast<std::size_t>(Stage::idle);
  const double host_busy =
      std::max(0.0, host_cpu - static_cast<double>(figs.side[0].stage_ns[idle]) / 1e9);
  const double engine_busy =
      std::max(0.0, engine_cpu - static_cast<double>(figs.side[1].stage_ns[idle]) / 1e9);
  s += ",\"host_busy_cpu_s_per_mreq\":" + per_mreq(host_busy, t.requests) +
       ",\"engine_busy_cpu_s_per_mreq\":" + per_mreq(engine_busy, t.requests);
  if (offloaded(placement_.design)) {
    const std::string lost = engine_lost();
    s += ",\"engine\":{\"mode\":\"";
    s += cfg_.engine == EngineMode::process ? "process" : "thread";
    s += "\",\"segment\":\"" + segment_name() +
         "\",\"pid\":" + std::to_string(engine_attacher_pid_) + ",\"state\":\"" +
         (lost.empty() ? "ok" : "lost") + "\"}";
  }
  const StatsSnapshot st = store_stats();
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
    const std::uint64_t n = placement_.partition_side[p] == Side::host
                                ? store_->partition(p).stats().items
                                : block_->partition_items[p].load(std::memory_order_relaxed);
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
  for (std::size_t i = 0; i < figs.threads.size(); ++i) {
    const auto& f = figs.threads[i];
    if (i != 0) s += ',';
    s += "{\"side\":\"" + std::string(to_string(f.side)) + "\",\"role\":\"" + to_string(f.role) +
         "\",\"port\":" + std::to_string(f.port) + ",\"cpu\":" + std::to_string(f.cpu) +
         ",\"cpu_s\":" + std::to_string(f.cpu_s) + ",";
    s += json_members(f.c);
    s += '}';
  }
  s += "]}";
  return s;
}

std::string Server::stats_text() const {
  const Figures figs = figures();
  const Counters& t = figs.total;
  const double host_cpu = figs.cpu_s[0], engine_cpu = figs.cpu_s[1];
  const StatsSnapshot st = store_stats();
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
  const double mreq = static_cast<double>(t.requests) / 1e6;
  std::snprintf(line, sizeof(line),
                "design %s: host cpu %.2f s, engine cpu %.2f s; per million requests: host %.3f "
                "s, engine %.3f s\n",
                to_string(placement_.design), host_cpu, engine_cpu,
                mreq > 0 ? host_cpu / mreq : 0.0, mreq > 0 ? engine_cpu / mreq : 0.0);
  s += line;
  if (const std::string lost = engine_lost(); !lost.empty()) s += "engine lost: " + lost + "\n";
  // DPU-KV's profile: CPU time by stage, per thread and per side.
  s += "thread       port  cpu s  | cpu ms: receive   parse  process  respond     idle\n";
  auto row = [&](const char* side, const char* role, int port, double cpu, const Counters& c) {
    std::snprintf(
        line, sizeof(line), "%-6s %-4s%6d %6.2f  |      %9.0f %7.0f %8.0f %8.0f %8.0f\n", side,
        role, port, cpu, static_cast<double>(c.stage_ns[0]) / 1e6,
        static_cast<double>(c.stage_ns[1]) / 1e6, static_cast<double>(c.stage_ns[2]) / 1e6,
        static_cast<double>(c.stage_ns[3]) / 1e6, static_cast<double>(c.stage_ns[4]) / 1e6);
    s += line;
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
