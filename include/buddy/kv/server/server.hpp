// buddykv server: the host side of every design. It computes the placement (placement.hpp),
// holds the host store, runs the host threads (cpu-only and spare full workers, PEs; built by
// serving::ServingSide), creates the segment of KV queue pairs and the engine control block for
// the offloaded designs, starts the engine (a buddykv-engine process attached by the segment's
// name, or a thread), watches it, and serves the control port (HELLO, STATS). Transports come from
// a factory so tests can run the whole server, engine included, on the in-memory fake network.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "buddy/kv/engine/engine_block.hpp"
#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/serving/memcached_front_end.hpp"
#include "buddy/kv/serving/placement.hpp"
#include "buddy/kv/serving/side.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/serving/store_settings.hpp"
#include "buddy/kv/serving/transport_factory.hpp"
#include "buddy/kv/serving/worker_config.hpp"
#include "buddy/kv/store/store.hpp"
#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::engine {
class EngineRuntime;
}  // namespace buddy::kv::engine

namespace buddy::kv::server {

enum class EngineMode : std::uint8_t { process, thread };

// The server's configuration: the parts' own configurations (the placement, the stores, the
// serving loops), each passed on whole to the part that reads it, and what is the server's own.
struct ServerConfig {
  serving::PlacementConfig placement;  // design, thread counts, partitions per thread, cpus
  serving::StoreSettings store;        // each side's store (host; engine for its designs)
  serving::WorkerConfig worker;        // the serving loops' knobs
  std::string bind = "127.0.0.1";
  std::uint16_t port = 7000;      // control (HELLO, STATS); 0: any free port
  std::uint16_t worker_port = 0;  // first serving port; 0: port + 1 (or any free when port is 0)
  std::size_t max_datagram = wire::kDefaultDatagram;
  EngineMode engine = EngineMode::process;
  std::string engine_binary;  // empty: buddykv-engine beside the running executable
  // A command the engine binary runs under, words split at spaces, e.g. "qemu-aarch64 -L /" for
  // an aarch64 buddykv-engine on an x86 host (docs/dpu.md); empty: the binary itself. Its first
  // word is looked up in PATH.
  std::string engine_launcher;
  std::string segment;                                // empty: buddykv-<pid>-<n>
  std::uint64_t ring_bytes = std::uint64_t{4} << 20;  // each KV queue pair ring
  std::chrono::milliseconds engine_start_timeout{20000};
  // An engine process that dies is started again (docs/kv-designs.md, "Engine restart"): up to
  // this many attempts per death, 100 ms apart and doubling; 0: never (the engine stays lost).
  // Every offloaded design restarts; in shrd and engine-only the engine's store is a named store
  // that the new engine re-attaches to (store mode only: a cache-mode engine is not restarted).
  unsigned engine_restarts = 5;
  // The memcached front end (docs/memcached.md) on this TCP port of bind; -1: off, 0: any free.
  int memcached_port = -1;
  std::size_t memcached_max_connections = 4096;
};

// One-line description of what is wrong, or empty.
std::string validate(const ServerConfig& cfg);

class Server {
 public:
  // Creates the stores, binds every port, and (offloaded designs) starts the engine and waits
  // until it serves; throws std::runtime_error with a one-line reason.
  explicit Server(ServerConfig cfg, serving::TransportFactory factory = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  void stop();  // idempotent; joins every thread and stops the engine

  std::uint16_t control_port() const { return control_->local().port; }
  // The memcached front end's TCP port (-1: off), the side it runs on (the host in cpu-only, the
  // engine in the offloaded designs: docs/memcached.md, "Where it runs") and its counters.
  int memcached_port() const noexcept {
    return memcached_ ? memcached_->port() : engine_memcached_port_;
  }
  serving::Side memcached_side() const noexcept {
    return memcached_ ? serving::Side::host : serving::Side::engine;
  }
  serving::MemcachedCounters memcached_counters() const;
  std::size_t memcached_max_value() const noexcept {
    return memcached_port() >= 0 ? serving::memcached_max_value(map_.max_datagram) : 0;
  }
  const wire::PartitionMap& map() const noexcept { return map_; }
  const ServerConfig& config() const noexcept { return cfg_; }
  const serving::Placement& placement() const noexcept { return placement_; }
  serving::Design design() const noexcept { return placement_.design; }

  // The engine: its process id (-1 without one) and, once it died or failed for good (no restart
  // left), why (else empty).
  pid_t engine_pid() const noexcept { return engine_pid_.load(); }
  std::string engine_lost() const;
  // Restarts so far, the queue pairs' epoch (1: the first engine), the last downtime (from the
  // death seen to the new engine ready) and whether the engine is down right now.
  struct EngineRestarts {
    std::uint32_t restarts = 0;
    std::uint64_t epoch = 0;
    double last_downtime_ms = 0;
    bool down = false;
  };
  EngineRestarts engine_restarts() const;
  std::string segment_name() const;
  // What this server removed from /dev/shm at start: the segments (and engine stores) that
  // killed servers of the default names left behind (docs/protocol.md, section 1).
  const std::vector<std::string>& swept() const noexcept { return swept_; }

  serving::Counters totals() const;
  double cpu_s(serving::Side side) const;  // serving threads of one side, summed
  StatsSnapshot store_stats() const;       // host and engine stores together
  // One JSON object (docs/protocol.md, "STATS"), at most max_bytes long: the per-partition
  // list, then workers from the end, are left out when the whole would not fit.
  std::string stats_json(std::size_t max_bytes = SIZE_MAX) const;
  std::string stats_text() const;  // human-readable, several lines
  // What STATS reports as "registry" (buddykv-server --registry: "ok" or "unreachable since
  // ..."); called on every STATS, from the control thread. Unset: no such member.
  void set_registry_status(std::function<std::string()> status);

 private:
  struct ThreadFigures {
    serving::Side side;
    serving::Role role;
    int port;
    int cpu;
    double cpu_s;
    serving::Counters c;
  };
  struct Figures {
    std::vector<ThreadFigures> threads;
    serving::Counters total;
    std::array<serving::Counters, 2> side;  // by serving::Side
    std::array<double, 2> cpu_s{};
  };
  Figures figures() const;
  void start_engine(const serving::TransportFactory& factory);
  void start_engine_process();
  pid_t spawn_engine();
  std::string wait_engine_ready(pid_t pid);  // empty once ready, else why not
  void watch_engine();
  void watch_loop();
  void engine_gone(const std::string& why);            // restarts it, or reports it lost
  std::string restart_engine(const std::string& why);  // empty once restarted, else why not
  void stop_engine();
  void engine_died(const std::string& why);
  void control_loop();

  ServerConfig cfg_;
  serving::Placement placement_;
  std::unique_ptr<Store> store_;  // the host store (null when the host holds no partition)
  wire::PartitionMap map_;
  std::unique_ptr<wire::BurstTransport> control_;
  std::unique_ptr<serving::ServingSide> host_;  // the host's serving threads
  std::optional<queue::KvQueue> queue_;
  engine::EngineBlock* block_ = nullptr;
  std::atomic<pid_t> engine_pid_{-1};
  std::atomic<std::int64_t> engine_attacher_pid_{0};  // the ready engine's pid, as its claim says
  std::thread watch_thread_;                          // watches the engine process and restarts it
  std::atomic<std::uint32_t> queue_epoch_{0};  // the host PEs follow it (PeWorker::follow_epoch)
  std::atomic<bool> engine_down_{false};
  std::atomic<std::uint32_t> restarts_{0};
  std::atomic<std::uint64_t> last_downtime_us_{0};
  // The figures of the engines that died (per engine thread), added to the running engine's.
  std::vector<serving::Counters> engine_carry_;
  std::vector<double> engine_carry_cpu_;
  std::unique_ptr<engine::EngineRuntime> engine_rt_;
  std::thread engine_thread_;
  std::atomic<bool> engine_thread_stop_{false};
  mutable std::mutex engine_mu_;
  std::string engine_lost_;
  std::vector<std::string> swept_;
  std::thread control_thread_;
  std::unique_ptr<serving::MemcachedFrontEnd> memcached_;  // on the host (cpu-only)
  int engine_memcached_port_ = -1;                         // the engine's (offloaded designs)
  std::thread memcached_thread_;
  std::atomic<bool> memcached_stop_{false};
  serving::SharedCounters control_counters_;  // control port: datagrams, answers, drops
  std::atomic<bool> stop_{false};
  mutable std::mutex registry_mu_;
  std::function<std::string()> registry_status_;
  bool started_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point start_time_;
};

}  // namespace buddy::kv::server
