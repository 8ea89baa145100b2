// buddy-cc: connected components of an undirected graph with 2^--scale vertices split in
// blocks over the ranks, by asynchronous min-label propagation over local components. Each rank
// first joins its own vertices along its local edges (a serial union-find whose root is the
// smallest vertex id), so a local component acts as one vertex with the union of the remote
// neighbours of its members. Then every local component sends its label (smallest id known) to
// each remote neighbour; a handler that lowers a component's label forwards the new label to
// that component's remote neighbours. At the barrier every vertex holds the smallest id of its
// component. Graphs (from --seed): R-MAT (--graph rmat, --edge-factor x 2^scale edges) or a
// long path through all vertices in a scrambled order (--graph path: the worst case for label
// propagation, nearly every edge crosses ranks). Verified against a serial union-find of the
// same graph: every vertex's label (so the same partition) and the number of components.
// --containers does the same with msg::containers::disjoint_set instead: one async_union per
// edge, then all_compress (every vertex's parent becomes its root, the smallest id of its
// component, so the same labels), with the vertices' blocks as the set's partitioner.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "app_report.hpp"
#include "buddy/msg/containers/disjoint_set.hpp"
#include "rmat.hpp"

namespace {

using namespace buddy;

struct config {
  int scale = 16;
  std::uint64_t edge_factor = 8;
  std::string graph = "rmat";
  std::uint64_t seed = 1;
  bool json = false;
  bool stats = false;
  bool inject_fault = false;  // tests: rank 0 sends no label, verification must fail
  bool containers = false;    // msg::containers::disjoint_set instead of label propagation
};

// The vertices' block distribution as a container partitioner (a vertex's parent lives with it).
struct block_owner {
  apps::block_map map{1, 1};
  int owner(std::uint64_t v, int) const { return map.owner(v); }
};

std::uint64_t vertices(const config& cfg) {
  return std::uint64_t{1} << cfg.scale;
}
std::uint64_t edges(const config& cfg) {
  return cfg.graph == "path" ? vertices(cfg) - 1 : cfg.edge_factor * vertices(cfg);
}

// A bijection of [0, 2^scale): the order in which the path visits the vertices.
std::uint64_t scramble(std::uint64_t i, const config& cfg) {
  const std::uint64_t mask = vertices(cfg) - 1;
  i = (i * (apps::mix64(cfg.seed) | 1)) & mask;  // odd multiplier: a bijection mod 2^scale
  i ^= i >> ((cfg.scale + 1) / 2);               // so is an xor with a right shift
  return (i * (apps::mix64(cfg.seed + 1) | 1)) & mask;
}

std::pair<std::uint64_t, std::uint64_t> edge(const config& cfg, std::uint64_t e) {
  if (cfg.graph == "path") return {scramble(e, cfg), scramble(e + 1, cfg)};
  return apps::rmat_edge(cfg.seed, cfg.scale, e);
}

// Union-find whose root is always the smallest member (so the root is the component's label).
struct min_union_find {
  std::vector<std::uint64_t> parent;
  explicit min_union_find(std::uint64_t n) : parent(n) {
    for (std::uint64_t i = 0; i < n; ++i) parent[i] = i;
  }
  std::uint64_t find(std::uint64_t x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];  // path halving
      x = parent[x];
    }
    return x;
  }
  void join(std::uint64_t a, std::uint64_t b) {
    a = find(a);
    b = find(b);
    if (a < b) {
      parent[b] = a;
    } else if (b < a) {
      parent[a] = b;
    }
  }
};

// This rank's vertices after the local phase.
struct cc_state {
  std::vector<std::uint64_t> root;    // local vertex -> local root (flattened)
  std::vector<std::uint64_t> label;   // per local root: smallest global id known
  std::vector<std::uint64_t> xadj;    // per local vertex (roots only non-empty): remote neighbours
  std::vector<std::uint64_t> remote;  // the neighbours, global ids
  apps::block_map map{1, 1};
  std::uint64_t mem = 0;  // the app's memory traffic (docs/apps.md)
  bool mute = false;      // --inject-fault on rank 0
};

struct relax {
  msg::local_ptr<cc_state> st;
  void operator()(msg::comm& c, std::uint64_t slot, std::uint64_t label) const {
    cc_state& s = *st;
    const std::uint64_t r = s.root[slot];
    s.mem += 16;  // read root, read label
    if (label >= s.label[r]) return;
    s.label[r] = label;
    s.mem += 24 + 8 * (s.xadj[r + 1] - s.xadj[r]);  // write label, read xadj, read neighbours
    if (s.mute) return;
    for (std::uint64_t k = s.xadj[r]; k < s.xadj[r + 1]; ++k) {
      c.async(s.map.owner(s.remote[k]), relax{st}, s.map.slot(s.remote[k]), label);
    }
  }
};

