#include "buddy/kv/serving/measured_thread.hpp"

#include <sched.h>

namespace buddy::kv::serving {

namespace {
double seconds(const timespec& ts) {
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

void MeasuredThread::start(int cpu, std::function<void()> body) {
  cpu_ = cpu;
  t_ = std::thread([this, body = std::move(body)] {
    if (cpu_ >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu_, &set);
      pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    clockid_t id{};
    if (pthread_getcpuclockid(pthread_self(), &id) == 0) {
      clock_.store(id);
      clock_ready_.store(true);
    }
    body();
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    final_cpu_s_.store(seconds(ts));
  });
}

void MeasuredThread::join() {
  if (t_.joinable()) t_.join();
}

double MeasuredThread::cpu_s() const noexcept {
  if (const double f = final_cpu_s_.load(); f >= 0) return f;
  if (!clock_ready_.load()) return 0.0;
  timespec ts{};
  if (clock_gettime(clock_.load(), &ts) != 0) return 0.0;
  return seconds(ts);
}

}  // namespace buddy::kv::serving
