// The server's engine: started (a buddykv-engine process attached to the segment by name, or an
// EngineRuntime on a thread), watched from the control thread (process exit, the block's state,
// the heartbeat), reported once when lost, and stopped.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "buddy/kv/engine/engine_runtime.hpp"
#include "buddy/kv/server/server.hpp"

namespace buddy::kv::server {

using namespace engine;
using namespace serving;

namespace {
// The engine must beat at least this often once ready, or it is taken for dead.
constexpr double kEngineHeartbeatTimeoutS = 5.0;

std::string default_engine_binary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "buddykv-engine";
  return (self.parent_path() / "buddykv-engine").string();
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t j = s.find(' ', i);
    const std::size_t end = j == std::string::npos ? s.size() : j;
    if (end > i) words.push_back(s.substr(i, end - i));
    i = end;
  }
  return words;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}
}  // namespace

void Server::start_engine(const TransportFactory& factory) {
  if (cfg_.engine == EngineMode::thread) {
    try {
      engine_rt_ = std::make_unique<EngineRuntime>(*queue_, factory);
      engine_rt_->start();
    } catch (const std::exception& e) {
      engine_rt_.reset();
      throw std::runtime_error(std::string("engine: ") + e.what());
    }
    engine_thread_ = std::thread([this] { engine_rt_->serve(engine_thread_stop_); });
    return;
  }
  start_engine_process();
}

void Server::start_engine_process() {
  const pid_t pid = spawn_engine();
  if (std::string why = wait_engine_ready(pid); !why.empty()) {
    // Not a lost engine (the server never served): the reason is this server's one line,
    // thrown; stopping the engine that failed to start reports nothing more.
    {
      std::lock_guard lock(engine_mu_);
      engine_lost_ = why;
    }
    stop_engine();
    throw std::runtime_error(why);
  }
}

