// buddykv-bench: YCSB workloads A/B/C against buddykv (UDP, batched datagrams), a stock
// memcached or a stock Redis (TCP, pipelined), with uniform or Zipf keys, optional preload and
// verification of every GET, a progress line each second, and throughput and latency percentiles at
// the end.

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_util.hpp"
#include "buddy/base/clock.hpp"
#include "buddy/base/fields.hpp"
#include "buddy/base/json.hpp"
#include "buddy/kv/client/ycsb.hpp"
#include "buddykv_target.hpp"
#include "cli.hpp"
#include "cluster_target.hpp"
#include "cpu_list.hpp"
#include "keyspace.hpp"
#include "latency_histogram.hpp"
#include "memcached_target.hpp"
#include "memory_available.hpp"
#include "redis_target.hpp"
#include "registry_arg.hpp"
#include "verifier.hpp"

using namespace buddy;
using namespace buddy::bench;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string target = "buddykv://127.0.0.1:7000";
  std::string workload = "b";
  std::string dist = "zipf";
  double theta = 0.99;
  std::uint64_t keys = 1'000'000;
  std::size_t key_size = 8;
  std::size_t value_size = 8;
  ValueSizes sizes;  // value_size, or --value-sizes
  unsigned threads = 1;
  std::size_t batch = 0;
  std::size_t window = 1024;
  double duration = 5.0;
  bool preload = true;
  bool verify = false;
  bool json = false;
  bool quiet = false;
  std::size_t max_datagram = kv::wire::kDefaultDatagram;
  unsigned timeout_ms = 50;
  unsigned min_timeout_us = 2000;
  unsigned max_timeout_ms = 1000;
  bool segment_offload = true;
  std::vector<int> cpus;
  std::uint64_t seed = 1;
  // Many servers (docs/kv-cluster.md): a static list, or the registry's servers, followed.
  std::string servers, registry;
  std::shared_ptr<kv::Membership> membership;
  bool cluster() const { return !servers.empty() || membership != nullptr; }
};

struct Endpoint {
  std::string scheme, host;
  std::uint16_t port = 0;
};

std::optional<Endpoint> parse_target(const std::string& s) {
  const auto sep = s.find("://");
  if (sep == std::string::npos) return std::nullopt;
  Endpoint e;
  e.scheme = s.substr(0, sep);
  const std::string rest = s.substr(sep + 3);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  e.host = rest.substr(0, colon);
  try {
    const unsigned long p = std::stoul(rest.substr(colon + 1));
    if (p == 0 || p > 65535) return std::nullopt;
    e.port = static_cast<std::uint16_t>(p);
  } catch (...) {
    return std::nullopt;
  }
  if (e.scheme != "buddykv" && e.scheme != "memcached" && e.scheme != "redis") return std::nullopt;
  return e;
}

// The TCP targets' options: the endpoint and the window, the rest their defaults.
template <class T>
T tcp_options(const Options& o, const Endpoint& e) {
  T t;
  t.host = e.host;
  t.port = e.port;
  t.window = o.window;
  return t;
}

std::unique_ptr<Target> connect(const Options& o, const Endpoint& e) {
  if (e.scheme == "memcached") return make_memcached_target(tcp_options<MemcachedOptions>(o, e));
  if (e.scheme == "redis") return make_redis_target(tcp_options<RedisOptions>(o, e));
  kv::ClientConfig c;
  c.server = e.host + ":" + std::to_string(e.port);
  c.window = o.window;
  c.batch = o.batch;
  c.max_datagram = o.max_datagram;
  c.timeout = std::chrono::milliseconds(o.timeout_ms);
  c.min_timeout = std::chrono::microseconds(o.min_timeout_us);
  c.max_timeout = std::chrono::milliseconds(o.max_timeout_ms);
  c.segment_offload = o.segment_offload;
  if (o.cluster()) {
    kv::ClusterConfig cc;
    cc.client = c;
    cc.membership = o.membership;
    if (!o.membership) cc.servers = kv::parse_server_list(o.servers);
    return std::make_unique<ClusterTarget>(cc);
  }
  return std::make_unique<BuddykvTarget>(c);
}

