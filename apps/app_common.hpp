// Shared by the buddy::msg applications: argument parsing before MPI starts (errors printed
// once, by launch rank 0), seeded random streams, CPU time, block distribution, allocation
// checks (the result line and timing are in app_report.hpp). Apps use
// buddy::msg only (no direct MPI calls; the alltoallv baseline uses MPI on world.mpi_comm()).
#pragma once

#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "buddy/base/clock.hpp"
#include "buddy/msg/comm.hpp"
#include "cli.hpp"

namespace buddy::apps {

// This process's rank as mpirun announced it, before MPI starts (0 when run alone).
inline int launch_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v);
  }
  return 0;
}

// buddy::tools::parse_args, but only launch rank 0 prints (help or a one-line error).
inline std::optional<int> parse_args_once(CLI::App& app, int argc, char** argv) {
  if (launch_rank() == 0) return buddy::tools::parse_args(app, argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    return 0;
  } catch (const CLI::ParseError&) {
    return 2;
  }
  return std::nullopt;
}

// The comm options from the environment; a bad BUDDY_* value is a one-line error (exit 2).
inline std::optional<msg::options> env_options(const char* app) {
  try {
    return msg::options::from_env();
  } catch (const std::exception& e) {
    if (launch_rank() == 0) std::fprintf(stderr, "%s: %s\n", app, e.what());
    return std::nullopt;
  }
}

// splitmix64: a small, fast, seedable stream; identical on every rank for the same seed.
struct rng {
  std::uint64_t state;
  rng(std::uint64_t seed, int rank)
      : state(seed * 0x9E3779B97F4A7C15ull +
              static_cast<std::uint64_t>(rank) * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-high (no division).
  std::uint64_t below(std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }
};

inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

// Counter-based random bits: a pure function of (seed, a, b, c), so a value does not depend on
// which rank draws it or in which order (per-particle, per-edge streams).
inline std::uint64_t hash4(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                           std::uint64_t c = 0) {
  std::uint64_t h = mix64(seed ^ 0x243F6A8885A308D3ull);
  h = mix64(h ^ (a + 0x9E3779B97F4A7C15ull));
  h = mix64(h ^ (b + 0xD1B54A32D192ED03ull));
  return mix64(h ^ (c + 0x8CB92BA72F3D8DD7ull));
}
// Uniform in [0, 1) from 53 random bits; uniform in [0, n) by multiply-high.
inline double unit(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1p-53;
}
inline std::uint64_t below(std::uint64_t bits, std::uint64_t n) {
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<u128>(bits) * n) >> 64);
}

inline double cpu_seconds() {
  return static_cast<double>(base::process_cpu_ns()) * 1e-9;
}

// A table of `total` entries split in blocks over `ranks`: owner and slot of a global index.
struct block_map {
  std::uint64_t total;
  std::uint64_t block;  // ceil(total / ranks)
  int shift = -1;       // log2(block) when block is a power of two (a 64-bit divide is ~5% of
                        // index-gather's send loop), else -1
  block_map(std::uint64_t t, int ranks)
      : total(t),
        block((t + static_cast<std::uint64_t>(ranks) - 1) / static_cast<std::uint64_t>(ranks)) {
    if (block != 0 && (block & (block - 1)) == 0) shift = std::countr_zero(block);
  }
  int owner(std::uint64_t i) const { return static_cast<int>(shift >= 0 ? i >> shift : i / block); }
  std::uint64_t slot(std::uint64_t i) const { return shift >= 0 ? i & (block - 1) : i % block; }
  std::uint64_t local_size(int rank) const {
    const std::uint64_t lo = static_cast<std::uint64_t>(rank) * block;
    if (lo >= total) return 0;
    return total - lo < block ? total - lo : block;
  }
};

// This machine's memory in bytes (0 if unknown).
inline unsigned long long physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0
             ? static_cast<unsigned long long>(pages) * static_cast<unsigned long long>(page)
             : 0;
}

// Sizes v to n zeroed values on every rank. If that does not fit on some rank (more than this
// machine's memory, or the allocation fails), rank 0 prints one line ("APP: WHAT of N bytes per
// rank does not fit in memory ...") and every rank gets false, so the app can return 2 instead
// of dying with std::bad_alloc (or being killed after overcommitting). Collective.
template <class T>
bool allocate_everywhere(msg::comm& world, std::vector<T>& v, std::uint64_t n, const char* app,
                         const char* what) {
  const unsigned long long memory = physical_memory();
  const unsigned long long bytes = static_cast<unsigned long long>(n) * sizeof(T);
  bool fits = memory == 0 || bytes <= memory;
  if (fits) {
    try {
      v.assign(static_cast<std::size_t>(n), T{});
    } catch (const std::bad_alloc&) {
      fits = false;
    } catch (const std::length_error&) {
      fits = false;
    }
  }
  const unsigned long long worst = world.all_reduce_max(fits ? 0ull : bytes);
  if (worst == 0) return true;
  if (world.rank() == 0) {
    std::fprintf(stderr,
                 "%s: %s of %llu bytes per rank does not fit in memory (%llu bytes on this "
                 "machine); lower --table-size / --updates or use more ranks\n",
                 app, what, worst, memory);
  }
  return false;
}

// Runs body(), turning an exception on any rank into one line on stderr and the end of the
// whole job (msg::abort_job), so no other rank waits for this one forever.
template <class F>
int guarded(const char* app, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::string line = app;
    line += ": rank ";
    line += std::to_string(launch_rank());
    line += ": ";
    line += e.what();
    msg::abort_job(line);
  }
}

}  // namespace buddy::apps