pid_t Server::spawn_engine() {
  const std::string bin = cfg_.engine_binary.empty() ? default_engine_binary() : cfg_.engine_binary;
  if (::access(bin.c_str(), X_OK) != 0) {
    throw std::runtime_error("engine binary " + bin +
                             " is not executable: " + std::strerror(errno));
  }
  const std::string name = cfg_.segment;
  // argv: [launcher words...] bin --attach name, built before fork (the child only execs).
  std::vector<std::string> words = split_words(cfg_.engine_launcher);
  words.insert(words.end(), {bin, "--attach", name});
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec. It dies with the server.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM for sigtimedwait
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::execvp(argv[0], const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  engine_pid_.store(pid);
  return pid;
}

std::string Server::wait_engine_ready(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + cfg_.engine_start_timeout;
  for (;;) {
    const EngineState s = block_->current();
    if (s == EngineState::ready) {
      if (block_->engine_epoch.load() != block_->epoch.load()) {
        return "engine answered epoch " + std::to_string(block_->engine_epoch.load()) +
               ", expected " + std::to_string(block_->epoch.load());
      }
      engine_attacher_pid_.store(queue_->segment().holder(qp::Side::attacher).pid);
      return {};
    }
    int status = 0;
    if (s == EngineState::failed) return "engine failed: " + block_->failure();
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      engine_pid_.store(-1);
      return "engine process " + describe_status(status) + " before it was ready";
    }
    if (stop_.load()) return "the server is stopping";
    if (std::chrono::steady_clock::now() > deadline) {
      return "engine process did not become ready within " +
             std::to_string(cfg_.engine_start_timeout.count()) + " ms";
    }
    queue_->segment().beat();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Server::stop_engine() {
  if (block_ != nullptr) block_->stop.store(1);
  if (engine_thread_.joinable()) {
    engine_thread_stop_.store(true);
    engine_thread_.join();
  }
  engine_rt_.reset();
  if (const pid_t pid = engine_pid_.load(); pid > 0) {
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 500 && (r = ::waitpid(pid, &status, WNOHANG)) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (r == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      engine_died("engine process did not stop within 5 s and was killed");
    } else if (r == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
               engine_lost().empty()) {
      engine_died("engine process " + describe_status(status) + " while stopping");
    }
    engine_pid_.store(-1);
  }
}

void Server::engine_died(const std::string& why) {
  std::lock_guard lock(engine_mu_);
  if (!engine_lost_.empty()) return;
  engine_lost_ = why;
  std::string ports;
  for (const ThreadPlan& tp : placement_.threads) {
    if (tp.side == Side::engine && tp.port >= 0) {
      if (!ports.empty()) ports += ',';
      ports += std::to_string(map_.ports[tp.port]);
    }
  }
  const StatsSnapshot st = store_ ? store_->stats() : StatsSnapshot{};
  std::fprintf(stderr,
               "buddykv-server: %s; engine ports %s no longer answer; the host store keeps its "
               "%llu items\n",
               why.c_str(), ports.c_str(), static_cast<unsigned long long>(st.items));
}

Server::EngineRestarts Server::engine_restarts() const {
  EngineRestarts r;
  r.restarts = restarts_.load();
  r.epoch = block_ != nullptr ? block_->epoch.load() : 0;
  r.last_downtime_ms = static_cast<double>(last_downtime_us_.load()) / 1e3;
  r.down = engine_down_.load();
  return r;
}

void Server::engine_gone(const std::string& why) {
  // Only an engine process restarts. Its own store (shrd, engine-only) is a named store that
  // outlives it (store mode); a cache-mode store is in the engine process and went with it.
  if (stop_.load() || cfg_.engine != EngineMode::process || cfg_.engine_restarts == 0) {
    engine_died(why);
  } else if (!placement_.partitions_on(Side::engine).empty() && cfg_.store.mode != Mode::store) {
    engine_died(why +
                "; not restarted: its cache was in the engine process (only a store-mode "
                "store is kept in a named store)");
  } else if (std::string failed = restart_engine(why); !failed.empty() && !stop_.load()) {
    engine_died(why + "; not restarted: " + failed);
  }
}

std::string Server::restart_engine(const std::string& why) {
  const auto t0 = std::chrono::steady_clock::now();
  engine_down_.store(true);
  // The dead engine must be gone for good before its pairs are emptied: a hung one is killed.
  if (const pid_t pid = engine_pid_.load(); pid > 0) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    engine_pid_.store(-1);
  }
  std::uint32_t epoch = queue_epoch_.load() + 1;
  std::fprintf(stderr, "buddykv-server: %s; restarting it (queue pairs' epoch %u -> %u)\n",
               why.c_str(), epoch - 1, epoch);
  {
    // Its figures are carried over; its slots start again from 0 for the next engine.
    std::lock_guard lock(engine_mu_);
    for (std::size_t k = 0; k < engine_carry_.size(); ++k) {
      engine_carry_[k] += block_->threads[k].counters.read();
      engine_carry_cpu_[k] += static_cast<double>(block_->threads[k].cpu_ns.load()) / 1e9;
      block_->threads[k].counters.publish(Counters{});
      block_->threads[k].cpu_ns.store(0);
    }
  }
  // The same ports again: the plan's ports become the ones the dead engine served.
  std::size_t k = 0;
  for (const ThreadPlan& tp : placement_.threads) {
    if (tp.side == Side::engine) block_->plan.ports[k++] = map_.ports[tp.port];
  }
  // The memcached front end the engine runs: its TCP port again too (its connections died with
  // the engine; memcached clients reconnect). Its counters start again from 0.
  if (engine_memcached_port_ > 0) block_->memcached.port = engine_memcached_port_;
  std::string last;
  auto pause = std::chrono::milliseconds(100);
  for (unsigned attempt = 1; attempt <= cfg_.engine_restarts && !stop_.load(); ++attempt) {
    // Every host PE empties its pairs (what the dead engine, or a failed attempt, published or
    // half wrote is never read) and drops what it owed: never answered, so resent by clients.
    if (attempt > 1) ++epoch;
    queue_epoch_.store(epoch);
    const auto reset_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!host_->queues_at(epoch)) {
      if (stop_.load() || std::chrono::steady_clock::now() > reset_deadline) {
        engine_down_.store(false);
        return "the host's processing engines did not empty their queue pairs";
      }
      queue_->segment().beat();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    block_->rearm(epoch);
    try {
      last = wait_engine_ready(spawn_engine());
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (last.empty()) {
      const auto down = std::chrono::steady_clock::now() - t0;
      last_downtime_us_.store(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(down).count()));
      restarts_.fetch_add(1);
      engine_down_.store(false);
      std::fprintf(stderr,
                   "buddykv-server: engine restart %u/%u: process %d ready, epoch %u, down %.1f "
                   "ms\n",
                   attempt, cfg_.engine_restarts, static_cast<int>(engine_pid_.load()), epoch,
                   std::chrono::duration<double, std::milli>(down).count());
      return {};
    }
    std::fprintf(stderr, "buddykv-server: engine restart %u/%u failed: %s\n", attempt,
                 cfg_.engine_restarts, last.c_str());
    if (const pid_t pid = engine_pid_.load(); pid > 0) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      engine_pid_.store(-1);
    }
    for (auto until = std::chrono::steady_clock::now() + pause;
         std::chrono::steady_clock::now() < until && !stop_.load();) {
      queue_->segment().beat();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
  engine_down_.store(false);
  return std::to_string(cfg_.engine_restarts) + " attempts failed, the last: " + last;
}

std::string Server::engine_lost() const {
  std::lock_guard lock(engine_mu_);
  return engine_lost_;
}

void Server::watch_loop() {
  while (!stop_.load()) {
    watch_engine();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Server::watch_engine() {
  if (block_ == nullptr || !engine_lost().empty()) return;
  queue_->segment().beat();
  const qp::Segment& seg = queue_->segment();
  // Looked at before waitpid: an engine process that dies after this look is reaped below (or in
  // the next round) and described by its exit status, never as merely gone.
  const bool attached = seg.peer_alive();
  if (const pid_t pid = engine_pid_.load(); pid > 0) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      engine_pid_.store(-1);
      engine_gone("engine process " + describe_status(status));
      return;
    }
  }
  const EngineState s = block_->current();
  if (s == EngineState::failed) {
    engine_gone("engine failed: " + block_->failure());
  } else if (s == EngineState::exited) {
    engine_gone("engine exited (it saw the host as dead)");
  } else if (!attached) {
    engine_gone("engine process " + std::to_string(engine_attacher_pid_.load()) + " is gone");
  } else if (std::chrono::duration<double>(seg.peer_heartbeat_age()).count() >
             kEngineHeartbeatTimeoutS) {
    engine_gone("engine stopped beating for " + std::to_string(kEngineHeartbeatTimeoutS) + " s");
  }
}

}  // namespace buddy::kv::server
