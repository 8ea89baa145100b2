// buddy-run: starts a buddy::msg application under Open MPI's mpirun with the flags this kind
// of machine needs, so users never have to remember them:
//   buddy-run -n RANKS [--ranks-per-node K] [--routing none|nr|nlnr] [--buffer-kb N]
//             [--mode inline|offload] [--engines-per-node E] [engine options] -- APP ARGS
// It runs as root if need be (OMPI_ALLOW_RUN_AS_ROOT*), oversubscribes cores, does not bind
// ranks to cores, makes idle ranks yield (mpi_yield_when_idle), uses shared memory only
// (btl self,vader with the ob1 pml: no network needed), and exports the BUDDY_* settings to
// every rank. --dry-run prints the mpirun command instead of running it.
// Offload mode starts the buddy-engine processes in the same job (mpirun MPMD: the app ranks,
// then nodes x E engines, with nodes = ceil(RANKS / K), or 1 without --ranks-per-node), pinned
// to cores of their own when the machine has a core for every rank and engine. If a process
// dies, mpirun ends the whole job (its peers report a dead engine or rank first, one line each);
// a supervisor child of buddy-run (which gets SIGTERM if buddy-run itself is killed) waits for
// mpirun, ends any process of the job that outlived it (it is the job's
// subreaper), removes the shared-memory segments the job left behind (BUDDY_SEGMENT, set to
// buddy-msg-<buddy-run pid> unless given) and Open MPI's own (told to use the directory
// /dev/shm/<BUDDY_SEGMENT>.ompi), and exits with mpirun's status (docs/tools.md).
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "buddy/msg/transport/options.hpp"
#include "buddy/qp/segment.hpp"
#include "cli.hpp"