template <class LabelOf>
int report(msg::comm& world, const config& cfg, const msg::options& opts, const apps::region& cost,
           LabelOf&& label_of);

int run(int argc, char** argv, const config& cfg, const msg::options& opts) {
  msg::comm world(&argc, &argv, opts);
  const int rank = world.rank(), size = world.size();
  const std::uint64_t n = vertices(cfg), m = edges(cfg);
  cc_state state;
  state.map = apps::block_map(n, size);
  state.mute = cfg.inject_fault && rank == 0;
  const apps::block_map& map = state.map;
  const std::uint64_t first = static_cast<std::uint64_t>(rank) * map.block;
  const std::uint64_t local = map.local_size(rank);
  const auto st = world.make_local(state);

  // The edges touching this rank's vertices (every rank draws every edge: no communication).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> local_edges, cross;  // (local, x)
  for (std::uint64_t e = 0; e < m; ++e) {
    const auto [u, v] = edge(cfg, e);
    const bool mine_u = map.owner(u) == rank, mine_v = map.owner(v) == rank;
    if (mine_u && mine_v) {
      local_edges.emplace_back(u - first, v - first);
    } else if (mine_u) {
      cross.emplace_back(u - first, v);
    } else if (mine_v) {
      cross.emplace_back(v - first, u);
    }
  }

  // --containers: every edge is one async_union (sent by the owner of its smaller end), then
  // all_compress: each vertex's parent is its root, the smallest id of its component.
  msg::containers::disjoint_set<std::uint64_t, block_owner> ds(world, block_owner{map});
  std::vector<std::uint64_t> ds_root;
  if (cfg.containers) {
    world.barrier();
    apps::region_timer timer(world);
    apps::compute_clock compute;
    timer.start();
    for (std::uint64_t v = 0; v < local; ++v) ds.async_insert(first + v);
    if (!state.mute) {
      for (const auto& [a, b] : local_edges) ds.async_union(first + a, first + b);
      for (const auto& [a, x] : cross) {
        if (first + a < x) ds.async_union(first + a, x);
      }
    }
    ds.all_compress();
    ds_root.assign(local, 0);
    ds.local_for_all([&](std::uint64_t v, std::uint64_t root) { ds_root[v - first] = root; });
    // Per edge: a link message or more at 8 B per parent read and write; per vertex: the
    // compress rounds' reads and writes.
    const apps::region c =
        timer.stop(compute, 32 * (local_edges.size() + cross.size()) + 48 * local);
    return report(world, cfg, opts, c, [&](std::uint64_t v) { return ds_root[v]; });
  }

  world.barrier();
  apps::region_timer timer(world);
  apps::compute_clock compute;
  timer.start();
  compute.run([&] {
    min_union_find uf(local);
    for (const auto& [a, b] : local_edges) uf.join(a, b);
    state.root.resize(local);
    state.label.assign(local, 0);
    for (std::uint64_t v = 0; v < local; ++v) {
      state.root[v] = uf.find(v);
      state.label[v] = first + state.root[v];
    }
    // Remote neighbours per local root, without repeats.
    for (auto& [a, x] : cross) a = state.root[a];
    std::sort(cross.begin(), cross.end());
    cross.erase(std::unique(cross.begin(), cross.end()), cross.end());
    state.xadj.assign(local + 1, 0);
    state.remote.resize(cross.size());
    for (std::size_t k = 0; k < cross.size(); ++k) {
      ++state.xadj[cross[k].first + 1];
      state.remote[k] = cross[k].second;
    }
    for (std::uint64_t v = 0; v < local; ++v) state.xadj[v + 1] += state.xadj[v];
    // Union-find: ~4 accesses of 8 B per local edge; roots and labels: 24 B per vertex; the
    // sort and the adjacency: ~48 B per remote edge.
    state.mem += 32 * local_edges.size() + 24 * local + 48 * cross.size();
  });
  world.barrier();  // every rank has its labels before any label message arrives
  if (!state.mute) {
    for (std::uint64_t r = 0; r < local; ++r) {
      for (std::uint64_t k = state.xadj[r]; k < state.xadj[r + 1]; ++k) {
        world.async(map.owner(state.remote[k]), relax{st}, map.slot(state.remote[k]),
                    state.label[r]);
      }
    }
  }
  state.mem += 8 * state.remote.size() + 16 * local;
  world.barrier();
  const apps::region cost = timer.stop(compute, state.mem);
  return report(world, cfg, opts, cost,
                [&](std::uint64_t v) { return state.label[state.root[v]]; });
}

