// buddy-run: starts a buddy::msg application under Open MPI's mpirun with the flags this kind
// of machine needs, so users never have to remember them:
//   buddy-run -n RANKS [--ranks-per-node K] [--routing none|nr|nlnr] [--buffer-kb N] -- APP ARGS
// It runs as root if need be (OMPI_ALLOW_RUN_AS_ROOT*), oversubscribes cores, does not bind
// ranks to cores, makes idle ranks yield (mpi_yield_when_idle), uses shared memory only
// (btl self,vader with the ob1 pml: no network needed), and exports the BUDDY_* settings to
// every rank. --dry-run prints the mpirun command instead of running it.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "buddy/msg/options.hpp"
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

  // BUDDY_* values the user set in the environment are checked here, once, before any rank
  // starts (every rank would otherwise fail with the same message).
  try {
    (void)buddy::msg::options::from_env();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddy-run: %s\n", e.what());
    return 2;
  }

  // -q: no Open MPI banners ("Primary job terminated normally, but ...", "MPI_ABORT was
  // invoked ..."), so an application's one-line error stays the only line.
  std::vector<std::string> args = {*mpirun, "-q",    "--oversubscribe",     "--bind-to", "none",
                                   "--mca", "btl",   "self,vader",          "--mca",     "pml",
                                   "ob1",   "--mca", "mpi_yield_when_idle", "1"};
  for (const char* var : {"BUDDY_ROUTING", "BUDDY_BUFFER_KB", "BUDDY_RANKS_PER_NODE"}) {
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
  ::execv(mpirun->c_str(), cargv.data());
  std::fprintf(stderr, "buddy-run: cannot run %s: %s\n", mpirun->c_str(), std::strerror(errno));
  return 127;
}
