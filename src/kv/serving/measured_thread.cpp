#include "buddy/kv/serving/measured_thread.hpp"

#include <sched.h>

#include "buddy/base/clock.hpp"

namespace buddy::kv::serving {

namespace {
double seconds(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e9;
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
    final_cpu_s_.store(seconds(base::thread_cpu_ns()));
  });
}

void MeasuredThread::join() {
  if (t_.joinable()) t_.join();
}

double MeasuredThread::cpu_s() const noexcept {
  if (const double f = final_cpu_s_.load(); f >= 0) return f;
  if (!clock_ready_.load()) return 0.0;
  return seconds(base::clock_ns(clock_.load()));  // 0 if the thread is gone
}

}  // namespace buddy::kv::serving
