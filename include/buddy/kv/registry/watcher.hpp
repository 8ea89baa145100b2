// A client's view of the registry (docs/kv-cluster.md): every server record under
// PREFIX/servers/, read once at construction, then again every `period` by a thread (a range
// read with the store's revision; a change of any record bumps generation()). If etcd cannot be
// reached later, the last records stay in force and status() says since when.
//
//   Watcher w(*url);                      // throws one line when etcd does not answer
//   w.servers();                          // the records, by ascending id
//   w.generation();                       // grows at every change
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "buddy/kv/registry/etcd.hpp"
#include "buddy/kv/registry/record.hpp"

namespace buddy::kv::registry {

class Watcher {
 public:
  explicit Watcher(const RegistryUrl& url,
                   std::chrono::milliseconds period = std::chrono::milliseconds(250));
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  std::uint64_t generation() const noexcept { return gen_.load(std::memory_order_acquire); }
  std::vector<ServerRecord> servers() const;
  std::int64_t revision() const;
  std::string status() const;

 private:
  std::string read();  // one range read; updates the records when they changed
  void loop();

  Etcd etcd_;
  std::chrono::milliseconds period_;
  std::atomic<std::uint64_t> gen_{1};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<ServerRecord> servers_;
  std::vector<std::string> raw_;  // the values as read, to see changes
  std::int64_t revision_ = 0;
  std::string status_ = "ok";
  std::thread thread_;
};

}  // namespace buddy::kv::registry
