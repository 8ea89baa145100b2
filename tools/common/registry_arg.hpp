// --registry etcd://HOST:PORT/PREFIX for the kv tools (docs/kv-cluster.md): parsing, a server's
// registration, and a client's Membership that follows the registry (a registry::Watcher seen
// as kv::Membership). In a tree built without the registry part (an engine-side cross tree, no
// libcurl), --registry is refused in one line.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "buddy/kv/client/cluster_client.hpp"
#if BUDDY_HAVE_REGISTRY
#include "buddy/kv/registry/registrar.hpp"
#include "buddy/kv/registry/watcher.hpp"
#endif

namespace buddy::kv::server {
class Server;
}

namespace buddy::tools {

#if BUDDY_HAVE_REGISTRY
using RegistryArg = kv::registry::RegistryUrl;

inline std::optional<RegistryArg> parse_registry_arg(const std::string& s, std::string* why) {
  return kv::registry::parse_registry_url(s, why);
}

// A registry::Watcher as the ClusterClient's membership: every record's id and control address.
class RegistryMembership final : public kv::Membership {
 public:
  explicit RegistryMembership(const RegistryArg& url,
                              std::chrono::milliseconds period = std::chrono::milliseconds(250))
      : w_(url, period) {}
  std::uint64_t generation() const noexcept override { return w_.generation(); }
  std::vector<kv::ServerAddress> servers() const override {
    std::vector<kv::ServerAddress> out;
    for (const auto& r : w_.servers()) out.push_back({r.id, r.control});
    return out;
  }
  const kv::registry::Watcher& watcher() const noexcept { return w_; }

 private:
  kv::registry::Watcher w_;
};

// Throws std::runtime_error (one line) when etcd does not answer.
inline std::shared_ptr<RegistryMembership> follow_registry(const RegistryArg& url) {
  return std::make_shared<RegistryMembership>(url);
}
#else
struct RegistryArg {};
inline std::optional<RegistryArg> parse_registry_arg(const std::string&, std::string* why) {
  *why = "this build has no etcd registry (an engine-side tree, built without libcurl)";
  return std::nullopt;
}
inline std::shared_ptr<kv::Membership> follow_registry(const RegistryArg&) {
  return nullptr;
}
#endif

}  // namespace buddy::tools
