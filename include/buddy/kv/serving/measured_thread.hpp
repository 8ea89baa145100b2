// A serving thread, optionally pinned to a cpu, whose CPU time any thread can read while it runs
// and after it has ended (host and engine report per-thread CPU seconds from it).
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <functional>
#include <thread>

namespace buddy::kv::serving {

class MeasuredThread {
 public:
  MeasuredThread() = default;
  MeasuredThread(const MeasuredThread&) = delete;
  MeasuredThread& operator=(const MeasuredThread&) = delete;
  ~MeasuredThread() { join(); }

  // Runs body on a new thread pinned to cpu (-1: not pinned).
  void start(int cpu, std::function<void()> body);
  void join();
  bool joinable() const noexcept { return t_.joinable(); }
  int cpu() const noexcept { return cpu_; }
  // CPU seconds used so far (the final figure once the thread has ended); 0 before it starts.
  double cpu_s() const noexcept;

 private:
  std::thread t_;
  int cpu_ = -1;
  std::atomic<clockid_t> clock_{0};
  std::atomic<bool> clock_ready_{false};
  std::atomic<double> final_cpu_s_{-1.0};
};

}  // namespace buddy::kv::serving
