// buddykv-engine: the engine side of an offloaded buddykv server, as its own process (on a DPU it
// would be the Arm cores' process). buddykv-server starts it with --attach NAME and stops it;
// everything it needs comes through that segment (the engine control block). One engine per
// segment: it claims the segment's attacher side, and a second one is refused (exit status 4).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "buddy/kv/engine/engine_runtime.hpp"
#include "buddy/qp/error.hpp"
#include "buddy/qp/segment.hpp"
#include "cli.hpp"

namespace {
std::atomic<bool> g_stop{false};
void on_term(int) {
  g_stop.store(true);
}
// Exit statuses (also in --help and docs/kv-designs.md); 2 is a bad argument (tools::parse_args).
constexpr int kExitError = 1;          // no such segment, not a server's, a bad plan, ...
constexpr int kExitHostGone = 3;       // the server died or stopped beating
constexpr int kExitAlreadyServed = 4;  // another live engine holds the segment
}  // namespace

int main(int argc, char** argv) {
  std::string name;
  double host_timeout = 10.0;
  CLI::App app{"buddykv engine: the communication engine of an offloaded buddykv server",
               "buddykv-engine"};
  app.footer(
      "One engine per segment: a second one, while the first runs, is refused with one line.\n"
      "Exit status: 0 stopped by the server, 1 error (no such segment, not a server's, ...),\n"
      "2 bad arguments, 3 the server is gone, 4 another engine (pid named) holds the segment.");
  app.add_option("--attach", name, "the server's segment name (buddykv-server starts this)")
      ->required()
      ->check([](const std::string& s) { return buddy::qp::segment_name_error(s); });
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
  const pid_t parent = ::getppid();
  try {
    auto q = queue::KvQueue::attach(name);
    engine::EngineRuntime rt(q);
    const std::string store_name = engine::store_segment_name(name);
    rt.keep_store_in(store_name);
    if (const buddy::qp::Replaced& old = rt.claim().replaced(); old.pid != 0) {
      std::fprintf(stderr, "buddykv-engine: segment %s: replacing the engine pid %lld, %s\n",
                   name.c_str(), static_cast<long long>(old.pid),
                   old.pid_reused ? "whose pid now runs another process" : "which is gone");
    }
    try {
      rt.start();
    } catch (const std::exception& e) {
      // The reason is in the engine block, and a live server reports it as its own one line
      // ("engine failed: ..."); said here too, it would be said twice on the same terminal.
      if (!rt.claim().peer_alive()) std::fprintf(stderr, "buddykv-engine: %s\n", e.what());
      return kExitError;
    }
    if (const Store* st = rt.store(); st != nullptr && st->reattached()) {
      std::fprintf(stderr,
                   "buddykv-engine: store segment %s: re-attached (generation %llu): %llu items, "
                   "rebuilt in %.1f ms\n",
                   store_name.c_str(), static_cast<unsigned long long>(st->generation()),
                   static_cast<unsigned long long>(st->stats().items), st->attach_ms());
    }
    const bool host_alive = rt.serve(g_stop, host_timeout);
    // Nobody starts another engine for a server that died (this engine, its child, has another
    // parent then), so its engine store goes too; a live server removes it when it stops, and one
    // that merely stopped beating keeps it (it may start another engine). A SIGTERM is what
    // PR_SET_PDEATHSIG sends when the server's thread that started this engine exits: when the
    // whole server dies, this engine is first handed to one of its other threads (the same
    // parent pid) and then to another process, so the parent is watched for a while: up to 1 s,
    // since a killed server's teardown can take hundreds of ms (an ASan build's does, on a loaded
    // machine); a server whose main thread is already a zombie, its other threads still exiting,
    // is dead too (the creator's liveness check).
    const auto server_gone = [&] { return ::getppid() != parent || !rt.claim().peer_alive(); };
    for (int i = 0; g_stop.load() && !server_gone() && i < 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (server_gone()) Store::remove_segment(store_name);
    if (!host_alive) {
      std::fprintf(stderr, "buddykv-engine: the server of segment %s is gone; stopped\n",
                   name.c_str());
      return kExitHostGone;
    }
  } catch (const buddy::qp::AlreadyAttached& e) {
    std::fprintf(stderr, "buddykv-engine: %s\n", e.what());
    return kExitAlreadyServed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-engine: %s\n", e.what());
    return kExitError;
  }
  return 0;
}
