// buddykv-server: serves the buddykv datagram protocol on UDP (docs/protocol.md section 2).
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "buddy/kv/server/server.hpp"
#include "cli.hpp"
#include "cpu_list.hpp"
#include "server_registration.hpp"
#include "size_arg.hpp"

using namespace buddy::kv;

int main(int argc, char** argv) {
  server::ServerConfig cfg;
  std::string memory = "256M", mode = "store", cpus, engine_cpus;
  bool engine_process = false, engine_in_process = false;
  double stats_interval = 0;
  bool json = false;
  std::string port_file;
  std::size_t max_datagram = cfg.max_datagram;

  CLI::App app{"buddykv server: batched UDP key-value service (MICA-style, DPU-KV designs)",
               "buddykv-server"};
  app.footer(
      "Exit status: 0 stopped by SIGINT/SIGTERM, 1 could not start (a port in use, the engine\n"
      "failed, ...), 2 bad arguments, 3 stopped after its engine was lost (docs/tools.md).");
  // The design is parsed here once, by serving's own names; the rest of the server sees the enum.
  std::string design_names;
  for (std::size_t i = 0; i < serving::kDesigns; ++i) {
    design_names += (i == 0 ? "" : ", ") + std::string(to_string(static_cast<serving::Design>(i)));
  }
  const CLI::Validator design_name(
      [design_names](std::string& s) -> std::string {
        const auto d = serving::parse_design(s);
        if (!d) return "'" + s + "' is not one of " + design_names;
        s = std::to_string(static_cast<int>(*d));  // what CLI11 then stores into the enum
        return {};
      },
      "DESIGN");
  app.add_option("--design", cfg.placement.design,
                 "placement of the communication (CE) and processing (PE) engines: " +
                     design_names + " (docs/kv-designs.md; default cpu-only)")
      ->transform(design_name);
  app.add_option("--bind", cfg.bind, "IPv4 address to serve on")->capture_default_str();
  app.add_option("--port", cfg.port,
                 "control port (HELLO, STATS); worker threads serve port+1, port+2, ...")
      ->capture_default_str();
  app.add_option("--threads,--host-threads", cfg.placement.host_threads,
                 "host threads serving clients (cpu-only, shrd; each owns its partitions)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--engine-threads", cfg.placement.engine_threads,
                 "engine threads (CEs for lat/sav/dual, full workers for engine-only/shrd); lat "
                 "also gets as many host PE threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--spare-threads", cfg.placement.spare_threads,
                 "dual: spare host threads serving clients on their own ports")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--partitions-per-thread", cfg.placement.partitions_per_thread,
                 "store partitions per thread")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--memory", memory, "store memory budget (e.g. 256M, 2G)")
      ->check([](const std::string& s) { return buddy::tools::check_size(s); })
      ->capture_default_str();
  app.add_option("--expected-items", cfg.store.expected_items, "size the index for this many items")
      ->capture_default_str();
  app.add_option("--mode", mode, "store: lossless, full store answers out_of_memory; cache: evicts")
      ->check(CLI::IsMember({"store", "cache"}))
      ->capture_default_str();
  app.add_option("--cpus,--host-cpus", cpus, "pin host threads to these cpus, e.g. 0 or 0,1 or 0-3")
      ->check(buddy::tools::check_cpu_list_not_empty);
  app.add_option("--engine-cpus", engine_cpus, "pin engine threads to these cpus")
      ->check(buddy::tools::check_cpu_list_not_empty);
  auto* ep = app.add_flag("--engine-process", engine_process,
                          "run the engine as a buddykv-engine process attached to the server's "
                          "segment by name (the default)");
  app.add_flag("--engine-in-process", engine_in_process,
               "run the engine as threads of this process (same code, same segment)")
      ->excludes(ep);
  app.add_option("--engine-binary", cfg.engine_binary,
                 "the buddykv-engine to start (default: the one beside buddykv-server)");
  app.add_option("--engine-launcher", cfg.engine_launcher,
                 "run the engine binary under this command, e.g. \"qemu-aarch64 -L /\" for an "
                 "aarch64 buddykv-engine on an x86 host (docs/dpu.md)");
  app.add_option("--segment", cfg.segment, "name of the shared segment (default: buddykv-PID-N)");
  app.add_option("--engine-restarts", cfg.engine_restarts,
                 "attempts to start a new engine process when one dies (lat, sav, dual: their "
                 "store is the host's), 100 ms apart and doubling; 0: a dead engine stays lost")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  app.add_option("--pipeline", cfg.worker.pipeline, "CE: bursts in flight to the PE at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--memcached-port", cfg.memcached_port,
                 "serve the memcached text and meta protocols on this TCP port of --bind "
                 "(0: any free port; default: off)");
  app.add_option("--memcached-connections", cfg.memcached_max_connections,
                 "memcached connections open at once; more are answered and closed")
      ->capture_default_str();
  app.add_option("--max-datagram", max_datagram, "largest datagram accepted and sent (bytes)")
      ->check(CLI::Range(std::size_t{128}, std::size_t{65507}))
      ->capture_default_str();
  app.add_option("--burst", cfg.worker.burst, "datagrams per receive burst")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--stats-interval", stats_interval, "print a stats line every S seconds (0: off)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--json", json, "print the final statistics as one JSON object");
  app.add_option("--port-file", port_file,
                 "once serving, write the control port to this file (for scripts using --port 0)");
  std::string registry;
  int server_id = -1;
  int registry_ttl = 3;
  app.add_option("--registry", registry,
                 "register in etcd as etcd://HOST:PORT/PREFIX (docs/kv-cluster.md), with a lease "
                 "kept alive; deregisters on SIGINT/SIGTERM");
  app.add_option("--id", server_id,
                 "this server's id in the registry, 0..1023 (default: the smallest free one)")
      ->check(CLI::Range(0, 1023));
  app.add_option("--registry-ttl", registry_ttl,
                 "seconds the registry keeps a server that stopped renewing (crashed)")
      ->check(CLI::Range(2, 60))
      ->capture_default_str();
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;
  std::optional<buddy::tools::RegistryArg> reg;
  if (!registry.empty()) {
    std::string why;
    reg = buddy::tools::parse_registry_arg(registry, &why);
    if (!reg) {
      std::fprintf(stderr, "buddykv-server: --registry: %s\n", why.c_str());
      return 2;
    }
  } else if (server_id >= 0) {
    std::fprintf(stderr, "buddykv-server: --id is the id in a --registry; give --registry too\n");
    return 2;
  }

  cfg.store.memory_bytes = *buddy::tools::parse_size(memory);
  cfg.store.mode = mode == "cache" ? Mode::cache : Mode::store;
  cfg.max_datagram = max_datagram;
  cfg.engine = engine_in_process ? server::EngineMode::thread : server::EngineMode::process;
  // The host cpu list's message names the flag as given (--cpus or its alias --host-cpus).
  const char* host_flag = "--cpus";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--host-cpus" || a.starts_with("--host-cpus=")) host_flag = "--host-cpus";
    if (a == "--cpus" || a.starts_with("--cpus=")) host_flag = "--cpus";
  }
  for (auto [flag, text, out] :
       {std::tuple{host_flag, &cpus, &cfg.placement.host_cpus},
        std::tuple{"--engine-cpus", &engine_cpus, &cfg.placement.engine_cpus}}) {
    if (std::string why = buddy::tools::parse_usable_cpus(flag, *text, *out); !why.empty()) {
      std::fprintf(stderr, "buddykv-server: %s\n", why.c_str());
      return 2;
    }
  }
  if (app.count("--segment") > 0 && cfg.segment.empty()) {
    std::fprintf(stderr,
                 "buddykv-server: --segment: an empty name (leave it out for the default "
                 "buddykv-PID-N)\n");
    return 2;
  }
  if (std::string why = server::validate(cfg); !why.empty()) {
    std::fprintf(stderr, "buddykv-server: %s\n", why.c_str());
    return 2;
  }

  // A --port-file that cannot be written is found now, before anything starts: one line.
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "buddykv-server: --port-file %s: cannot write %s: %s\n",
                   port_file.c_str(), tmp.c_str(), std::strerror(errno));
      return 2;
    }
    std::fclose(f);
    std::remove(tmp.c_str());
  }

  // SIGINT/SIGTERM are taken synchronously by the main thread; every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::unique_ptr<server::Server> srv;
  try {
    srv = std::make_unique<server::Server>(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-server: %s\n", e.what());
    return 1;
  }
  srv->start();
  std::unique_ptr<buddy::tools::ServerRegistration> registration;
  if (reg) {
    std::string why;
    registration = buddy::tools::register_server(*reg, *srv, server_id, registry_ttl, &why);
    if (!registration) {
      std::fprintf(stderr, "buddykv-server: --registry: %s\n", why.c_str());
      srv->stop();
      return 2;
    }
  }

  std::string engine;
  if (srv->engine_pid() > 0) {
    engine = " (engine process ";
    engine += std::to_string(srv->engine_pid());
    engine += ')';
  }
  std::string ports;
  for (auto p : srv->map().ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  std::fprintf(stderr,
               "buddykv-server: %s, %zu host and %zu engine thread(s)%s, %u partition(s), %s "
               "mode, %s memory; control %s:%u, serving ports %s\n",
               serving::to_string(cfg.placement.design),
               srv->placement().count(serving::Side::host),
               srv->placement().count(serving::Side::engine), engine.c_str(), srv->map().partitions,
               mode.c_str(), memory.c_str(), cfg.bind.c_str(),
               static_cast<unsigned>(srv->control_port()), ports.c_str());
  if (const auto& swept = srv->swept(); !swept.empty()) {
    std::string names;
    for (std::size_t i = 0; i < swept.size() && i < 4; ++i) names += (i ? ", " : "") + swept[i];
    if (swept.size() > 4) names += ", ...";
    std::fprintf(stderr,
                 "buddykv-server: removed %zu stale segment(s) of dead servers from "
                 "/dev/shm: %s\n",
                 swept.size(), names.c_str());
  }
  if (srv->memcached_port() >= 0)
    std::fprintf(stderr, "buddykv-server: memcached protocol on %s:%d (values up to %zu bytes)\n",
                 cfg.bind.c_str(), srv->memcached_port(), srv->memcached_max_value());

  if (registration) {
    std::fprintf(stderr, "buddykv-server: registered as %s\n", registration->key().c_str());
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr || std::fprintf(f, "%u\n", static_cast<unsigned>(srv->control_port())) < 0 ||
        std::fclose(f) != 0 || std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      std::fprintf(stderr, "buddykv-server: cannot write --port-file %s\n", port_file.c_str());
      return 1;
    }
  }

  std::uint64_t last = 0;
  for (;;) {
    timespec ts{};
    const double wait = stats_interval > 0 ? stats_interval : 3600.0;
    ts.tv_sec = static_cast<time_t>(wait);
    ts.tv_nsec = static_cast<long>((wait - static_cast<double>(ts.tv_sec)) * 1e9);
    const int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (stats_interval > 0) {
      const auto t = srv->totals();
      std::fprintf(stderr, "buddykv-server: %.3f Mreq/s, %llu requests, %llu dropped\n",
                   static_cast<double>(t.requests - last) / stats_interval / 1e6,
                   static_cast<unsigned long long>(t.requests),
                   static_cast<unsigned long long>(t.dropped()));
      last = t.requests;
    }
  }
  registration.reset();  // deregisters first: clients stop sending here
  srv->stop();
  if (json) {
    std::printf("%s\n", srv->stats_json().c_str());
  } else {
    std::printf("%s", srv->stats_text().c_str());
  }
  // A lost engine was reported when it happened; the exit status says so too.
  return srv->engine_lost().empty() ? 0 : 3;
}
