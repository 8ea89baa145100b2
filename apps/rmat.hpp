// R-MAT edges (Chakrabarti, Zhan, Faloutsos 2004) with the Graph500 probabilities
// (a, b, c, d) = (0.57, 0.19, 0.19, 0.05), drawn by edge id from a counter-based hash: edge e of
// a given seed and scale is the same on every rank and in any order, so any rank can regenerate
// any part of the graph (for verification) without communication. Vertex ids are not permuted:
// low ids are the hubs.
#pragma once

#include <cstdint>
#include <utility>

#include "app_common.hpp"

namespace buddy::apps {

// Edge e of the R-MAT graph with 2^scale vertices: (source, target).
inline std::pair<std::uint64_t, std::uint64_t> rmat_edge(std::uint64_t seed, int scale,
                                                         std::uint64_t e) {
  std::uint64_t u = 0, v = 0;
  for (int level = 0; level < scale; ++level) {
    const double p = unit(hash4(seed, e, static_cast<std::uint64_t>(level), 0x52AA));
    const std::uint64_t bit = std::uint64_t{1} << (scale - 1 - level);
    if (p < 0.57) {
      // quadrant a: neither bit
    } else if (p < 0.76) {
      v |= bit;  // b
    } else if (p < 0.95) {
      u |= bit;  // c
    } else {
      u |= bit;  // d
      v |= bit;
    }
  }
  return {u, v};
}

// log2(n) if n is a power of two (n >= 2), else -1.
inline int log2_exact(std::uint64_t n) {
  if (n < 2 || (n & (n - 1)) != 0) return -1;
  int s = 0;
  while ((std::uint64_t{1} << s) != n) ++s;
  return s;
}

}  // namespace buddy::apps
