// The registry's URL and a client of etcd 3.4's v3 JSON gateway over HTTP (libcurl): keys and
// values travel base64-encoded, 64-bit integers as strings. One request at a time per client
// (a mutex); every call returns a one-line error (empty: ok) and never throws for network errors.
//
//   auto url = buddy::kv::registry::parse_registry_url("etcd://127.0.0.1:2379/buddykv");
//   buddy::kv::registry::Etcd e(*url);
//   std::int64_t lease = 0;
//   e.grant(3, lease);                        // a 3 s lease
//   e.put("/buddykv/servers/0", "{...}", lease);
//   std::vector<buddy::kv::registry::Etcd::Kv> kvs; std::int64_t rev = 0;
//   e.range_prefix("/buddykv/servers/", kvs, rev);
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace buddy::kv::registry {

struct RegistryUrl {
  std::string host;
  std::uint16_t port = 0;
  std::string prefix;  // "/NAME..." (no trailing slash); server records under prefix/servers/
  std::string servers_prefix() const { return prefix + "/servers/"; }
  std::string key_of(std::uint32_t id) const { return servers_prefix() + std::to_string(id); }
  std::string text() const { return "etcd://" + host + ":" + std::to_string(port) + prefix; }
};

// "etcd://HOST:PORT/PREFIX" (PREFIX: one or more path segments of [A-Za-z0-9._-]); else the
// reason, in one line, in *why.
std::optional<RegistryUrl> parse_registry_url(const std::string& s, std::string* why);

class Etcd {
 public:
  explicit Etcd(RegistryUrl url, long timeout_ms = 1000);
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;

  struct Kv {
    std::string key, value;
    std::int64_t create_revision = 0, mod_revision = 0, lease = 0;
  };
  const RegistryUrl& url() const noexcept { return url_; }

  std::string grant(std::int64_t ttl_s, std::int64_t& lease);
  // ttl: what is left of the lease after the renewal (0: the lease had expired already).
  std::string keepalive(std::int64_t lease, std::int64_t& ttl);
  std::string revoke(std::int64_t lease);
  std::string put(std::string_view key, std::string_view value, std::int64_t lease);
  // Puts only if the key does not exist (a transaction on its create revision).
  std::string create(std::string_view key, std::string_view value, std::int64_t lease,
                     bool& created);
  std::string del(std::string_view key);
  // Every key that starts with prefix, and the store's revision at the read.
  std::string range_prefix(std::string_view prefix, std::vector<Kv>& out, std::int64_t& revision);

 private:
  // POSTs body to path; the answer's text in *reply. Error: "etcd at HOST:PORT: reason".
  std::string post(const char* path, const std::string& body, std::string& reply);

  RegistryUrl url_;
  long timeout_ms_;
  std::mutex mu_;
  void* curl_ = nullptr;  // CURL*
};

}  // namespace buddy::kv::registry
