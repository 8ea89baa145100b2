// Zipf-distributed ranks (Gray et al., "Quickly generating billion-record synthetic databases",
// SIGMOD'94, the generator YCSB uses) and YCSB's scrambled variant, which spreads the popular
// ranks over the key space. Dependency-free: header only, any uniform random bit generator.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace buddy::kv {

// splitmix64 finaliser: a bijection on 64-bit integers, used to scramble ranks and make keys.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class ZipfGenerator {
 public:
  // Ranks 0..n-1, rank 0 the most popular; theta in (0, 1), YCSB uses 0.99. Setup is O(min(n,
  // 2^20)).
  ZipfGenerator(std::uint64_t n, double theta) : n_(n), theta_(theta) {
    if (n == 0) throw std::invalid_argument("zipf: n must be > 0");
    if (!(theta > 0.0 && theta < 1.0)) throw std::invalid_argument("zipf: theta must be in (0,1)");
    zetan_ = zeta(n, theta);
    const double zeta2 = zeta(2, theta);
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - theta)) / (1.0 - zeta2 / zetan_);
    half_pow_theta_ = 1.0 + std::pow(0.5, theta);
  }

  std::uint64_t n() const noexcept { return n_; }
  double theta() const noexcept { return theta_; }

  // A rank from a uniform u in [0, 1).
  std::uint64_t rank(double u) const noexcept {
    const double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < half_pow_theta_) return n_ > 1 ? 1 : 0;
    const auto r = static_cast<std::uint64_t>(static_cast<double>(n_) *
                                              std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return r < n_ ? r : n_ - 1;
  }

  template <class Urbg>
  std::uint64_t operator()(Urbg& g) const {
    return rank(uniform01(g));
  }

  // YCSB's ScrambledZipfian: the rank hashed onto the key space, so hot keys are not adjacent.
  template <class Urbg>
  std::uint64_t scrambled(Urbg& g) const {
    return mix64((*this)(g)) % n_;
  }

  // sum_{i=1..n} i^-theta. Summed term by term up to kExactTerms; past that the tail is the
  // Euler-Maclaurin formula (integral, half the end terms, the first derivative correction),
  // whose error there is far below 1e-12 of the sum, so a key space of 2^36 takes milliseconds,
  // not the half hour the plain sum would.
  static constexpr std::uint64_t kExactTerms = std::uint64_t{1} << 20;
  static double zeta(std::uint64_t n, double theta) {
    const std::uint64_t m = n < kExactTerms ? n : kExactTerms;
    double sum = 0;
    for (std::uint64_t i = 1; i <= m; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
    if (n == m) return sum;
    // sum_{i=m+1..n} f(i), f(x) = x^-theta:
    //   = int_m^n f + (f(n) - f(m)) / 2 + (f'(n) - f'(m)) / 12 + O(m^(-theta-3))
    const double a = static_cast<double>(m), b = static_cast<double>(n);
    const auto f = [theta](double x) { return std::pow(x, -theta); };
    const auto df = [theta](double x) { return -theta * std::pow(x, -theta - 1.0); };
    const double integral = (std::pow(b, 1.0 - theta) - std::pow(a, 1.0 - theta)) / (1.0 - theta);
    return sum + integral + (f(b) - f(a)) / 2.0 + (df(b) - df(a)) / 12.0;
  }

 private:
  template <class Urbg>
  static double uniform01(Urbg& g) {
    // 53 random bits from a 64-bit generator output.
    const std::uint64_t x = static_cast<std::uint64_t>(g());
    return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
  }

  std::uint64_t n_;
  double theta_;
  double zetan_ = 0, alpha_ = 0, eta_ = 0, half_pow_theta_ = 0;
};

}  // namespace buddy::kv
