// A server's registration (docs/kv-cluster.md): a lease of ttl seconds, the record put under
// PREFIX/servers/ID with it, and a thread that renews the lease every ttl/3. If etcd cannot be
// reached the server keeps serving and status() says since when; when etcd answers again and
// the lease had expired, a new lease is taken and the record put again. stop() (and the
// destructor) deletes the record and revokes the lease: the server leaves at once. A process
// that dies without stop() vanishes when its lease expires. set_engine() changes the record's
// engine state; the thread puts the record again at once (and again until etcd takes it).
//
//   Registrar r(*url, record, /*auto_id=*/false, /*ttl_s=*/3);   // throws one line: exit 2
//   r.status();   // "ok" or "unreachable since 2026-12-03T11:02:07Z: etcd at ...: ..."
//   r.set_engine("restarting", 2);   // the record says so within a round trip to etcd
//   r.stop();
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "buddy/kv/registry/etcd.hpp"
#include "buddy/kv/registry/record.hpp"

namespace buddy::kv::registry {

class Registrar {
 public:
  // auto_id: take the smallest id no live server has (rec.id ignored); else rec.id, refused
  // (std::runtime_error) when a live server already holds it. etcd unreachable: runtime_error.
  Registrar(const RegistryUrl& url, ServerRecord rec, bool auto_id, std::int64_t ttl_s = 3);
  ~Registrar();
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  std::uint32_t id() const noexcept { return rec_.id; }
  const std::string& key() const noexcept { return key_; }
  std::string status() const;
  // The engine's state and epoch in the record (record.hpp); a change is put at once.
  void set_engine(const std::string& state, std::uint32_t epoch);
  ServerRecord record() const;
  void stop();

 private:
  void keepalive_loop();
  std::string register_once();  // a new lease and the record (after expiry)

  Etcd etcd_;
  ServerRecord rec_;
  std::string key_;
  std::int64_t ttl_s_;
  std::int64_t lease_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool dirty_ = false;  // rec_ changed: put it again
  std::string status_ = "ok";
  std::thread thread_;
};

// "2026-12-03T11:02:07Z"
std::string utc_now();

}  // namespace buddy::kv::registry
