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

}  // namespace buddy::tools
