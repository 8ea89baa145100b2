// buddykv-server --registry: the server's record (its id, control address, HELLO map, design,
// epoch, pid) registered with a kept-alive lease, and STATS' "registry" member saying whether
// etcd answers (docs/kv-cluster.md).
#pragma once

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "buddy/kv/server/server.hpp"
#include "registry_arg.hpp"

namespace buddy::tools {

#if BUDDY_HAVE_REGISTRY
class ServerRegistration {
 public:
  ServerRegistration(kv::server::Server& srv, std::unique_ptr<kv::registry::Registrar> r)
      : srv_(srv), r_(std::move(r)) {
    kv::registry::Registrar* reg = r_.get();
    srv_.set_registry_status([reg] { return reg->status(); });
  }
  ~ServerRegistration() {
    r_->stop();
    srv_.set_registry_status([] { return std::string("deregistered"); });
  }
  const std::string& key() const noexcept { return r_->key(); }

 private:
  kv::server::Server& srv_;
  std::unique_ptr<kv::registry::Registrar> r_;
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
