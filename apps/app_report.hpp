// Shared by the buddy::msg applications: timing of the measured region (wall, CPU, the comm's
// handler and communication time, the app's own compute time), the app's memory-traffic count,
// and the one-line JSON result every app prints:
//   {"app","mode","routing","ranks","elapsed_s","mmsgs_per_s","host_cpu_s","handler_s",
//    "comm_s","compute_s","msgs","msg_bytes","mem_bytes","mem_bytes_per_msg_byte",
//    <app-specific fields>, "verified"}, written with base::json::Writer (strings escaped).
// Every *_s field except elapsed_s is summed over ranks. docs/apps.md defines each app's
// mem_bytes (its own data accesses, counted in element bytes).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "app_common.hpp"
#include "buddy/base/json.hpp"

namespace buddy::apps {

// The mode the comm really runs in: options::mode once buddy::msg has one, else "inline".
template <class Options>
const char* mode_name(const Options& o) {
  if constexpr (requires { msg::to_string(o.mode); }) {
    return msg::to_string(o.mode);
  } else {
    return "inline";
  }
}

// Time the app spends on its own work, outside every messaging call: wrap that work (never an
// async, progress or barrier) in compute.run([&] { ... }).
class compute_clock {
 public:
  template <class F>
  decltype(auto) run(F&& f) {
    struct stop {
      compute_clock* c;
      double t0;
      ~stop() { c->seconds_ += msg::now_s() - t0; }
    } s{this, msg::now_s()};
    return f();
  }
  double seconds() const { return seconds_; }

 private:
  double seconds_ = 0;
};

// What one measured region cost, summed over ranks (elapsed_s: the slowest rank).
struct region {
  double elapsed_s = 0;
  double host_cpu_s = 0;
  double handler_s = 0;
  double comm_s = 0;
  double compute_s = 0;
  std::uint64_t msgs = 0;       // records sent by async (all ranks)
  std::uint64_t msg_bytes = 0;  // their bytes, record headers included
  std::uint64_t mem_bytes = 0;  // the app's own memory traffic (see docs/apps.md)
};

// Measures a region: start() right after a barrier, stop() (collective) after its last barrier.
class region_timer {
 public:
  explicit region_timer(msg::comm& world) : world_(world) {}
  void start() {
    s0_ = world_.local_stats();
    cpu0_ = cpu_seconds();
    t0_ = msg::now_s();
  }
  region stop(const compute_clock& compute, std::uint64_t mem_bytes) {
    const double wall = msg::now_s() - t0_;
    const double cpu = cpu_seconds() - cpu0_;
    const msg::stats s = world_.local_stats();
    region r;
    r.elapsed_s = world_.all_reduce_max(wall);
    r.host_cpu_s = world_.all_reduce_sum(cpu);
    r.handler_s = world_.all_reduce_sum(s.handler_s - s0_.handler_s);
    r.comm_s = world_.all_reduce_sum(s.comm_s - s0_.comm_s);
    r.compute_s = world_.all_reduce_sum(compute.seconds());
    r.msgs = world_.all_reduce_sum(static_cast<unsigned long long>(s.msgs_sent - s0_.msgs_sent));
    r.msg_bytes =
        world_.all_reduce_sum(static_cast<unsigned long long>(s.bytes_sent - s0_.bytes_sent));
    r.mem_bytes = world_.all_reduce_sum(static_cast<unsigned long long>(mem_bytes));
    return r;
  }

 private:
  msg::comm& world_;
  msg::stats s0_;
  double cpu0_ = 0;
  double t0_ = 0;
};

struct result {
  const char* app;
  const char* mode;
  const char* routing;
  int ranks;
  region cost;
  bool verified;

  double mmsgs_per_s() const {
    return cost.elapsed_s > 0 ? static_cast<double>(cost.msgs) / cost.elapsed_s / 1e6 : 0;
  }
  double mem_per_msg_byte() const {
    return cost.msg_bytes > 0
               ? static_cast<double>(cost.mem_bytes) / static_cast<double>(cost.msg_bytes)
               : 0;
  }
};

// The result line: the fields every app has, then the app's own (app_fields(w) writes them as
// members: w.member("rows", n)...), then "verified". One JSON object on one line.
template <class AppFields>
void print_json(const result& r, AppFields&& app_fields) {
  using base::json::Fixed;
  const region& c = r.cost;
  base::json::Writer w;
  w.begin_object().member("app", r.app).member("mode", r.mode).member("routing", r.routing);
  w.member("ranks", r.ranks).member("elapsed_s", Fixed{c.elapsed_s, 6});
  w.member("mmsgs_per_s", Fixed{r.mmsgs_per_s(), 3}).member("host_cpu_s", Fixed{c.host_cpu_s, 3});
  w.member("handler_s", Fixed{c.handler_s, 4}).member("comm_s", Fixed{c.comm_s, 4});
  w.member("compute_s", Fixed{c.compute_s, 4}).member("msgs", c.msgs);
  w.member("msg_bytes", c.msg_bytes).member("mem_bytes", c.mem_bytes);
  w.member("mem_bytes_per_msg_byte", Fixed{r.mem_per_msg_byte(), 4});
  app_fields(w);
  w.member("verified", r.verified).end_object();
  std::printf("%s\n", w.str().c_str());
  std::fflush(stdout);
}

// The human-readable lines every app prints after its own summary line.
inline void print_cost(const result& r) {
  const region& c = r.cost;
  std::printf(
      "  elapsed %.3f s  %.2f M messages/s  host cpu %.2f s (handlers %.2f s, comm %.2f s, "
      "compute %.2f s, summed over ranks)\n"
      "  %llu messages, %llu message bytes, %llu app memory bytes: %.2f memory bytes per "
      "message byte\n",
      c.elapsed_s, r.mmsgs_per_s(), c.host_cpu_s, c.handler_s, c.comm_s, c.compute_s,
      static_cast<unsigned long long>(c.msgs), static_cast<unsigned long long>(c.msg_bytes),
      static_cast<unsigned long long>(c.mem_bytes), r.mem_per_msg_byte());
}

}  // namespace buddy::apps
