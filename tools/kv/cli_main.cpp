// buddykv-cli: one request to a buddykv server, for humans and scripts.
//   buddykv-cli --server 127.0.0.1:7000 set KEY VALUE | get KEY | del KEY | stats
//   buddykv-cli --servers A,B,C ... or --registry etcd://HOST:PORT/PREFIX ...: the key's owner
//   among many servers (docs/kv-cluster.md); stats prints one line per server.
// Exit status: 0 ok, 1 not found / error answer / no answer, 2 bad arguments.
#include <cstdio>
#include <memory>
#include <string>

#include "buddy/kv/client/client.hpp"
#include "buddy/kv/client/cluster_client.hpp"
#include "cli.hpp"
#include "registry_arg.hpp"

using namespace buddy::kv;

int main(int argc, char** argv) {
  ClientConfig cfg;
  std::string key, value;
  int timeout_ms = 200;
  CLI::App app{"buddykv command-line client", "buddykv-cli"};
  app.add_option("--server", cfg.server, "the server's control address HOST:PORT")
      ->capture_default_str();
  std::string servers, registry;
  auto* many = app.add_option("--servers", servers,
                              "many servers A,B,C (ids 0, 1, 2, ...): the key goes to its owner");
  app.add_option("--registry", registry,
                 "the servers registered in etcd at etcd://HOST:PORT/PREFIX")
      ->excludes(many);
  app.add_option("--timeout-ms", timeout_ms,
                 "retransmission timeout before a round trip is measured")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.require_subcommand(1);
  auto* get = app.add_subcommand("get", "print the value of KEY");
  get->add_option("key", key, "key")->required();
  auto* set = app.add_subcommand("set", "store VALUE under KEY");
  set->add_option("key", key, "key")->required();
  set->add_option("value", value, "value")->required();
  auto* del = app.add_subcommand("del", "delete KEY");
  del->add_option("key", key, "key")->required();
  auto* stats = app.add_subcommand("stats", "print the server's statistics (one JSON object)");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;
  cfg.timeout = std::chrono::milliseconds(timeout_ms);
  cfg.window = 1;
  cfg.max_retries = 5;
  cfg.give_up = std::chrono::milliseconds(0);  // one request: 5 retransmissions, then say so
  try {
    std::unique_ptr<Client> one;
    std::unique_ptr<ClusterClient> cluster;
    if (!servers.empty() || !registry.empty()) {
      ClusterConfig cc;
      cc.client = cfg;
      if (!registry.empty()) {
        std::string why;
        const auto url = buddy::tools::parse_registry_arg(registry, &why);
        if (!url) {
          std::fprintf(stderr, "buddykv-cli: --registry: %s\n", why.c_str());
          return 2;
        }
        try {
          cc.membership = buddy::tools::follow_registry(*url);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "buddykv-cli: --registry: %s\n", e.what());
          return 2;
        }
      } else {
        try {
          cc.servers = parse_server_list(servers);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "buddykv-cli: --servers: %s\n", e.what());
          return 2;
        }
      }
      cluster = std::make_unique<ClusterClient>(cc);
      if (cluster->servers().empty()) {
        std::fprintf(stderr, "buddykv-cli: no server answers in %s\n", registry.c_str());
        return 1;
      }
    } else {
      one = std::make_unique<Client>(cfg);
    }
    if (stats->parsed()) {
      if (one) {
        std::printf("%s\n", one->stats().c_str());
      } else {
        for (std::uint32_t id : cluster->servers().ids()) {
          std::printf("{\"server\":%u,\"stats\":%s}\n", id, cluster->stats(id).c_str());
        }
      }
      return 0;
    }
    auto run = [&](auto& c) {
      return get->parsed() ? c.get(key) : set->parsed() ? c.set(key, value) : c.del(key);
    };
    Client::Reply r = one ? run(*one) : run(*cluster);
    if (r.timed_out) {
      std::fprintf(
          stderr, "buddykv-cli: no answer from %s\n",
          one ? cfg.server.c_str() : ("server " + std::to_string(cluster->owner(key))).c_str());
      return 1;
    }
    if (r.status != wire::Status::ok) {
      std::fprintf(stderr, "buddykv-cli: %s\n", std::string(wire::to_string(r.status)).c_str());
      return 1;
    }
    if (get->parsed()) {
      std::fwrite(r.value.data(), 1, r.value.size(), stdout);
      std::fputc('\n', stdout);
    } else {
      std::printf("ok\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-cli: %s\n", e.what());
    return 1;
  }
  return 0;
}
