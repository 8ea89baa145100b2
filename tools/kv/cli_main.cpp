// buddykv-cli: one request to a buddykv server, for humans and scripts.
//   buddykv-cli --server 127.0.0.1:7000 set KEY VALUE | get KEY | del KEY | stats
// Exit status: 0 ok, 1 not found / error answer / no answer, 2 bad arguments.
#include <cstdio>
#include <string>

#include "buddy/kv/client/client.hpp"
#include "cli.hpp"

using namespace buddy::kv;

int main(int argc, char** argv) {
  ClientConfig cfg;
  std::string key, value;
  int timeout_ms = 200;
  CLI::App app{"buddykv command-line client", "buddykv-cli"};
  app.add_option("--server", cfg.server, "the server's control address HOST:PORT")
      ->capture_default_str();
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
    Client c(cfg);
    if (stats->parsed()) {
      std::printf("%s\n", c.stats().c_str());
      return 0;
    }
    Client::Reply r = get->parsed() ? c.get(key) : set->parsed() ? c.set(key, value) : c.del(key);
    if (r.timed_out) {
      std::fprintf(stderr, "buddykv-cli: no answer from %s\n", cfg.server.c_str());
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
