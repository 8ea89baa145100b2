// The physics of buddy-particles, independent of messaging: a cube of --cells^3 unit cells,
// each of one of three materials; a particle flies in segments whose length is the shortest of
// the distance to its next collision (drawn from the material's cross-section table with
// --lookups random look-ups), the distance to the next cell face, and its remaining flight
// before census. A collision absorbs or scatters (isotropically); leaving the cube is an escape.
// Every random number is a pure function of (seed, particle id, segment number, purpose), so a
// particle's history is the same whichever rank tracks it, in any order: the tallies do not
// depend on the rank count or the mode.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "app_common.hpp"

namespace buddy::apps::particles {

struct particle {
  std::uint64_t id = 0;
  std::uint64_t seg = 0;  // segments flown so far
  std::int64_t cell[3] = {0, 0, 0};
  double pos[3] = {0, 0, 0};
  double dir[3] = {0, 0, 1};
  double left = 0;  // flight left before census in this cycle
};

// Every tally is an integer sum, so it does not depend on the order of events.
struct tallies {
  std::uint64_t created = 0;
  std::uint64_t segments = 0;
  std::uint64_t collisions = 0;
  std::uint64_t scatters = 0;
  std::uint64_t absorbed = 0;
  std::uint64_t escaped = 0;
  std::uint64_t census = 0;     // at the end of the last cycle
  std::uint64_t crossings = 0;  // cell faces crossed inside the cube
  std::uint64_t path = 0;       // flight length in 2^-20 cell units
  std::uint64_t events = 0;     // sum of a hash of (id, segment, event) of every end of flight
  static constexpr int count = 10;
  std::uint64_t* begin() { return &created; }
  std::uint64_t hash() const {
    std::uint64_t h = 0;
    const std::uint64_t* f = &created;
    for (int i = 0; i < count; ++i) h = mix64(h ^ (f[i] + 0x9E3779B97F4A7C15ull * (i + 1)));
    return h;
  }
};

struct material {
  double scale;     // multiplies the table's cross sections
  double p_absorb;  // probability that a collision absorbs
};
inline constexpr std::array<material, 3> materials{{{1.0, 0.05}, {2.0, 0.20}, {0.5, 0.02}}};

struct problem {
  std::int64_t cells = 16;          // per side
  std::uint64_t particles = 10000;  // sourced per cycle, over the whole cube
  int cycles = 2;
  int lookups = 8;
  std::uint64_t table_size = 1 << 14;  // entries per material table
  double census_distance = 8;          // flight per cycle, in cells
  std::uint64_t seed = 1;
};

// Cross-section tables: materials.size() x table_size values in [0.5, 1.5).
inline std::vector<double> make_tables(const problem& p) {
  std::vector<double> t(materials.size() * p.table_size);
  for (std::size_t m = 0; m < materials.size(); ++m) {
    for (std::uint64_t k = 0; k < p.table_size; ++k) {
      t[m * p.table_size + k] = 0.5 + unit(hash4(p.seed, 0x7AB1E, m, k));
    }
  }
  return t;
}

inline int material_of(const problem& p, const std::int64_t c[3]) {
  const std::uint64_t linear = static_cast<std::uint64_t>((c[0] * p.cells + c[1]) * p.cells + c[2]);
  return static_cast<int>(below(hash4(p.seed, 0x3A7, linear), materials.size()));
}

inline void isotropic(double dir[3], std::uint64_t a, std::uint64_t b) {
  const double mu = 2 * unit(a) - 1, phi = 6.283185307179586 * unit(b);
  const double s = std::sqrt(1 - mu * mu);
  dir[0] = mu;
  dir[1] = s * std::cos(phi);
  dir[2] = s * std::sin(phi);
}

// Particle id's birth: uniform in the cube, isotropic, a full flight before census.
inline particle source(const problem& p, std::uint64_t id) {
  particle q;
  q.id = id;
  for (int d = 0; d < 3; ++d) {
    const double x = static_cast<double>(p.cells) * unit(hash4(p.seed, id, 0xB127, d));
    q.cell[d] = static_cast<std::int64_t>(x);
    if (q.cell[d] >= p.cells) q.cell[d] = p.cells - 1;
    q.pos[d] = x;
  }
  isotropic(q.dir, hash4(p.seed, id, 0xB127, 3), hash4(p.seed, id, 0xB127, 4));
  q.left = p.census_distance;
  return q;
}

enum class outcome { moved, scattered, absorbed, escaped, census };

// One segment of q's flight. `moved`: q is in a new cell (maybe another rank's); `scattered`:
// q flies on from the same cell in a new direction.
inline outcome segment(const problem& p, const double* tables, particle& q, tallies& t) {
  const int m = material_of(p, q.cell);
  double sigma = 1;
  if (p.lookups > 0) {
    double sum = 0;
    const double* table = tables + static_cast<std::size_t>(m) * p.table_size;
    for (int k = 0; k < p.lookups; ++k) {
      sum += table[below(hash4(p.seed, q.id, q.seg, 16 + k), p.table_size)];
    }
    sigma = sum / p.lookups;
  }
  sigma *= materials[static_cast<std::size_t>(m)].scale;
  const double d_coll = -std::log(1 - unit(hash4(p.seed, q.id, q.seg, 0))) / sigma;
  int axis = -1;
  double d_face = INFINITY;
  for (int d = 0; d < 3; ++d) {
    double f = INFINITY;
    if (q.dir[d] > 0) {
      f = (static_cast<double>(q.cell[d] + 1) - q.pos[d]) / q.dir[d];
    } else if (q.dir[d] < 0) {
      f = (static_cast<double>(q.cell[d]) - q.pos[d]) / q.dir[d];
    }
    if (f < 0) f = 0;
    if (f < d_face) {
      d_face = f;
      axis = d;
    }
  }
  const std::uint64_t seg = q.seg++;
  ++t.segments;
  double d = q.left;
  outcome out = outcome::census;
  if (d_coll < d && d_coll <= d_face) {
    d = d_coll;
    out = outcome::absorbed;  // or scattered: decided below
  } else if (d_face < d) {
    d = d_face;
    out = outcome::moved;
  }
  for (int k = 0; k < 3; ++k) q.pos[k] += q.dir[k] * d;
  q.left -= d;
  t.path += static_cast<std::uint64_t>(std::llround(d * 1048576.0));
  if (out == outcome::census) {
    q.left = 0;
    return out;
  }
  if (out == outcome::absorbed) {
    ++t.collisions;
    if (unit(hash4(p.seed, q.id, seg, 1)) < materials[static_cast<std::size_t>(m)].p_absorb) {
      ++t.absorbed;
      t.events += hash4(q.id, seg, 1);
      return outcome::absorbed;
    }
    ++t.scatters;
    isotropic(q.dir, hash4(p.seed, q.id, seg, 2), hash4(p.seed, q.id, seg, 3));
    return outcome::scattered;
  }
  // A face: exactly on it, in the next cell.
  const int step = q.dir[axis] > 0 ? 1 : -1;
  q.pos[axis] = static_cast<double>(step > 0 ? q.cell[axis] + 1 : q.cell[axis]);
  q.cell[axis] += step;
  if (q.cell[axis] < 0 || q.cell[axis] >= p.cells) {
    ++t.escaped;
    t.events += hash4(q.id, seg, 2);
    return outcome::escaped;
  }
  ++t.crossings;
  return outcome::moved;
}

// The cube split into dims[0] x dims[1] x dims[2] boxes of cells, one per rank.
struct decomposition {
  int dims[3] = {1, 1, 1};
  std::int64_t block[3] = {1, 1, 1};
  decomposition(std::int64_t cells, int ranks) {
    // Prime factors of ranks, largest first, each multiplying the smallest dimension.
    std::vector<int> factors;
    for (int f = 2, r = ranks; r > 1;) {
      if (r % f == 0) {
        factors.push_back(f);
        r /= f;
      } else {
        ++f;
      }
    }
    for (auto it = factors.rbegin(); it != factors.rend(); ++it) {
      int smallest = 0;
      for (int d = 1; d < 3; ++d) {
        if (dims[d] < dims[smallest]) smallest = d;
      }
      dims[smallest] *= *it;
    }
    for (int d = 0; d < 3; ++d) block[d] = (cells + dims[d] - 1) / dims[d];
  }
  int owner(const std::int64_t cell[3]) const {
    return static_cast<int>(((cell[0] / block[0]) * dims[1] + cell[1] / block[1]) * dims[2] +
                            cell[2] / block[2]);
  }
};

enum class fate { absorbed, escaped, census, migrates };

// Flies q until it is absorbed, escapes, reaches census, or enters a cell of another rank.
inline fate track(const problem& p, const double* tables, const decomposition& dec, int rank,
                  particle& q, tallies& t) {
  for (;;) {
    switch (segment(p, tables, q, t)) {
      case outcome::scattered:
        break;
      case outcome::moved:
        if (dec.owner(q.cell) != rank) return fate::migrates;
        break;
      case outcome::absorbed:
        return fate::absorbed;
      case outcome::escaped:
        return fate::escaped;
      case outcome::census:
        return fate::census;
    }
  }
}

// End of a cycle for a particle at census: counted, and (last cycle) tallied as census.
inline void at_census(particle& q, tallies& t, const problem& p, bool last_cycle) {
  t.events += hash4(q.id, q.seg, 3);
  if (last_cycle) ++t.census;
  q.left = p.census_distance;
}

// The whole problem on one rank, no messages: the reference every distributed run must match.
inline tallies run_serial(const problem& p, const std::vector<double>& tables) {
  const decomposition one(p.cells, 1);
  tallies t;
  std::vector<particle> live, next;
  for (int c = 0; c < p.cycles; ++c) {
    const std::uint64_t first = static_cast<std::uint64_t>(c) * p.particles;
    for (std::uint64_t i = 0; i < p.particles; ++i) live.push_back(source(p, first + i));
    t.created += p.particles;
    for (particle& q : live) {
      if (track(p, tables.data(), one, 0, q, t) == fate::census) {
        at_census(q, t, p, c + 1 == p.cycles);
        next.push_back(q);
      }
    }
    live.swap(next);
    next.clear();
  }
  return t;
}

}  // namespace buddy::apps::particles
