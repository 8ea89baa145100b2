// buddykv-server --registry: the server's record (its id, control address, HELLO map, design,
// epoch, pid, and the engine's state and epoch) registered with a kept-alive lease, and STATS'
// "registry" member saying whether etcd answers (docs/kv-cluster.md). A thread looks at the
// engine every 10 ms: when it goes down, comes back or is lost, the record is put again.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "buddy/kv/server/server.hpp"
#include "registry_arg.hpp"

namespace buddy::tools {

// The record's engine state (record.hpp): "" without an engine, else "up", "restarting", "lost".
inline std::string engine_state(const kv::server::Server& srv) {
  if (!kv::serving::offloaded(srv.design())) return "";
  if (!srv.engine_lost().empty()) return "lost";
  return srv.engine_restarts().down ? "restarting" : "up";
}

#if BUDDY_HAVE_REGISTRY
class ServerRegistration {
 public:
  ServerRegistration(kv::server::Server& srv, std::unique_ptr<kv::registry::Registrar> r)
      : srv_(srv), r_(std::move(r)) {
    kv::registry::Registrar* reg = r_.get();
    srv_.set_registry_status([reg] { return reg->status(); });
    if (kv::serving::offloaded(srv_.design())) {
      watch_ = std::thread([this] {
        while (!stop_.load()) {
          r_->set_engine(engine_state(srv_),
                         static_cast<std::uint32_t>(srv_.engine_restarts().epoch));
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      });
    }
  }
  ~ServerRegistration() {
    stop_.store(true);
    if (watch_.joinable()) watch_.join();
    r_->stop();
    srv_.set_registry_status([] { return std::string("deregistered"); });
  }
  const std::string& key() const noexcept { return r_->key(); }

 private:
  kv::server::Server& srv_;
  std::unique_ptr<kv::registry::Registrar> r_;
  std::atomic<bool> stop_{false};
  std::thread watch_;
};

inline std::unique_ptr<ServerRegistration> register_server(const RegistryArg& url,
                                                           kv::server::Server& srv, int id,
                                                           int ttl_s, std::string* why) {
  kv::registry::ServerRecord rec;
  rec.id = id < 0 ? 0 : static_cast<std::uint32_t>(id);
  rec.control = srv.config().bind + ":" + std::to_string(srv.control_port());
  rec.ports = srv.map().ports;
  rec.partitions = srv.map().partitions;
  rec.owner = srv.map().owner;
  rec.design = kv::serving::to_string(srv.design());
  rec.epoch = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  rec.pid = ::getpid();
  rec.engine = engine_state(srv);
  rec.engine_epoch = static_cast<std::uint32_t>(srv.engine_restarts().epoch);
  try {
    return std::make_unique<ServerRegistration>(
        srv, std::make_unique<kv::registry::Registrar>(url, rec, id < 0, ttl_s));
  } catch (const std::exception& e) {
    *why = e.what();
    return nullptr;
  }
}
#else
struct ServerRegistration {
  const std::string& key() const noexcept { return k; }
  std::string k;
};
inline std::unique_ptr<ServerRegistration> register_server(const RegistryArg&, kv::server::Server&,
                                                           int, int, std::string* why) {
  *why = "this build has no etcd registry";
  return nullptr;
}
#endif

}  // namespace buddy::tools
