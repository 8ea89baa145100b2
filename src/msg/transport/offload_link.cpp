#include "buddy/msg/transport/offload_link.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>

#include "buddy/msg/transport/error.hpp"

namespace buddy::msg::offload {

control& control_of(qp::Segment& s) {
  return *reinterpret_cast<control*>(s.user_header().data());
}

qp::SegmentLayout segment_layout(std::size_t ring_kb) {
  qp::SegmentLayout l;
  l.queue_pairs = channels;
  l.request = qp::RingSpec::records(static_cast<std::uint64_t>(ring_kb) * 1024);
  l.response = qp::RingSpec::records(static_cast<std::uint64_t>(ring_kb) * 1024);
  return l;
}

std::string job::segment_name(int app_rank) const {
  return prefix + ".r" + std::to_string(app_rank);
}

namespace {

struct info {
  int is_engine;
  int group_rank;
  int host;  // lowest world rank sharing memory with this process
  int pid;
  int ranks_per_node;
  int engines_per_node;
  int ring_kb;
};

std::unique_ptr<job> the_job;

void build(job& j, const std::vector<info>& all) {
  const info& first = all.front();
  for (const info& i : all) {
    if (i.ranks_per_node != first.ranks_per_node || i.engines_per_node != first.engines_per_node ||
        i.ring_kb != first.ring_kb) {
      throw error(
          "buddy::msg offload: processes disagree on BUDDY_RANKS_PER_NODE, "
          "BUDDY_ENGINES_PER_NODE or BUDDY_RING_KB");
    }
    (i.is_engine ? j.engine_count : j.app_count)++;
  }
  if (j.app_count == 0) throw error("buddy-engine: no app ranks in this MPI job");
  if (j.engine_count == 0) {
    throw error(
        "buddy::msg: BUDDY_MODE=offload, but no buddy-engine runs in this MPI job (launch with "
        "buddy-run --mode offload)");
  }
  // Node keys: simulated nodes by number, or the host.
  std::vector<int> app_key(static_cast<std::size_t>(j.app_count));
  std::vector<int> eng_key(static_cast<std::size_t>(j.engine_count));
  j.app_pid.resize(app_key.size());
  j.engine_pid.resize(eng_key.size());
  for (const info& i : all) {
    const auto g = static_cast<std::size_t>(i.group_rank);
    if (i.is_engine) {
      eng_key[g] = first.ranks_per_node > 0 ? i.group_rank / first.engines_per_node : i.host;
      j.engine_pid[g] = i.pid;
    } else {
      app_key[g] = first.ranks_per_node > 0 ? i.group_rank / first.ranks_per_node : i.host;
      j.app_pid[g] = i.pid;
    }
  }
  std::map<int, int> dense;
  for (int k : app_key) dense.emplace(k, 0);
  for (int k : eng_key) dense.emplace(k, 0);
  int n = 0;
  for (auto& [k, v] : dense) v = n++;
  for (int& k : app_key) k = dense[k];
  for (int& k : eng_key) k = dense[k];
  j.app_node = app_key;
  j.engine_node = eng_key;
  std::vector<std::vector<int>> node_engines(static_cast<std::size_t>(n));
  for (int e = 0; e < j.engine_count; ++e) {
    node_engines[static_cast<std::size_t>(eng_key[static_cast<std::size_t>(e)])].push_back(e);
  }
  std::vector<int> local(static_cast<std::size_t>(n), 0);
  j.engine_of.resize(app_key.size());
  for (int r = 0; r < j.app_count; ++r) {
    const auto node = static_cast<std::size_t>(app_key[static_cast<std::size_t>(r)]);
    const auto& engines = node_engines[node];
    if (engines.empty()) {
      throw error("buddy::msg offload: no buddy-engine runs on the node of app rank " +
                  std::to_string(r) + " (node " + std::to_string(node) + " of " +
                  std::to_string(n) + "; start nodes x engines-per-node engines)");
    }
    j.engine_of[static_cast<std::size_t>(r)] =
        engines[static_cast<std::size_t>(local[node]++) % engines.size()];
  }
  if (const char* p = std::getenv("BUDDY_SEGMENT"); p != nullptr && *p != '\0') {
    j.prefix = p;
  } else {
    j.prefix = "buddy-msg-" + std::to_string(first.pid);
  }
}

}  // namespace

const job* joined() {
  return the_job.get();
}

const job& join(bool engine, const options& opts) {
  if (the_job) return *the_job;
  auto j = std::make_unique<job>();
  j->is_engine = engine;
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_split(MPI_COMM_WORLD, engine ? 1 : 0, world_rank, &j->group);
  MPI_Comm_rank(j->group, &j->group_rank);
  MPI_Comm shared;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &shared);
  int host = world_rank;
  MPI_Allreduce(&world_rank, &host, 1, MPI_INT, MPI_MIN, shared);
  MPI_Comm_free(&shared);
  const info mine{engine ? 1 : 0,
                  j->group_rank,
                  host,
                  static_cast<int>(::getpid()),
                  opts.ranks_per_node,
                  opts.engines_per_node,
                  static_cast<int>(opts.ring_kb)};
  int world_size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  std::vector<info> all(static_cast<std::size_t>(world_size));
  MPI_Allgather(&mine, sizeof(info), MPI_BYTE, all.data(), sizeof(info), MPI_BYTE, MPI_COMM_WORLD);
  build(*j, all);
  the_job = std::move(j);
  return *the_job;
}

}  // namespace buddy::msg::offload
