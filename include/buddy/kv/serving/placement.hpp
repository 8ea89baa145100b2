// Where the communication engine (CE) and processing engine (PE) of each serving thread run, for
// the six buddykv designs of DPU-KV: cpu-only, engine-only, lat, sav, dual, shrd. A placement is
// pure data computed from a few counts; the server and the engine runtime both build their threads
// from it, and validate() proves its invariants: every partition has exactly one writer (a full
// worker or a PE), the partition map the clients get (HELLO) sends each partition to a port whose
// thread really serves it, and every CE feeds exactly one PE.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/kv/wire/control.hpp"

namespace buddy::kv::serving {

enum class Design : std::uint8_t { cpu_only, engine_only, lat, sav, dual, shrd };
inline constexpr std::size_t kDesigns = 6;

std::optional<Design> parse_design(std::string_view s);
const char* to_string(Design d);
// True when some thread runs on the engine side (every design but cpu-only).
constexpr bool offloaded(Design d) {
  return d != Design::cpu_only;
}

enum class Side : std::uint8_t { host, engine };
const char* to_string(Side s);

// full: receive, parse, process and respond on one thread (run to completion, owns partitions);
// ce: receive, parse, respond; hands requests to a PE over one KV queue pair;
// pe: processes the requests of one or more queue pairs against the partitions it owns.
enum class Role : std::uint8_t { full, ce, pe };
const char* to_string(Role r);

struct PlacementConfig {
  Design design = Design::cpu_only;
  unsigned host_threads = 1;    // cpu-only, lat (PEs = engine threads), shrd
  unsigned engine_threads = 1;  // every offloaded design
  unsigned spare_threads = 1;   // dual: host threads serving their own ports
  std::uint32_t partitions_per_thread = 1;
  std::vector<int> host_cpus;    // host thread i pinned to host_cpus[i % size]; empty: not pinned
  std::vector<int> engine_cpus;  // the same for engine threads
};

struct ThreadPlan {
  Side side = Side::host;
  Role role = Role::full;
  int cpu = -1;
  int port = -1;                          // full, ce: index of the port it serves
  int pair = -1;                          // ce: its queue pair
  std::vector<std::uint32_t> pairs;       // pe: the queue pairs it serves, round robin
  std::vector<std::uint32_t> partitions;  // full, pe: owned (written); ce: accepted from clients
};

struct Placement {
  Design design = Design::cpu_only;
  std::uint32_t partitions = 0;
  std::uint32_t queue_pairs = 0;
  std::vector<ThreadPlan> threads;            // host threads first, then engine threads
  std::vector<std::uint32_t> port_thread;     // port index -> thread serving it
  std::vector<std::uint16_t> partition_port;  // partition -> port index (the HELLO owner table)
  std::vector<Side> partition_side;           // partition -> the store that holds it

  std::size_t count(Side s) const;
  std::size_t count(Side s, Role r) const;
  // Owned partitions of one side's store, ascending.
  std::vector<std::uint32_t> partitions_on(Side s) const;
  // Empty when every invariant holds, else a one-line reason.
  std::string validate() const;
};

// One-line reason when the counts do not make a placement (e.g. lat with 0 engine threads).
std::string validate(const PlacementConfig& c);
// The placement of c (validate(c) must be empty).
Placement place(const PlacementConfig& c);
// A digest of a placement (FNV-1a of its tables): host and engine must compute the same one.
std::uint64_t digest(const Placement& p);

}  // namespace buddy::kv::serving
