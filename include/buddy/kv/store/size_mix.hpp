// The mixed-size workload that measures the store's memory efficiency (issue 17): key lengths
// log-uniform over 1..255 bytes and value lengths log-uniform over 0..60,000 bytes (mean about
// 46 B and 5.4 KiB: 10,000 keys carry about 55 MB), so every slab size class and page-sized items
// are all in use at once. Header only; any 64-bit uniform random bit generator; keys are made
// distinct by a decimal prefix of their number.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

namespace buddy::kv {

struct SizeMix {
  std::size_t max_key = 255;
  std::size_t max_value = 60'000;

  // log-uniform over 1..hi_plus_one, minus `minus`: both ends are reached.
  template <class Rng>
  static std::size_t log_uniform(Rng& rng, std::size_t hi_plus_one, std::size_t minus) {
    std::uniform_real_distribution<double> u(0.0, std::log(static_cast<double>(hi_plus_one) + 1));
    const auto x = static_cast<std::size_t>(std::exp(u(rng)));
    return std::min(std::max<std::size_t>(x, 1), hi_plus_one) - minus;
  }

  // Key number i with a random length: its decimal digits padded with 'k' to the length (never
  // shorter than the digits), so distinct numbers give distinct keys.
  template <class Rng>
  std::string key(Rng& rng, std::uint64_t i) const {
    std::string k = std::to_string(i);
    const std::size_t len = std::max(log_uniform(rng, max_key, 0), k.size());
    k.resize(len, 'k');
    return k;
  }
  template <class Rng>
  std::size_t value_len(Rng& rng) const {
    return log_uniform(rng, max_value + 1, 1);
  }
};

}  // namespace buddy::kv