// Checks every local vertex's label (label_of(local index)) against a serial union-find, prints
// the result line; 0 if right, 1 if not.
template <class LabelOf>
int report(msg::comm& world, const config& cfg, const msg::options& opts, const apps::region& cost,
           LabelOf&& label_of) {
  const int rank = world.rank(), size = world.size();
  const std::uint64_t n = vertices(cfg), m = edges(cfg);
  const apps::block_map map(n, size);
  const std::uint64_t first = static_cast<std::uint64_t>(rank) * map.block;
  const std::uint64_t local = map.local_size(rank);
  // Serial union-find of the whole graph (every rank, from the regenerated edges).
  min_union_find serial(n);
  for (std::uint64_t e = 0; e < m; ++e) {
    const auto [u, v] = edge(cfg, e);
    serial.join(u, v);
  }
  std::uint64_t wrong = 0, components = 0, expect_components = 0;
  for (std::uint64_t v = 0; v < local; ++v) {
    const std::uint64_t label = label_of(v);
    wrong += label != serial.find(first + v);
    components += label == first + v;
  }
  for (std::uint64_t v = 0; v < n; ++v) expect_components += serial.find(v) == v;
  wrong = world.all_reduce_sum(wrong);
  components = world.all_reduce_sum(components);
  const bool ok = wrong == 0 && components == expect_components;

  const msg::stats s = world.global_stats();
  if (rank == 0) {
    const apps::result r{
        "cc", apps::mode_name(world.config()), msg::to_string(opts.route), size, cost, ok};
    if (cfg.json) {
      apps::print_json(r, [&](base::json::Writer& w) {
        w.member("impl", cfg.containers ? "containers" : "async");
        w.member("graph", cfg.graph).member("vertices", n).member("edges", m);
        w.member("components", components);
      });
    } else {
      std::printf(
          "buddy-cc: %d ranks, mode %s, routing %s, buffer %zu KiB, %s graph of %llu vertices "
          "and %llu edges\n",
          size, r.mode, r.routing, opts.buffer_kb, cfg.graph.c_str(),
          static_cast<unsigned long long>(n), static_cast<unsigned long long>(m));
      apps::print_cost(r);
      std::printf(
          "  verified: %s (%llu components, serial union-find %llu; %llu vertices labelled "
          "differently)\n",
          ok ? "yes" : "NO", static_cast<unsigned long long>(components),
          static_cast<unsigned long long>(expect_components),
          static_cast<unsigned long long>(wrong));
    }
    if (cfg.stats) std::fputs(s.format("all " + std::to_string(size) + " ranks").c_str(), stderr);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Connected components over buddy::msg by asynchronous min-label propagation, "
      "verified against a serial union-find.",
      "buddy-cc"};
  config cfg;
  app.add_option("--scale", cfg.scale, "2^scale vertices")
      ->capture_default_str()
      ->check(CLI::Range(1, 30));
  app.add_option("--edge-factor", cfg.edge_factor, "R-MAT edges per vertex")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1024}));
  app.add_option("--graph", cfg.graph, "rmat, or path (one long path in scrambled order)")
      ->capture_default_str()
      ->check(CLI::IsMember({"rmat", "path"}));
  app.add_option("--seed", cfg.seed, "random seed")->capture_default_str();
  app.add_flag("--containers", cfg.containers,
               "msg::containers::disjoint_set (async_union, all_compress) instead of label "
               "propagation");
  app.add_flag("--json", cfg.json, "print one JSON object (rank 0)");
  app.add_flag("--stats", cfg.stats, "print buddy::msg statistics summed over ranks to stderr");
  app.add_flag("--inject-fault", cfg.inject_fault, "rank 0 sends no label (tests)")->group("");
  if (auto rc = apps::parse_args_once(app, argc, argv)) return *rc;
  // The edges of each rank, the serial check's union-find: ~40 bytes per edge and vertex.
  const unsigned long long memory = apps::physical_memory();
  if (memory != 0 && edges(cfg) + vertices(cfg) > memory / 40) {
    if (apps::launch_rank() == 0) {
      std::fprintf(stderr,
                   "buddy-cc: %llu edges do not fit in memory (%llu bytes on this machine); "
                   "lower --scale or --edge-factor\n",
                   static_cast<unsigned long long>(edges(cfg)), memory);
    }
    return 2;
  }
  const auto opts = apps::env_options("buddy-cc");
  if (!opts) return 2;
  return apps::guarded("buddy-cc", [&] { return run(argc, argv, cfg, *opts); });
}
