// buddykv server: the store, its partition map, the serving threads of the chosen design, and
// the control thread on the base port (HELLO, STATS). Transports come from a factory so tests can
// run the whole server on the in-memory fake network.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "buddy/kv/server/cpu_only_worker.hpp"
#include "buddy/kv/server/stats.hpp"
#include "buddy/kv/store/store.hpp"
#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::server {

struct ServerConfig {
  std::string design = "cpu-only";
  std::string bind = "127.0.0.1";
  std::uint16_t port = 7000;      // control (HELLO, STATS); 0: any free port
  std::uint16_t worker_port = 0;  // first worker port; 0: port + 1 (or any free when port is 0)
  unsigned threads = 1;
  std::uint32_t partitions_per_thread = 1;
  std::size_t memory_bytes = std::size_t{256} << 20;
  kv::Mode mode = kv::Mode::store;
  std::size_t expected_items = 0;  // sizes the index (0: from memory)
  std::vector<int> cpus;           // worker i is pinned to cpus[i % size]; empty: not pinned
  std::size_t max_datagram = wire::kDefaultDatagram;
  WorkerConfig worker;
};

// One-line description of what is wrong, or empty.
std::string validate(const ServerConfig& cfg);

using TransportFactory = std::function<std::unique_ptr<wire::BurstTransport>(std::uint16_t port)>;
TransportFactory udp_factory(const std::string& bind);

class Server {
 public:
  // Creates the store and binds every port; throws std::runtime_error with a one-line reason.
  explicit Server(ServerConfig cfg, TransportFactory factory = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  void stop();  // idempotent; joins every thread

  std::uint16_t control_port() const { return control_->local().port; }
  const wire::PartitionMap& map() const noexcept { return map_; }
  const ServerConfig& config() const noexcept { return cfg_; }

  Counters totals() const;
  std::string stats_json() const;  // one JSON object
  std::string stats_text() const;  // human-readable, several lines

 private:
  struct Worker;
  void control_loop();
  double thread_cpu_s(std::size_t worker) const;

  ServerConfig cfg_;
  std::unique_ptr<Store> store_;
  wire::PartitionMap map_;
  std::unique_ptr<wire::BurstTransport> control_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::thread control_thread_;
  std::atomic<std::uint64_t> control_drops_{0};
  std::atomic<bool> stop_{false};
  bool started_ = false;
  std::chrono::steady_clock::time_point start_time_;
};

}  // namespace buddy::kv::server