// What a thread saw; merged at the end.
struct Tally {
  tools::LatencyHistogram lat;
  std::uint64_t ops = 0, gets = 0, sets = 0, hits = 0, misses = 0, errors = 0, timeouts = 0;
  std::uint64_t bad_values = 0, stale = 0, stale_after_retry = 0, missing = 0, set_failures = 0;
  std::uint64_t moved_reads = 0;          // answered by another server than the acknowledging one
  std::uint64_t cpu_ns = 0;               // the thread's CPU time over the measured run
  std::uint64_t sys_ns = 0;               // the kernel's part of it (system calls, softirqs)
  std::vector<std::uint64_t> stale_keys;  // reclassified at the end (a SET may be retried late)
  std::uint64_t max_stall_ns = 0;         // longest wait for any answer with requests in flight
  std::string first_error;
  void note(const std::string& e) {
    if (first_error.empty()) first_error = e;
  }
  // The counts' field table (base/fields.hpp): what merging the threads' tallies sums.
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("ops", s.ops...);
    f("gets", s.gets...);
    f("sets", s.sets...);
    f("hits", s.hits...);
    f("misses", s.misses...);
    f("errors", s.errors...);
    f("timeouts", s.timeouts...);
    f("bad_values", s.bad_values...);
    f("stale", s.stale...);
    f("stale_after_retry", s.stale_after_retry...);
    f("missing", s.missing...);
    f("set_failures", s.set_failures...);
    f("moved_reads", s.moved_reads...);
    f("cpu_ns", s.cpu_ns...);
    f("sys_ns", s.sys_ns...);
  }
};

// The calling thread's CPU time in the kernel (getrusage's system time).
std::uint64_t thread_sys_ns() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<std::uint64_t>(ru.ru_stime.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ru.ru_stime.tv_usec) * 1000ull;
}

constexpr std::size_t kTraceOps = std::size_t{1} << 22;  // per thread, replayed cyclically

struct InFlight {
  std::uint64_t key = 0;
  std::uint64_t version = 0;  // SET: the version written; GET: acked version at start
  bool get = true;
  std::uint32_t server = 0;  // GET: 1 + the server that acknowledged `version` (0: one server)
};

// Runs `total` SETs of version 1 over keys [first, last) to load the store.
void preload(Target& t, const Options& o, std::uint64_t first, std::uint64_t last, Verifier* ver,
             Tally& tally) {
  std::string key, value;
  std::vector<Done> done(256);
  std::uint64_t next = first;
  while (next < last || t.outstanding() > 0) {
    while (next < last) {
      make_key(next, o.key_size, key);
      make_value(next, 1, o.sizes.of(next, 1), value);
      if (!t.submit(OpKind::set, key, value, next)) break;
      if (ver != nullptr) ver->begin_set(next);
      ++next;
    }
    const std::size_t n = t.poll(done, std::chrono::microseconds(1000));
    for (std::size_t i = 0; i < n; ++i) {
      if (done[i].outcome != Outcome::ok) {
        ++tally.set_failures;
        tally.note("preload SET of key " + std::to_string(done[i].tag) + ": " +
                   std::string(done[i].detail));
      } else if (ver != nullptr) {
        ver->set_acked(done[i].tag, 1, done[i].retried, done[i].server);
      }
    }
  }
}

// The operations of one thread, generated before the clock starts (as MICA's and the store
// bench's drivers do), so the Zipf sampler's pow() is not charged to either target. The trace is
// replayed cyclically: entry = key << 1 | is_read.
std::vector<std::uint64_t> make_trace(const Options& o, const kv::ycsb::Workload& w,
                                      kv::ycsb::Dist d, const kv::ZipfGenerator* zipf,
                                      unsigned id) {
  kv::ycsb::Generator gen(w, d, zipf, o.keys, o.seed * 0x9e3779b97f4a7c15ull + id + 1);
  std::vector<std::uint64_t> trace(kTraceOps);
  for (auto& e : trace) {
    const auto n = gen.next();
    e = n.key << 1 | (n.read ? 1u : 0u);
  }
  return trace;
}