namespace {

// The first executable `name` on PATH (or name itself if it contains a slash).
std::optional<std::string> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

std::string quote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~") == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// buddy-engine next to this executable (or $BUDDY_ENGINE).
std::optional<std::string> find_engine() {
  if (const char* e = std::getenv("BUDDY_ENGINE"); e != nullptr && *e != '\0') {
    return find_program(e);
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return find_program("buddy-engine");
  std::string dir(self, static_cast<std::size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  return find_program(dir + "/buddy-engine");
}

pid_t child = 0;
volatile sig_atomic_t pending_signal = 0;   // a signal that came before there was a child
volatile sig_atomic_t received_signal = 0;  // the last signal forwarded (or pending)
void forward_signal(int sig) {
  received_signal = sig;
  if (child > 0) {
    ::kill(child, sig);
  } else {
    pending_signal = sig;
  }
}

// SIGTERM, SIGINT and SIGHUP go on to `child` (or wait in pending_signal until there is one).
void forward_signals() {
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
}

// Forks a child that gets SIGTERM when this process dies, however it dies (PR_SET_PDEATHSIG;
// a child whose parent died before that exits at once);
// returns its pid (0 in the child, -1 on failure).
pid_t fork_bound_child() {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (::getppid() != parent) ::_exit(128 + SIGTERM);  // the parent died before the prctl
  }
  return pid;
}

// A job ended by a signal sent to buddy-run (SIGTERM, SIGINT, SIGHUP, forwarded to mpirun) exits
// 128 + that signal, as a killed process would, whatever status mpirun chose on the way out.
int exit_status(int status) {
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (received_signal != 0 && !ok) return 128 + received_signal;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// The processes whose parent is this one (with PR_SET_CHILD_SUBREAPER: every orphan of the job).
std::vector<pid_t> own_children() {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  const pid_t self = ::getpid();
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const std::string stat = "/proc/" + std::string(e->d_name) + "/stat";
    FILE* f = std::fopen(stat.c_str(), "r");
    if (f == nullptr) continue;
    char buf[512];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
    const char* close = std::strrchr(buf, ')');
    char state = 0;
    long ppid = 0;
    if (close != nullptr && std::sscanf(close + 1, " %c %ld", &state, &ppid) == 2 && ppid == self) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(d);
  return pids;
}

// Ends what mpirun left behind: processes of the job that outlived it (buddy-run is their
// subreaper, so they are its children now) get SIGTERM, then SIGKILL after a second, and are
// reaped. Returns how many there were.
std::size_t end_leftovers() {
  std::vector<pid_t> left = own_children();
  if (left.empty()) return 0;
  for (pid_t p : left) ::kill(p, SIGTERM);
  const std::size_t count = left.size();
  for (int i = 0; i < 100 && !left.empty(); ++i) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    left = own_children();
    if (!left.empty()) ::usleep(10'000);
  }
  for (pid_t p : left) ::kill(p, SIGKILL);
  while (::waitpid(-1, nullptr, 0) > 0) {
  }
  return count;
}

// Removes a directory and what it holds (one level: Open MPI's shared-memory backing files).
void remove_dir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

// Offload mode: runs mpirun as a child, then ends any process of the job that outlived it and
// removes the segments of ranks that did not finish cleanly (killed or aborted processes leave
// them in /dev/shm) and Open MPI's own shared-memory files (in `shm_dir`, which the job was
// told to use). Returns the exit status.
int supervise(const std::string& mpirun, std::vector<char*>& argv, const std::string& prefix,
              int ranks, const std::string& shm_dir) {
  // Orphans of the job (an engine whose mpirun died first) become our children, not init's.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  forward_signals();
  child = fork_bound_child();
  if (child < 0) {
    std::fprintf(stderr, "buddy-run: fork: %s\n", std::strerror(errno));
    return 127;
  }
  if (child == 0) {
    ::execv(mpirun.c_str(), argv.data());
    std::fprintf(stderr, "buddy-run: cannot run %s: %s\n", mpirun.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  if (pending_signal != 0) ::kill(child, pending_signal);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  child = 0;
  if (const std::size_t n = end_leftovers(); n > 0) {
    std::fprintf(stderr, "buddy-run: ended %zu process(es) of the job that outlived mpirun\n", n);
  }
  for (int r = 0; r < ranks; ++r) {
    buddy::qp::Segment::remove(prefix + ".r" + std::to_string(r));
  }
  remove_dir(shm_dir);
  return exit_status(status);
}

// Offload mode, as the user's process sees it: supervise() runs in a child of its own, which
// gets SIGTERM when this process dies, even by SIGKILL (no handler of ours runs then), and so
// still ends the job and removes what it left. This process forwards signals to it and exits
// with its status.
int run_supervised(const std::string& mpirun, std::vector<char*>& argv, const std::string& prefix,
                   int ranks, const std::string& shm_dir) {
  forward_signals();
  child = fork_bound_child();
  if (child < 0) {
    std::fprintf(stderr, "buddy-run: fork: %s\n", std::strerror(errno));
    remove_dir(shm_dir);
    return 127;
  }
  if (child == 0) {
    std::fflush(nullptr);
    const int rc = supervise(mpirun, argv, prefix, ranks, shm_dir);
    std::fflush(nullptr);
    ::_exit(rc);
  }
  if (pending_signal != 0) ::kill(child, pending_signal);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return exit_status(status);
}

// The cpus this process may run on, in order.
std::vector<int> usable_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Runs a buddy::msg application under mpirun with the right flags for this machine.\n"
      "usage: buddy-run -n RANKS [options] -- APP [ARGS...]",
      "buddy-run"};
  int ranks = 0;
  int ranks_per_node = 0;
  std::string routing;
  int buffer_kb = 0;
  bool dry_run = false;
  std::string mode;
  int engines_per_node = 0;
  int ring_kb = 0;
  int engine_buffer_kb = 0;
  int engine_max_sends = 0;
  int engine_threads = 0;
  bool engine_stats = false;
  std::vector<std::string> extra_mpirun;
  std::vector<std::string> command;
  app.add_option("-n,--ranks", ranks, "number of ranks")->required()->check(CLI::Range(1, 4096));
  app.add_option("--ranks-per-node", ranks_per_node,
                 "treat each K consecutive ranks as one node (BUDDY_RANKS_PER_NODE)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--routing", routing, "message routing (BUDDY_ROUTING)")
      ->check(CLI::IsMember({"none", "nr", "nlnr"}));
  app.add_option("--buffer-kb", buffer_kb, "send buffer budget per rank in KiB (BUDDY_BUFFER_KB)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--mode", mode,
                 "inline: ranks route messages; offload: buddy-engines do (BUDDY_MODE)")
      ->check(CLI::IsMember({"inline", "offload"}));
  app.add_option("--engines-per-node", engines_per_node,
                 "offload: engines per node (BUDDY_ENGINES_PER_NODE, default 1)")
      ->check(CLI::Range(1, 64));
  app.add_option("--ring-kb", ring_kb,
                 "offload: KiB of each rank's outbound/inbound ring (BUDDY_RING_KB)")
      ->check(CLI::Range(16, 1 << 20));
  app.add_option("--engine-buffer-kb", engine_buffer_kb,
                 "offload: engine aggregation granularity, KiB per next-hop buffer (default 64)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--engine-max-sends", engine_max_sends,
                 "offload: engine pipelining, MPI sends in flight (default 8)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--engine-threads", engine_threads,
                 "offload: threads per engine (buddy-engine --threads; default 1)")
      ->check(CLI::Range(1, 64));
  app.add_flag("--engine-stats", engine_stats,
               "offload: each engine prints one JSON line of statistics to stderr at the end");
  app.add_option("--mpirun-arg", extra_mpirun, "one more argument for mpirun (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--dry-run", dry_run, "print the mpirun command instead of running it");
  app.add_option("command", command, "the application and its arguments (after --)")->required();
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;

  const auto app_path = find_program(command[0]);
  if (!app_path) {
    std::fprintf(stderr, "buddy-run: %s: no such executable\n", command[0].c_str());
    return 2;
  }
  const auto mpirun = find_program("mpirun");
  if (!mpirun) {
    std::fprintf(stderr,
                 "buddy-run: mpirun not found on PATH (install Open MPI: ./buddy setup installs "
                 "openmpi-bin)\n");
    return 127;
  }

  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  if (ranks_per_node > 0)
    ::setenv("BUDDY_RANKS_PER_NODE", std::to_string(ranks_per_node).c_str(), 1);
  if (!routing.empty()) ::setenv("BUDDY_ROUTING", routing.c_str(), 1);
  if (buffer_kb > 0) ::setenv("BUDDY_BUFFER_KB", std::to_string(buffer_kb).c_str(), 1);
  if (!mode.empty()) ::setenv("BUDDY_MODE", mode.c_str(), 1);
  if (engines_per_node > 0) {
    ::setenv("BUDDY_ENGINES_PER_NODE", std::to_string(engines_per_node).c_str(), 1);
  }
  if (ring_kb > 0) ::setenv("BUDDY_RING_KB", std::to_string(ring_kb).c_str(), 1);

  // BUDDY_* values the user set in the environment are checked here, once, before any rank
  // starts (every rank would otherwise fail with the same message).
  buddy::msg::options opts;
  try {
    opts = buddy::msg::options::from_env();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddy-run: %s\n", e.what());
    return 2;
  }

  // -q: no Open MPI banners ("Primary job terminated normally, but ...", "MPI_ABORT was
  // invoked ..."), so an application's one-line error stays the only line.
  std::vector<std::string> args = {*mpirun, "-q",    "--oversubscribe",     "--bind-to", "none",
                                   "--mca", "btl",   "self,vader",          "--mca",     "pml",
                                   "ob1",   "--mca", "mpi_yield_when_idle", "1"};
  const bool offload = opts.mode == buddy::msg::run_mode::offload;
  std::optional<std::string> engine;
  if (offload) {
    engine = find_engine();
    if (!engine) {
      std::fprintf(stderr,
                   "buddy-run: buddy-engine not found next to buddy-run (set BUDDY_ENGINE)\n");
      return 2;
    }
  }
  const char* seg = std::getenv("BUDDY_SEGMENT");
  const std::string prefix = seg != nullptr && *seg != '\0'
                                 ? std::string(seg)
                                 : "buddy-msg-" + std::to_string(static_cast<long>(::getpid()));
  if (offload) ::setenv("BUDDY_SEGMENT", prefix.c_str(), 1);
  // Offload mode: Open MPI's shared-memory files go to a directory of this job, removed when
  // mpirun ends (a killed rank would otherwise leave its vader segment in /dev/shm).
  const std::string shm_dir = "/dev/shm/" + prefix + ".ompi";
  if (offload && !dry_run) {
    if (::mkdir(shm_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "buddy-run: cannot create %s: %s\n", shm_dir.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  if (offload) {
    args.insert(args.end(), {"--mca", "btl_vader_backing_directory", shm_dir, "--mca",
                             "osc_sm_backing_directory", shm_dir});
  }
  for (const char* var :
       {"BUDDY_ROUTING", "BUDDY_BUFFER_KB", "BUDDY_RANKS_PER_NODE", "BUDDY_MODE", "BUDDY_RING_KB",
        "BUDDY_ENGINES_PER_NODE", "BUDDY_ENGINE_TIMEOUT_MS", "BUDDY_SEGMENT"}) {
    if (std::getenv(var) != nullptr) {
      args.push_back("-x");
      args.push_back(var);
    }
  }
  args.insert(args.end(), extra_mpirun.begin(), extra_mpirun.end());
  args.push_back("-np");
  args.push_back(std::to_string(ranks));
  args.push_back(*app_path);
  args.insert(args.end(), command.begin() + 1, command.end());
  if (offload) {
    const int k = opts.ranks_per_node;
    const int nodes = k > 0 ? (ranks + k - 1) / k : 1;
    const int engines = nodes * opts.engines_per_node;
    args.insert(args.end(), {":", "-np", std::to_string(engines), *engine});
    const std::vector<int> cpus = usable_cpus();
    if (cpus.size() >= static_cast<std::size_t>(ranks + engines)) {
      // A core for every rank and engine: engines take the last ones.
      std::string list;
      for (std::size_t i = cpus.size() - static_cast<std::size_t>(engines); i < cpus.size(); ++i) {
        list += (list.empty() ? "" : ",") + std::to_string(cpus[i]);
      }
      args.insert(args.end(), {"--cpus", list});
    }
    if (engine_buffer_kb > 0)
      args.insert(args.end(), {"--buffer-kb", std::to_string(engine_buffer_kb)});
    if (engine_max_sends > 0)
      args.insert(args.end(), {"--max-sends", std::to_string(engine_max_sends)});
    if (engine_threads > 0) args.insert(args.end(), {"--threads", std::to_string(engine_threads)});
    if (engine_stats) args.push_back("--stats");
  }

  if (dry_run) {
    std::string line;
    for (const auto& a : args) line += (line.empty() ? "" : " ") + quote(a);
    std::printf("%s\n", line.c_str());
    return 0;
  }
  std::fflush(nullptr);
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  if (offload) return run_supervised(*mpirun, cargv, prefix, ranks, shm_dir);
  ::execv(mpirun->c_str(), cargv.data());
  std::fprintf(stderr, "buddy-run: cannot run %s: %s\n", mpirun->c_str(), std::strerror(errno));
  return 127;
}
