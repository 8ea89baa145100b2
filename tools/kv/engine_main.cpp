// buddykv-engine: the engine side of an offloaded buddykv server, as its own process (on a DPU it
// would be the Arm cores' process). buddykv-server starts it with --attach NAME and stops it;
// everything it needs comes through that segment (the engine control block).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "buddy/kv/engine/engine_runtime.hpp"
#include "cli.hpp"

namespace {
std::atomic<bool> g_stop{false};
void on_term(int) {
  g_stop.store(true);
}
}  // namespace

int main(int argc, char** argv) {
  std::string name;
  double host_timeout = 10.0;
  CLI::App app{"buddykv engine: the communication engine of an offloaded buddykv server",
               "buddykv-engine"};
  app.add_option("--attach", name, "the server's segment name (buddykv-server starts this)")
      ->required();
  app.add_option("--host-timeout", host_timeout,
                 "stop when the server's heartbeat is older than this (seconds)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;

  // SIGTERM (from the server, or when the server dies) stops cleanly; Ctrl-C goes to the server,
  // which stops the engine itself.
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGINT, SIG_IGN);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &term, nullptr);

  using namespace buddy::kv;
  try {
    auto q = queue::KvQueue::attach(name);
    engine::EngineRuntime rt(q);
    rt.start();
    if (!rt.serve(g_stop, host_timeout)) {
      std::fprintf(stderr, "buddykv-engine: the server of segment %s is gone; stopped\n",
                   name.c_str());
      return 3;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-engine: %s\n", e.what());
    return 1;
  }
  return 0;
}