void run_thread(Target& t, const Options& o, const std::vector<std::uint64_t>& trace, Verifier* ver,
                const std::atomic<bool>& stop, std::atomic<std::uint64_t>& progress, Tally& tally) {
  std::size_t pos = 0;
  std::vector<InFlight> slots(o.window);
  std::vector<std::uint32_t> free_slots;
  for (std::size_t i = o.window; i-- > 0;) free_slots.push_back(static_cast<std::uint32_t>(i));
  std::vector<Done> done(512);
  std::string key, value, scratch;
  std::uint64_t published = 0;
  auto last_answer = Clock::now();
  const std::uint64_t cpu0 = base::thread_cpu_ns(), sys0 = thread_sys_ns();
  auto finish = [&](const Done& r) {
    InFlight& f = slots[r.tag];
    free_slots.push_back(static_cast<std::uint32_t>(r.tag));
    ++tally.ops;
    tally.lat.record(r.latency_ns);
    if (r.outcome == Outcome::timeout) {
      ++tally.timeouts;
      if (!f.get && ver != nullptr) ver->set_retried(f.key);  // may still land later
      return;
    }
    if (!f.get) {
      ++tally.sets;
      if (r.outcome != Outcome::ok) {
        ++tally.errors;
        tally.note("SET answered " + std::string(r.detail));
      } else if (ver != nullptr) {
        ver->set_acked(f.key, f.version, r.retried, r.server);
      }
      return;
    }
    ++tally.gets;
    if (r.outcome == Outcome::ok) {
      ++tally.hits;
    } else if (r.outcome == Outcome::not_found) {
      ++tally.misses;
    } else {
      ++tally.errors;
      tally.note("GET answered " + std::string(r.detail));
      return;
    }
    if (ver == nullptr) return;
    if (f.server != 0 && r.server != f.server) {
      ++tally.moved_reads;
      if (ver->check_moved_get(f.key, r.outcome == Outcome::ok, r.value, scratch) != Check::ok) {
        ++tally.bad_values;
        tally.note("GET of key " + std::to_string(f.key) + " returned a value never written");
      }
      return;
    }
    switch (ver->check_get(f.key, f.version, r.outcome == Outcome::ok, r.value, scratch)) {
      case Check::ok:
        break;
      case Check::bad_value:
        ++tally.bad_values;
        tally.note("GET of key " + std::to_string(f.key) + " returned a value never written");
        break;
      case Check::stale:
      case Check::stale_after_retry:
        tally.stale_keys.push_back(f.key);
        break;
      case Check::missing:
        ++tally.missing;
        tally.note("GET of key " + std::to_string(f.key) + " missed after an acknowledged SET");
        break;
    }
  };
  while (!stop.load(std::memory_order_relaxed)) {
    while (!free_slots.empty()) {
      const std::uint64_t e = trace[pos];
      pos = pos + 1 == trace.size() ? 0 : pos + 1;
      const struct {
        bool read;
        std::uint64_t key;
      } next{(e & 1) != 0, e >> 1};
      const std::uint32_t s = free_slots.back();
      InFlight& f = slots[s];
      f.key = next.key;
      f.get = next.read;
      make_key(next.key, o.key_size, key);
      if (f.get) {
        if (ver != nullptr) {
          std::tie(f.version, f.server) = ver->acked(next.key);
        } else {
          f.version = 0;
        }
        if (!t.submit(OpKind::get, key, {}, s)) break;
      } else {
        f.version = ver != nullptr ? ver->begin_set(next.key) : 2;
        make_value(next.key, f.version, o.sizes.of(next.key, f.version), value);
        if (!t.submit(OpKind::set, key, value, s)) break;
      }
      free_slots.pop_back();
    }
    const std::size_t n = t.poll(done, std::chrono::microseconds(200));
    if (n != 0 || t.outstanding() == 0) {
      const auto now = Clock::now();
      if (n != 0) {
        tally.max_stall_ns = std::max<std::uint64_t>(
            tally.max_stall_ns,
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_answer).count());
      }
      last_answer = now;
    }
    for (std::size_t i = 0; i < n; ++i) finish(done[i]);
    if (tally.ops - published >= 1024) {
      progress.fetch_add(tally.ops - published, std::memory_order_relaxed);
      published = tally.ops;
    }
  }
  tally.cpu_ns = base::thread_cpu_ns() - cpu0;
  tally.sys_ns = thread_sys_ns() - sys0;
  // Drain: answers that arrive after the clock stopped still count for verification, not rate.
  const std::uint64_t counted = tally.ops;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (t.outstanding() > 0 && Clock::now() < deadline) {
    const std::size_t n = t.poll(done, std::chrono::microseconds(1000));
    for (std::size_t i = 0; i < n; ++i) finish(done[i]);
  }
  progress.fetch_add(counted - published, std::memory_order_relaxed);
  tally.ops = counted;
}

