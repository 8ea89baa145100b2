// buddy-transpose: transpose of a distributed sparse matrix in CSR (rows split in blocks over
// the ranks), as Bale's transpose_matrix does it with messages: a count phase (one message per
// nonzero to the owner of its column, which counts the nonzeros of its future rows), a local
// prefix sum, then a fill phase (one message per nonzero carrying its row, placed at the next
// free position of the transposed row). The matrix is square (--rows x --rows), generated from
// --seed: Erdős–Rényi (--nnz-per-row column draws per row) or R-MAT (--rmat, --rows a power of
// two, --nnz-per-row x --rows edge draws). Duplicates are merged, so a row may hold fewer.
// Verified: (1) every rank regenerates the whole matrix, transposes its own block serially and
// compares it entry by entry (rows sorted) with the distributed result; a position-sensitive
// checksum of the whole transpose is compared too; (2) the transpose of the transpose equals the
// original. Exit status 1 if anything differs.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "app_report.hpp"
#include "rmat.hpp"

namespace {

using namespace buddy;

struct config {
  std::uint64_t rows = 1 << 16;
  std::uint64_t nnz_per_row = 16;
  std::uint64_t seed = 1;
  bool rmat = false;
  bool json = false;
  bool stats = false;
  bool inject_fault = false;  // tests: rank 0 drops one fill message, verification must fail
};

// This rank's rows of a square matrix; cols holds global column ids, sorted within a row.
struct csr {
  std::vector<std::uint64_t> rowptr{0};
  std::vector<std::uint64_t> cols;
  std::uint64_t nnz() const { return cols.size(); }
};

// Calls visit(row, col) for every generated nonzero (duplicates included) with row in
// [lo, hi). Erdős–Rényi draws only those rows; R-MAT draws every edge and keeps those rows.
template <class F>
void generate(const config& cfg, std::uint64_t lo, std::uint64_t hi, F&& visit) {
  if (cfg.rmat) {
    const int scale = apps::log2_exact(cfg.rows);
    const std::uint64_t edges = cfg.rows * cfg.nnz_per_row;
    for (std::uint64_t e = 0; e < edges; ++e) {
      const auto [r, c] = apps::rmat_edge(cfg.seed, scale, e);
      if (r >= lo && r < hi) visit(r, c);
    }
    return;
  }
  for (std::uint64_t r = lo; r < hi; ++r) {
    for (std::uint64_t j = 0; j < cfg.nnz_per_row; ++j) {
      visit(r, apps::below(apps::hash4(cfg.seed, r, j), cfg.rows));
    }
  }
}

// CSR of `rows` local rows from (local row, col) pairs: sorted, duplicates merged.
csr build_csr(std::vector<std::pair<std::uint64_t, std::uint64_t>>& pairs, std::uint64_t rows) {
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  csr m;
  m.rowptr.assign(rows + 1, 0);
  m.cols.reserve(pairs.size());
  for (const auto& [r, c] : pairs) {
    ++m.rowptr[r + 1];
    m.cols.push_back(c);
  }
  for (std::uint64_t r = 0; r < rows; ++r) m.rowptr[r + 1] += m.rowptr[r];
  return m;
}

void sort_rows(csr& m) {
  for (std::size_t r = 0; r + 1 < m.rowptr.size(); ++r) {
    std::sort(m.cols.begin() + static_cast<std::ptrdiff_t>(m.rowptr[r]),
              m.cols.begin() + static_cast<std::ptrdiff_t>(m.rowptr[r + 1]));
  }
}

// Position-sensitive: (global row, position in row, column) of every entry.
std::uint64_t checksum(const csr& m, std::uint64_t first_row) {
  std::uint64_t sum = 0;
  for (std::size_t r = 0; r + 1 < m.rowptr.size(); ++r) {
    for (std::uint64_t k = m.rowptr[r]; k < m.rowptr[r + 1]; ++k) {
      sum += apps::hash4(first_row + r, k - m.rowptr[r], m.cols[k]);
    }
  }
  return sum;
}

// The transposed block being built on this rank.
struct transpose_state {
  std::vector<std::uint64_t> counts;  // nonzeros per transposed row (count phase)
  std::vector<std::uint64_t> next;    // next free position per transposed row (fill phase)
  csr out;
};

struct count_nonzero {
  msg::local_ptr<transpose_state> st;
  void operator()(std::uint64_t slot) const { ++st->counts[slot]; }
};

struct place_nonzero {
  msg::local_ptr<transpose_state> st;
  void operator()(std::uint64_t slot, std::uint64_t row) const {
    transpose_state& s = *st;
    s.out.cols[s.next[slot]++] = row;
  }
};

// Bale's two-phase transpose of A (this rank's block). Collective. Adds the app's own memory
// traffic to mem (see docs/apps.md): per nonzero 8 B (read col) + 16 B (count) in the count
// phase and 8 B (read col) + 16 B (next) + 8 B (write row) in the fill phase; per local row
// 32 B for the prefix sum (read count, write rowptr and next).
csr transpose(msg::comm& world, const csr& a, const apps::block_map& map, bool drop_one,
              apps::compute_clock& compute, std::uint64_t& mem) {
  const int rank = world.rank();
  const std::uint64_t first = static_cast<std::uint64_t>(rank) * map.block;
  const std::uint64_t local = map.local_size(rank);
  transpose_state state;
  state.counts.assign(local, 0);
  const auto st = world.make_local(state);
  world.barrier();  // registered everywhere before any message names it

  for (std::size_t r = 0; r < local; ++r) {
    for (std::uint64_t k = a.rowptr[r]; k < a.rowptr[r + 1]; ++k) {
      world.async(map.owner(a.cols[k]), count_nonzero{st}, map.slot(a.cols[k]));
    }
  }
  world.barrier();
  compute.run([&] {
    state.out.rowptr.assign(local + 1, 0);
    for (std::uint64_t r = 0; r < local; ++r) {
      state.out.rowptr[r + 1] = state.out.rowptr[r] + state.counts[r];
    }
    state.next.assign(state.out.rowptr.begin(), state.out.rowptr.end() - 1);
    state.out.cols.assign(state.out.rowptr[local], ~std::uint64_t{0});  // "not filled"
  });
  world.barrier();  // every rank sized its block before any fill message arrives
  bool dropped = !drop_one;
  for (std::size_t r = 0; r < local; ++r) {
    for (std::uint64_t k = a.rowptr[r]; k < a.rowptr[r + 1]; ++k) {
      if (!dropped) {
        dropped = true;
        continue;
      }
      world.async(map.owner(a.cols[k]), place_nonzero{st}, map.slot(a.cols[k]), first + r);
    }
  }
  world.barrier();
  mem += 56 * a.nnz() + 32 * local;
  return std::move(state.out);
}

int run(int argc, char** argv, const config& cfg, const msg::options& opts) {
  msg::comm world(&argc, &argv, opts);
  const int rank = world.rank(), size = world.size();
  const apps::block_map map(cfg.rows, size);
  const std::uint64_t first = static_cast<std::uint64_t>(rank) * map.block;
  const std::uint64_t local = map.local_size(rank);

  csr a;
  {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pairs;
    generate(cfg, first, first + local,
             [&](std::uint64_t r, std::uint64_t c) { pairs.emplace_back(r - first, c); });
    a = build_csr(pairs, local);
  }

  world.barrier();
  apps::region_timer timer(world);
  apps::compute_clock compute;
  std::uint64_t mem = 0;
  timer.start();
  csr t = transpose(world, a, map, cfg.inject_fault && rank == 0, compute, mem);
  const apps::region cost = timer.stop(compute, mem);

  // (1) against a serial transpose of the regenerated matrix, this rank's block.
  sort_rows(t);
  csr expect;
  {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pairs;
    generate(cfg, 0, cfg.rows, [&](std::uint64_t r, std::uint64_t c) {
      if (map.owner(c) == rank) pairs.emplace_back(c - first, r);
    });
    expect = build_csr(pairs, local);
  }
  std::uint64_t wrong = t.rowptr != expect.rowptr || t.cols != expect.cols;
  const std::uint64_t sum = world.all_reduce_sum(checksum(t, first));
  const std::uint64_t expect_sum = world.all_reduce_sum(checksum(expect, first));
  wrong = world.all_reduce_sum(wrong);
  // (2) the transpose of the transpose is the original (only if (1) passed: a wrong transpose
  // may hold columns out of range).
  if (wrong == 0) {
    std::uint64_t unused = 0;
    apps::compute_clock unused_clock;
    csr tt = transpose(world, t, map, false, unused_clock, unused);
    sort_rows(tt);
    wrong = world.all_reduce_sum(
        static_cast<std::uint64_t>(tt.rowptr != a.rowptr || tt.cols != a.cols));
  }
  const std::uint64_t nnz = world.all_reduce_sum(static_cast<unsigned long long>(a.nnz()));
  const bool ok = wrong == 0 && sum == expect_sum;

  const msg::stats st = world.global_stats();
  if (rank == 0) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(sum));
    const apps::result r{
        "transpose", apps::mode_name(world.config()), msg::to_string(opts.route), size, cost, ok};
    if (cfg.json) {
      apps::print_json(r, [&](base::json::Writer& w) {
        w.member("rows", cfg.rows).member("nnz", nnz).member("generator", cfg.rmat ? "rmat" : "er");
        w.member("mnnz_per_s", static_cast<double>(nnz) / cost.elapsed_s / 1e6);
        w.member("checksum", hex);
      });
    } else {
      std::printf(
          "buddy-transpose: %d ranks, mode %s, routing %s, buffer %zu KiB, %llu x %llu %s "
          "matrix, %llu nonzeros\n",
          size, r.mode, r.routing, opts.buffer_kb, static_cast<unsigned long long>(cfg.rows),
          static_cast<unsigned long long>(cfg.rows), cfg.rmat ? "R-MAT" : "Erdos-Renyi",
          static_cast<unsigned long long>(nnz));
      apps::print_cost(r);
      std::printf(
          "  verified: %s (%llu ranks' blocks differ from the serial transpose or the "
          "transpose of the transpose; checksum %s %s)\n",
          ok ? "yes" : "NO", static_cast<unsigned long long>(wrong), hex,
          sum == expect_sum ? "matches" : "differs");
    }
    if (cfg.stats) std::fputs(st.format("all " + std::to_string(size) + " ranks").c_str(), stderr);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Sparse matrix transpose over buddy::msg (Bale's count and fill phases), verified "
      "against a serial transpose and by transposing back.",
      "buddy-transpose"};
  config cfg;
  app.add_option("--rows", cfg.rows, "rows (and columns) of the square matrix")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32));
  app.add_option("--nnz-per-row", cfg.nnz_per_row, "nonzeros drawn per row (before merging)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 16));
  app.add_option("--seed", cfg.seed, "random seed")->capture_default_str();
  app.add_flag("--rmat", cfg.rmat, "R-MAT matrix instead of Erdos-Renyi (--rows a power of two)");
  app.add_flag("--json", cfg.json, "print one JSON object (rank 0)");
  app.add_flag("--stats", cfg.stats, "print buddy::msg statistics summed over ranks to stderr");
  app.add_flag("--inject-fault", cfg.inject_fault, "rank 0 drops one nonzero (tests)")->group("");
  if (auto rc = apps::parse_args_once(app, argc, argv)) return *rc;
  if (cfg.rmat && apps::log2_exact(cfg.rows) < 0) {
    if (apps::launch_rank() == 0) {
      std::fprintf(stderr, "buddy-transpose: --rmat needs --rows a power of two (at least 2)\n");
    }
    return 2;
  }
  // A, its transpose, the transpose of that and the serial check: ~64 bytes per nonzero, all
  // on one machine here whatever the rank count.
  const unsigned long long memory = apps::physical_memory();
  if (memory != 0 && cfg.rows * cfg.nnz_per_row > memory / 64) {
    if (apps::launch_rank() == 0) {
      std::fprintf(stderr,
                   "buddy-transpose: %llu nonzeros do not fit in memory (%llu bytes on this "
                   "machine, ~64 bytes per nonzero); lower --rows or --nnz-per-row\n",
                   static_cast<unsigned long long>(cfg.rows * cfg.nnz_per_row), memory);
    }
    return 2;
  }
  const auto opts = apps::env_options("buddy-transpose");
  if (!opts) return 2;
  return apps::guarded("buddy-transpose", [&] { return run(argc, argv, cfg, *opts); });
}
