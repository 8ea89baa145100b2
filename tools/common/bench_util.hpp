// Shared by the benchmarks: pinning to a core and summarising repeated runs.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <vector>

namespace buddy::tools {

// Pins the calling thread to one cpu; cpu < 0 leaves it unpinned. Returns false if refused.
inline bool pin_to_cpu(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The fastest of repeated rates: interference on a shared machine only ever slows a run down.
inline double fastest(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}

// The ratio a[r] / b[r] of runs made back to back (repeat r of two implementations), summarised
// over the repeats: how far one run's verdict can be from another's on this machine.
struct Spread {
  double median = 0, min = 0, max = 0;
};
inline Spread pair_ratios(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) r.push_back(a[i] / b[i]);
  if (r.empty()) return {};
  return {median(r), *std::min_element(r.begin(), r.end()), fastest(r)};
}
// max / min of one implementation's own runs: its spread alone, with no competitor involved.
inline double self_spread(const std::vector<double>& v) {
  return fastest(v) / *std::min_element(v.begin(), v.end());
}

}  // namespace buddy::tools
