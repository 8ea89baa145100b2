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
  engine_pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + cfg_.engine_start_timeout;
  for (;;) {
    const EngineState s = block_->current();
    if (s == EngineState::ready) return;
    int status = 0;
    std::string why;
    if (s == EngineState::failed) {
      why = "engine failed: " + block_->failure();
    } else if (::waitpid(pid, &status, WNOHANG) == pid) {
      engine_pid_ = -1;
      why = "engine process " + describe_status(status) + " before it was ready";
    } else if (std::chrono::steady_clock::now() > deadline) {
      why = "engine process did not become ready within " +
            std::to_string(cfg_.engine_start_timeout.count()) + " ms";
    }
    if (!why.empty()) {
      // Not a lost engine (the server never served): the reason is this server's one line,
      // thrown; stopping the engine that failed to start reports nothing more.
      {
        std::lock_guard lock(engine_mu_);
        engine_lost_ = why;
      }
      stop_engine();
      throw std::runtime_error(why);
    }
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
  if (engine_pid_ > 0) {
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 500 && (r = ::waitpid(engine_pid_, &status, WNOHANG)) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (r == 0) {
      ::kill(engine_pid_, SIGKILL);
      ::waitpid(engine_pid_, &status, 0);
      engine_died("engine process did not stop within 5 s and was killed");
    } else if (r == engine_pid_ && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
               engine_lost().empty()) {
      engine_died("engine process " + describe_status(status) + " while stopping");
    }
    engine_pid_ = -1;
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

std::string Server::engine_lost() const {
  std::lock_guard lock(engine_mu_);
  return engine_lost_;
}

void Server::watch_engine() {
  if (block_ == nullptr || !engine_lost().empty()) return;
  queue_->segment().beat();
  const qp::Segment& seg = queue_->segment();
  // Looked at before waitpid: an engine process that dies after this look is reaped below (or in
  // the next round) and described by its exit status, never as merely gone.
  const bool attached = seg.peer_alive();
  if (engine_pid_ > 0) {
    int status = 0;
    if (::waitpid(engine_pid_, &status, WNOHANG) == engine_pid_) {
      engine_pid_ = -1;
      engine_died("engine process " + describe_status(status));
      return;
    }
  }
  const EngineState s = block_->current();
  if (s == EngineState::failed) {
    engine_died("engine failed: " + block_->failure());
  } else if (s == EngineState::exited) {
    engine_died("engine exited (it saw the host as dead)");
  } else if (!attached) {
    engine_died("engine process " + std::to_string(engine_attacher_pid_) + " is gone");
  } else if (std::chrono::duration<double>(seg.peer_heartbeat_age()).count() >
             kEngineHeartbeatTimeoutS) {
    engine_died("engine stopped beating for " + std::to_string(kEngineHeartbeatTimeoutS) + " s");
  }
}

}  // namespace buddy::kv::server
