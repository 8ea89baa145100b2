// YCSB core workloads A (50% read / 50% update), B (95/5) and C (100% read) over a fixed key
// space, with uniform or scrambled-Zipf key choice (ScrambledZipfian, as YCSB does).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "buddy/kv/client/zipf.hpp"

namespace buddy::kv::ycsb {

enum class Dist : std::uint8_t { uniform, zipf };

struct Workload {
  char name = 'b';
  double read_fraction = 0.95;
};

inline std::optional<Workload> workload(std::string_view name) {
  if (name == "a") return Workload{'a', 0.50};
  if (name == "b") return Workload{'b', 0.95};
  if (name == "c") return Workload{'c', 1.00};
  return std::nullopt;
}

// One generator per thread. The Zipf tables are shared read-only (construction is O(keys)).
class Generator {
 public:
  Generator(Workload w, Dist d, const ZipfGenerator* zipf, std::uint64_t keys, std::uint64_t seed)
      : w_(w), d_(d), zipf_(zipf), keys_(keys), rng_(seed) {}

  struct Next {
    bool read;
    std::uint64_t key;  // 0..keys-1
  };
  Next next() {
    const bool read = w_.read_fraction >= 1.0 || unit() < w_.read_fraction;
    const std::uint64_t k = d_ == Dist::zipf ? zipf_->scrambled(rng_) : rng_() % keys_;
    return {read, k};
  }

 private:
  double unit() { return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0); }

  Workload w_;
  Dist d_;
  const ZipfGenerator* zipf_;
  std::uint64_t keys_;
  std::mt19937_64 rng_;
};

}  // namespace buddy::kv::ycsb