// --verify, after the run: every key with an acknowledged SET is read once more and must hold
// that version or a newer issued one, with no allowance for retransmissions (the servers'
// exactly-once windows keep a resent SET from being applied twice): else a lost acknowledged
// write. Over many servers the key is asked of the server that acknowledged it, while that
// server is still a member (acknowledged by a server that left: not checked, counted on_gone).
struct ReadBack {
  std::uint64_t keys = 0;      // read back
  std::uint64_t lost = 0;      // missing, older than acknowledged, or corrupt
  std::uint64_t timeouts = 0;  // no answer
  std::uint64_t on_gone = 0;   // acknowledged by a server that left (not checked)
  std::string first_lost;
};

ReadBack read_back(Target& t, ClusterTarget* cluster, const Options& o, const Verifier& ver) {
  ReadBack rb;
  std::string key, scratch;
  std::vector<Done> done(512);
  auto take = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const Done& d = done[i];
      if (d.outcome == Outcome::timeout || d.outcome == Outcome::error) {
        ++rb.timeouts;
        continue;
      }
      if (ver.check_final(d.tag, d.outcome == Outcome::ok, d.value, scratch) != Check::ok &&
          rb.lost++ == 0) {
        const auto [v, srv] = ver.acked(d.tag);
        rb.first_lost =
            "key " + std::to_string(d.tag) + " (acknowledged version " + std::to_string(v) +
            (cluster != nullptr ? " by server " + std::to_string(srv - 1) : "") + ") read back " +
            (d.outcome == Outcome::ok ? "an older or foreign value" : "not_found");
      }
    }
  };
  auto member = [&](std::uint32_t srv) {
    return srv != 0 && cluster->client().servers().contains(srv - 1);
  };
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  for (std::uint64_t k = 0; k < o.keys && Clock::now() < deadline; ++k) {
    const auto [v, srv] = ver.acked(k);
    if (v == 0) continue;
    if (cluster != nullptr && !member(srv)) {
      ++rb.on_gone;
      continue;
    }
    make_key(k, o.key_size, key);
    bool sent = false;
    while (Clock::now() < deadline) {
      sent = cluster != nullptr ? cluster->submit_to(srv - 1, key, k)
                                : t.submit(OpKind::get, key, {}, k);
      if (sent || (cluster != nullptr && !member(srv))) break;  // sent, or the server left
      take(t.poll(done, std::chrono::microseconds(1000)));
    }
    if (sent) {
      ++rb.keys;
    } else if (cluster != nullptr && !member(srv)) {
      ++rb.on_gone;
    } else {
      ++rb.timeouts;  // not even sent before the deadline: unchecked, so not verified
    }
  }
  while (t.outstanding() > 0 && Clock::now() < deadline) {
    take(t.poll(done, std::chrono::microseconds(1000)));
  }
  rb.timeouts += t.outstanding();
  return rb;
}

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string cpus;
  CLI::App app{"buddykv-bench: YCSB A/B/C against buddykv, memcached or Redis", "buddykv-bench"};
  app.footer(
      "Exit status: 0 done, 1 could not connect or --verify found a wrong answer, 2 bad\n"
      "arguments (more --keys than --verify can hold in memory included; docs/tools.md).");
  auto* target = app.add_option("--target", o.target,
                                "buddykv://HOST:PORT, memcached://HOST:PORT or redis://HOST:PORT")
                     ->capture_default_str();
  auto* servers = app.add_option("--servers", o.servers,
                                 "buddykv on many servers A,B,C (ids 0, 1, 2, ...), each key "
                                 "to its owner (docs/kv-cluster.md)")
                      ->excludes(target);
  app.add_option("--registry", o.registry,
                 "buddykv on the servers registered at etcd://HOST:PORT/PREFIX, followed as "
                 "they join and leave")
      ->excludes(target)
      ->excludes(servers);
  app.add_option("--workload", o.workload, "YCSB workload: a (50% GET), b (95%), c (100%)")
      ->check(CLI::IsMember({"a", "b", "c"}))
      ->capture_default_str();
  app.add_option("--dist", o.dist, "key distribution")
      ->check(CLI::IsMember({"uniform", "zipf"}))
      ->capture_default_str();
  app.add_option("--theta", o.theta, "Zipf skew")
      ->check(CLI::Range(0.01, 0.999))
      ->capture_default_str();
  app.add_option("--keys", o.keys, "key space")
      ->check(CLI::Range(1ull, 1ull << 36))
      ->capture_default_str();
  app.add_option("--key-size", o.key_size, "key bytes")
      ->check(CLI::Range(1, 250))
      ->capture_default_str();
  auto* vs = app.add_option("--value-size", o.value_size, "value bytes")
                 ->check(CLI::Range(1, 1 << 20))
                 ->capture_default_str();
  std::vector<std::size_t> value_sizes;
  app.add_option("--value-sizes", value_sizes,
                 "mixed value sizes, e.g. 8,100,1000: each SET picks one by key and version")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 20))
      ->excludes(vs);
  app.add_option("--threads", o.threads, "client threads, each with its own socket")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--batch", o.batch, "most requests per datagram (0: as many as fit)")
      ->capture_default_str();
  app.add_option("--window", o.window, "outstanding requests per thread")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--duration", o.duration, "seconds of measured load")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--preload", o.preload, "load every key first so GETs hit (true/false)")
      ->capture_default_str();
  app.add_flag("--verify", o.verify, "check every GET against the acknowledged SETs");
  app.add_option("--max-datagram", o.max_datagram, "largest request datagram (buddykv)")
      ->check(CLI::Range(std::size_t{128}, std::size_t{65507}))
      ->capture_default_str();
  app.add_option("--timeout-ms", o.timeout_ms,
                 "retransmission timeout before a round trip is measured (buddykv)")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--min-timeout-us", o.min_timeout_us,
                 "floor of the RTT-based retransmission timeout (buddykv)")
      ->check(CLI::Range(1, 60000000))
      ->capture_default_str();
  app.add_option("--max-timeout-ms", o.max_timeout_ms,
                 "ceiling of the retransmission timeout, backoff included (buddykv)")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--segment-offload", o.segment_offload,
                 "send runs of equal-sized datagrams as one UDP_SEGMENT send (buddykv; true/false)")
      ->capture_default_str();
  app.add_option("--cpus", cpus, "pin client thread i to the i-th cpu of this list, e.g. 1 or 2,3")
      ->check(tools::check_cpu_list_not_empty);
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_flag("--json", o.json, "print the final result as one JSON object");
  app.add_flag("--quiet", o.quiet, "no progress lines");
  if (auto rc = tools::parse_args(app, argc, argv)) return *rc;

  if (!o.registry.empty()) {
    std::string why;
    const auto url = tools::parse_registry_arg(o.registry, &why);
    if (!url) {
      std::fprintf(stderr, "buddykv-bench: --registry: %s\n", why.c_str());
      return 2;
    }
    try {
      o.membership = tools::follow_registry(*url);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "buddykv-bench: --registry: %s\n", e.what());
      return 2;
    }
    if (o.membership->servers().empty()) {
      std::fprintf(stderr, "buddykv-bench: --registry: no server registered at %s\n",
                   o.registry.c_str());
      return 1;
    }
  } else if (!o.servers.empty()) {
    try {
      kv::parse_server_list(o.servers);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "buddykv-bench: --servers: %s\n", e.what());
      return 2;
    }
  }
  if (o.cluster()) o.target = "buddykv://cluster:1";
  const auto ep = parse_target(o.target);
  if (!ep) {
    std::fprintf(stderr,
                 "buddykv-bench: --target '%s' is not buddykv://HOST:PORT, "
                 "memcached://HOST:PORT or redis://HOST:PORT\n",
                 o.target.c_str());
    return 2;
  }
  if (o.key_size < key_chars_needed(o.keys)) {
    std::fprintf(stderr, "buddykv-bench: --key-size %zu is too small for %llu keys (need %zu)\n",
                 o.key_size, static_cast<unsigned long long>(o.keys), key_chars_needed(o.keys));
    return 2;
  }
  o.sizes.sizes = value_sizes.empty() ? std::vector<std::size_t>{o.value_size} : value_sizes;
  o.value_size = o.sizes.largest();
  if (o.verify && o.sizes.smallest() < 8) {
    std::fprintf(stderr, "buddykv-bench: --verify needs values of at least 8 bytes\n");
    return 2;
  }
  if (std::string why = tools::parse_usable_cpus("--cpus", cpus, o.cpus); !why.empty()) {
    std::fprintf(stderr, "buddykv-bench: %s\n", why.c_str());
    return 2;
  }
  // What this run allocates before the clock starts: each thread's trace, and with --verify the
  // verifier's 32 bytes per key. More than the machine has is refused here, in one line, rather
  // than dying of std::bad_alloc or paging for hours.
  const std::uint64_t trace_bytes = std::uint64_t{o.threads} * kTraceOps * sizeof(std::uint64_t);
  const std::uint64_t verify_bytes = o.verify ? o.keys * Verifier::kBytesPerKey : 0;
  if (const auto avail = tools::memory_available(); avail && trace_bytes + verify_bytes > *avail) {
    const std::uint64_t room = *avail > trace_bytes ? *avail - trace_bytes : 0;
    if (o.verify) {
      std::fprintf(stderr,
                   "buddykv-bench: --verify keeps %zu bytes per key: %llu keys need %s, more than "
                   "the %s of memory available here (at most %llu keys)\n",
                   Verifier::kBytesPerKey, static_cast<unsigned long long>(o.keys),
                   tools::format_bytes(verify_bytes + trace_bytes).c_str(),
                   tools::format_bytes(*avail).c_str(),
                   static_cast<unsigned long long>(room / Verifier::kBytesPerKey));
    } else {
      std::fprintf(stderr,
                   "buddykv-bench: %u threads need %s of operation traces, more than the %s of "
                   "memory available here\n",
                   o.threads, tools::format_bytes(trace_bytes).c_str(),
                   tools::format_bytes(*avail).c_str());
    }
    return 2;
  }
  const kv::ycsb::Workload w = *kv::ycsb::workload(o.workload);
  const kv::ycsb::Dist dist = o.dist == "zipf" ? kv::ycsb::Dist::zipf : kv::ycsb::Dist::uniform;

  std::vector<std::unique_ptr<Target>> targets;
  try {
    for (unsigned i = 0; i < o.threads; ++i) targets.push_back(connect(o, *ep));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-bench: %s\n", e.what());
    return 1;
  }
  std::unique_ptr<kv::ZipfGenerator> zipf;
  if (dist == kv::ycsb::Dist::zipf) zipf = std::make_unique<kv::ZipfGenerator>(o.keys, o.theta);
  std::unique_ptr<Verifier> ver;
  std::vector<std::vector<std::uint64_t>> traces;
  try {
    if (o.verify) ver = std::make_unique<Verifier>(o.keys, o.sizes);
    for (unsigned i = 0; i < o.threads; ++i) {
      traces.push_back(make_trace(o, w, dist, zipf.get(), i));
    }
  } catch (const std::bad_alloc&) {  // the check above passed, but memory went meanwhile
    std::fprintf(stderr, "buddykv-bench: out of memory for %llu keys%s\n",
                 static_cast<unsigned long long>(o.keys), o.verify ? " with --verify" : "");
    return 1;
  }

  std::vector<Tally> tallies(o.threads);
  if (o.preload) {
    const auto t0 = Clock::now();
    std::vector<std::thread> th;
    for (unsigned i = 0; i < o.threads; ++i) {
      th.emplace_back([&, i] {
        if (!o.cpus.empty()) tools::pin_to_cpu(o.cpus[i % o.cpus.size()]);
        preload(*targets[i], o, o.keys * i / o.threads, o.keys * (i + 1) / o.threads, ver.get(),
                tallies[i]);
      });
    }
    for (auto& t : th) t.join();
    if (!o.quiet) {
      std::fprintf(stderr, "buddykv-bench: preloaded %llu keys in %.2f s\n",
                   static_cast<unsigned long long>(o.keys),
                   std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> progress{0};
  std::vector<std::thread> th;
  const auto start = Clock::now();
  for (unsigned i = 0; i < o.threads; ++i) {
    th.emplace_back([&, i] {
      if (!o.cpus.empty()) tools::pin_to_cpu(o.cpus[i % o.cpus.size()]);
      run_thread(*targets[i], o, traces[i], ver.get(), stop, progress, tallies[i]);
    });
  }
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.duration));
  std::uint64_t last = 0;
  auto tick = start;
  while (Clock::now() < end) {
    const auto next = std::min(end, tick + std::chrono::seconds(1));
    std::this_thread::sleep_until(next);
    const double dt = std::chrono::duration<double>(next - tick).count();
    tick = next;
    const std::uint64_t now = progress.load(std::memory_order_relaxed);
    if (!o.quiet) {
      std::fprintf(stderr, "buddykv-bench: %5.1f s  %.3f Mops\n",
                   std::chrono::duration<double>(tick - start).count(),
                   static_cast<double>(now - last) / dt / 1e6);
    }
    last = now;
  }
  stop.store(true);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& t : th) t.join();

  Tally all;
  TargetCounters tc;
  auto* cluster = o.cluster() ? dynamic_cast<ClusterTarget*>(targets[0].get()) : nullptr;
  ReadBack rb;
  if (ver) rb = read_back(*targets[0], cluster, o, *ver);
  for (unsigned i = 0; i < o.threads; ++i) {
    Tally& t = tallies[i];
    all.lat.merge(t.lat);
    base::add_fields(all, t);
    for (std::uint64_t k : t.stale_keys) {
      // Decided now, not when the GET was checked: a SET of the key may have been
      // retransmitted (and so re-applied late) after that.
      if (ver->retried(k)) {
        ++all.stale_after_retry;
      } else {
        ++all.stale;
        all.note("GET of key " + std::to_string(k) + " returned a version older than acknowledged");
      }
    }
    if (all.first_error.empty()) all.first_error = t.first_error;
    all.max_stall_ns = std::max(all.max_stall_ns, t.max_stall_ns);
    base::add_fields(tc, targets[i]->counters());
  }
  const std::uint64_t errors =
      all.errors + all.bad_values + all.stale + all.missing + all.set_failures;
  if (!rb.first_lost.empty()) all.note("read-back: " + rb.first_lost);
  const bool verified =
      o.verify && errors == 0 && all.timeouts == 0 && rb.lost == 0 && rb.timeouts == 0;
  const double mops = static_cast<double>(all.ops) / elapsed / 1e6;
  // The client's own CPU time (its threads, user and kernel, over the measured run) per request.
  const auto per_op_us = [&](std::uint64_t ns) {
    return all.ops != 0 ? static_cast<double>(ns) / 1e3 / static_cast<double>(all.ops) : 0.0;
  };
  const double client_cpu_us = per_op_us(all.cpu_ns), client_sys_us = per_op_us(all.sys_ns);
  const double p50 = us(all.lat.quantile(0.50)), p99 = us(all.lat.quantile(0.99)),
               p999 = us(all.lat.quantile(0.999));
  if (o.json) {
    using base::json::Fixed;
    base::json::Writer js;
    js.begin_object();
    js.member("target", ep->scheme).member("workload", o.workload).member("dist", o.dist);
    js.member("theta", Fixed{o.theta, 3}).member("keys", o.keys).member("key_size", o.key_size);
    js.member("value_size", o.value_size).member("threads", o.threads).member("batch", o.batch);
    js.member("window", o.window).member("segment_offload", o.segment_offload);
    js.member("duration_s", Fixed{elapsed, 3});
    js.member("ops", all.ops).member("mops", Fixed{mops, 4});
    js.member("p50_us", Fixed{p50, 1}).member("p99_us", Fixed{p99, 1});
    js.member("p999_us", Fixed{p999, 1}).member("client_cpu_us", Fixed{client_cpu_us, 3});
    js.member("client_sys_us", Fixed{client_sys_us, 3});
    js.member("gets", all.gets).member("sets", all.sets).member("hits", all.hits);
    js.member("misses", all.misses).member("timeouts", all.timeouts);
    js.member("retries", tc.retries).member("spurious_retries", tc.spurious);
    js.member("pings", tc.pings);
    js.member("stale_after_retry", all.stale_after_retry);
    if (cluster != nullptr) {
      kv::ClusterCounters cc;
      for (auto& t : targets) {
        const auto& x = static_cast<ClusterTarget&>(*t).client().cluster_counters();
        cc.joins += x.joins;
        cc.leaves += x.leaves;
        cc.join_failures += x.join_failures;
        cc.rerouted += x.rerouted;
      }
      js.member("servers", cluster->client().servers().ids().size());
      js.member("joins", cc.joins).member("leaves", cc.leaves);
      js.member("join_failures", cc.join_failures).member("rerouted", cc.rerouted);
      js.member("moved_reads", all.moved_reads).member("read_back_skipped_gone", rb.on_gone);
    }
    js.member("max_stall_ms", Fixed{static_cast<double>(all.max_stall_ns) / 1e6, 1});
    js.member("errors", errors).member("preload", o.preload).member("verify", o.verify);
    if (o.verify) {
      js.member("readback_keys", rb.keys).member("readback_timeouts", rb.timeouts);
      js.member("lost_acked_writes", rb.lost);
    }
    js.member("verified", verified).end_object();
    std::printf("%s\n", js.str().c_str());
  } else {
    std::printf("target %s  workload %s  dist %s  keys %llu  key/value %zu/%zu B  threads %u\n",
                o.target.c_str(), o.workload.c_str(), o.dist.c_str(),
                static_cast<unsigned long long>(o.keys), o.key_size, o.value_size, o.threads);
    std::printf("throughput %.3f Mops (%llu ops in %.2f s)\n", mops,
                static_cast<unsigned long long>(all.ops), elapsed);
    std::printf("latency    p50 %.1f us  p99 %.1f us  p999 %.1f us  max %.1f us\n", p50, p99, p999,
                us(all.lat.max()));
    std::printf(
        "client cpu %.3f us per request, %.3f of it in the kernel (its threads over the "
        "measured run)\n",
        client_cpu_us, client_sys_us);
    std::printf(
        "gets %llu (hits %llu, misses %llu)  sets %llu\n",
        static_cast<unsigned long long>(all.gets), static_cast<unsigned long long>(all.hits),
        static_cast<unsigned long long>(all.misses), static_cast<unsigned long long>(all.sets));
    std::printf(
        "timeouts %llu  retries %llu (spurious %llu)  pings %llu  stale answers %llu  errors "
        "%llu\n",
        static_cast<unsigned long long>(all.timeouts), static_cast<unsigned long long>(tc.retries),
        static_cast<unsigned long long>(tc.spurious), static_cast<unsigned long long>(tc.pings),
        static_cast<unsigned long long>(tc.stale), static_cast<unsigned long long>(errors));
    if (cluster != nullptr) {
      std::printf(
          "servers    %zu  moved reads %llu  read back %llu (lost %llu, %llu on servers "
          "that left)\n",
          cluster->client().servers().ids().size(),
          static_cast<unsigned long long>(all.moved_reads),
          static_cast<unsigned long long>(rb.keys), static_cast<unsigned long long>(rb.lost),
          static_cast<unsigned long long>(rb.on_gone));
    }
    if (o.verify) {
      std::printf("verify     %s (stale after a retransmitted SET: %llu)\n",
                  verified ? "every GET answer matched the acknowledged SETs" : "FAILED",
                  static_cast<unsigned long long>(all.stale_after_retry));
      std::printf("read-back  %llu acknowledged keys: %llu lost, %llu unanswered\n",
                  static_cast<unsigned long long>(rb.keys),
                  static_cast<unsigned long long>(rb.lost),
                  static_cast<unsigned long long>(rb.timeouts));
    }
  }
  if (!all.first_error.empty()) {
    std::fprintf(stderr, "buddykv-bench: first error: %s\n", all.first_error.c_str());
  }
  if (o.verify && !verified) return 1;
  return 0;
}
