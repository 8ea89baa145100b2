// buddykv-store-bench: GET and SET on 8 B keys / 8 B values, uniform and scrambled Zipf keys, at
// 1 M and 10 M keys, for the buddy store (store mode, one partition, batched with prefetching)
// and absl::flat_hash_map<uint64_t, uint64_t>, one core each, measured in the same run. Both
// read their request keys from the same pre-generated stream; the buddy side also computes the
// xxh3 hash of each key inside the timed loop (the client's job, counted here anyway unless
// --prehashed). Both use transparent huge pages unless --no-huge-pages. Runs --repeat interleaved
// pairs (buddy, then absl) and reports each side's median rate and the median and range of the
// pairs' ratios (as buddykv-queue-bench does), and the memory per item (buddy: index + item pages +
// allocator metadata; absl: ctrl bytes + slots), and, for a mixed-size distribution (SizeMix), the
// bytes in use per key + value byte stored (--mixed-keys; buddy: stats().memory, absl<string,
// string>: malloc heap bytes).
#include <absl/container/flat_hash_map.h>
#include <malloc.h>
#include <sys/mman.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "buddy/base/json.hpp"
#include "buddy/kv/client/zipf.hpp"
#include "buddy/kv/store/size_mix.hpp"
#include "buddy/kv/store/store.hpp"
#include "cli.hpp"
#include "cpu_list.hpp"
#include "size_arg.hpp"

namespace {

using buddy::kv::Op;
using buddy::kv::Request;
using buddy::kv::Status;

struct Options {
  std::vector<std::uint64_t> keys{1'000'000, 10'000'000};
  std::uint64_t ops = 10'000'000;
  int repeat = 5;
  std::vector<std::string> dists{"uniform", "zipf"};  // --dist
  std::vector<std::string> op_names{"get", "set"};    // --op
  std::string only;  // --only buddy|absl: one side's runs alone (for perf stat); no ratio
  std::size_t batch = 32;
  double theta = 0.99;
  double budget = 40;  // bytes per item given to the buddy store
  bool huge_pages = true;
  int cpu = -1;
  bool json = false;
  bool lookahead = true;              // prefetch the next batch's buckets before running this one
  bool prehashed = false;             // hashes computed before the timed loop (by "the client")
  std::uint64_t mixed_keys = 10'000;  // mixed-size memory run (0: skip)
  std::uint32_t mixed_partitions = 4;
  std::size_t mixed_memory = 256u << 20;  // buddykv-server's default budget
};

bool g_huge_pages = true;

// absl gets the same transparent-huge-page backing as the buddy store.
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding

  static constexpr std::size_t kHuge = 2u << 20;
  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (!g_huge_pages || bytes < kHuge) return static_cast<T*>(::operator new(bytes));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, bytes, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (!g_huge_pages || bytes < kHuge) {
      ::operator delete(p);
    } else {
      ::munmap(p, bytes);
    }
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

using AbslMap =
    absl::flat_hash_map<std::uint64_t, std::uint64_t, absl::Hash<std::uint64_t>,
                        std::equal_to<std::uint64_t>,
                        HugePageAllocator<std::pair<const std::uint64_t, std::uint64_t>>>;

class Failure : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

void pin(int cpu) {
  if (!buddy::tools::pin_to_cpu(cpu)) throw Failure("cannot pin to cpu " + std::to_string(cpu));
}

std::string_view bytes_of(const std::uint64_t& x) {
  return {reinterpret_cast<const char*>(&x), sizeof x};
}

std::uint64_t load64(std::string_view v) {
  std::uint64_t x = 0;
  if (v.size() == sizeof x) {  // the benchmark's values (a fixed-size copy, no memcpy call)
    std::memcpy(&x, v.data(), sizeof x);
  } else if (!v.empty()) {  // a SET's answer has no value (and no data pointer)
    std::memcpy(&x, v.data(), std::min(v.size(), sizeof x));
  }
  return x;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

volatile std::uint64_t g_sink;

// --- buddy -------------------------------------------------------------------------------------

// Runs `stream` through the partition in batches; returns seconds. Every GET must hit.
// `hashes` is empty (hash each key inside the timed loop) or holds key_hash of every stream key.
double buddy_run(buddy::kv::Partition& p, const std::vector<std::uint64_t>& stream,
                 const std::vector<std::uint64_t>& hashes, Op op, std::size_t batch,
                 const std::array<std::uint64_t, 64>& vals, bool lookahead) {
  // Two request buffers: batch k + 1 is built (and, with lookahead, its buckets prefetched)
  // before batch k runs, as a server that holds its next burst can.
  std::array<std::vector<Request>, 2> reqs{std::vector<Request>(batch),
                                           std::vector<Request>(batch)};
  auto build = [&](std::size_t i, std::vector<Request>& into) {
    const std::size_t n = std::min(batch, stream.size() - i);
    for (std::size_t j = 0; j < n; ++j) {
      const std::string_view key = bytes_of(stream[i + j]);
      into[j] = {op, hashes.empty() ? buddy::kv::key_hash(key) : hashes[i + j], key,
                 op == Op::set ? bytes_of(vals[(i + j) & 63]) : std::string_view{}};
    }
    return std::span<const Request>(into.data(), n);
  };
  std::uint64_t ok = 0, sum = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::span<const Request> cur = build(0, reqs[0]);
  for (std::size_t i = 0, k = 0; i < stream.size(); i += batch, k ^= 1) {
    std::span<const Request> next;
    if (i + batch < stream.size()) {
      next = build(i + batch, reqs[k ^ 1]);
      if (lookahead) p.prefetch(next);
    }
    p.execute(cur, [&](std::size_t, Status s, std::string_view v) {
      ok += s == Status::ok;
      sum += load64(v);
    });
    cur = next;
  }
  const double t = seconds_since(t0);
  g_sink = sum;
  if (ok != stream.size())
    throw Failure("buddy: " + std::to_string(stream.size() - ok) + " failed");
  return t;
}

// --- absl --------------------------------------------------------------------------------------

double absl_run(AbslMap& m, const std::vector<std::uint64_t>& stream, Op op,
                const std::array<std::uint64_t, 64>& vals) {
  std::uint64_t ok = 0, sum = 0;
  const auto t0 = std::chrono::steady_clock::now();
  if (op == Op::get) {
    for (const std::uint64_t k : stream) {
      const auto it = m.find(k);
      if (it != m.end()) {
        ++ok;
        sum += it->second;
      }
    }
  } else {
    for (std::size_t i = 0; i < stream.size(); ++i) m[stream[i]] = vals[i & 63];
    ok = stream.size();
  }
  const double t = seconds_since(t0);
  g_sink = sum;
  if (ok != stream.size()) throw Failure("absl: " + std::to_string(stream.size() - ok) + " missed");
  return t;
}

double absl_bytes_per_item(const AbslMap& m) {
  // Slots plus one control byte per slot plus the cloned group of control bytes.
  const double bytes =
      static_cast<double>(m.capacity()) * (sizeof(std::pair<std::uint64_t, std::uint64_t>) + 1) +
      16;
  return bytes / static_cast<double>(m.size());
}

// --- driver ------------------------------------------------------------------------------------

using buddy::tools::median;

struct Row {
  std::uint64_t keys;
  const char* dist;
  const char* op;
  double buddy_mops, absl_mops, buddy_bpi, absl_bpi;
  buddy::tools::Spread pair;  // buddy / absl of each back-to-back pair of runs
};

void print_json(const char* impl, const Row& r, double mops, double bpi, bool ratio) {
  using buddy::base::json::Fixed;
  buddy::base::json::Writer w;
  w.begin_object().member("impl", impl).member("op", r.op).member("keys", r.keys);
  w.member("dist", r.dist).member("mops", Fixed{mops, 2}).member("bytes_per_item", Fixed{bpi, 2});
  if (ratio) {
    w.member("pair_ratio_median", Fixed{r.pair.median, 2});
    w.member("pair_ratio_min", Fixed{r.pair.min, 2}).member("pair_ratio_max", Fixed{r.pair.max, 2});
  }
  std::printf("%s\n", w.end_object().str().c_str());
  std::fflush(stdout);
}

void print_row(const Row& r) {
  std::printf("%10llu  %-7s  %-3s  %11.2f  %10.2f  %7.2fx  [%.2f-%.2f]  %13.1f  %12.1f\n",
              static_cast<unsigned long long>(r.keys), r.dist, r.op, r.buddy_mops, r.absl_mops,
              r.pair.median, r.pair.min, r.pair.max, r.buddy_bpi, r.absl_bpi);
  std::fflush(stdout);
}

void run_keys(const Options& o, std::uint64_t n) {
  std::vector<std::uint64_t> keys(n);
  for (std::uint64_t i = 0; i < n; ++i) keys[i] = buddy::kv::mix64(i);  // distinct
  std::array<std::uint64_t, 64> vals{};
  for (std::size_t i = 0; i < vals.size(); ++i) vals[i] = buddy::kv::mix64(i + 12345);

  // buddy: one partition in store mode, given o.budget bytes per item.
  buddy::kv::StoreConfig cfg;
  cfg.mode = buddy::kv::Mode::store;
  cfg.partitions = 1;
  // A small fixed slack on top: a store this small still needs whole 64 KiB slabs and pages.
  cfg.memory_bytes = static_cast<std::size_t>(o.budget * static_cast<double>(n)) + (2u << 20);
  cfg.expected_items = n;
  cfg.huge_pages = o.huge_pages;
  buddy::kv::Store store(cfg);
  buddy::kv::Partition& part = store.partition(0);
  // Load (throws if the budget is too small).
  buddy_run(part, keys, {}, Op::set, o.batch, vals, o.lookahead);
  const double buddy_bpi =
      static_cast<double>(part.stats().memory) / static_cast<double>(part.stats().items);

  AbslMap m;
  m.reserve(n);
  for (std::uint64_t k : keys) m[k] = k;
  const double absl_bpi = absl_bytes_per_item(m);

  const buddy::kv::ZipfGenerator zipf(n, o.theta);
  std::mt19937_64 rng(n);
  std::vector<std::uint64_t> stream(o.ops);
  for (const std::string& dist_name : o.dists) {
    const char* dist = dist_name.c_str();
    const bool uniform = dist_name == "uniform";
    for (auto& s : stream) s = keys[uniform ? rng() % n : zipf.scrambled(rng)];
    std::vector<std::uint64_t> hashes;
    if (o.prehashed) {
      hashes.reserve(stream.size());
      for (const std::uint64_t& k : stream) hashes.push_back(buddy::kv::key_hash(bytes_of(k)));
    }
    for (const std::string& op_name : o.op_names) {
      const Op op = op_name == "get" ? Op::get : Op::set;
      // Interleaved pairs (buddy, absl), so drift hits both alike; the ratio reported is the
      // median of the pairs' ratios, with their range beside it.
      std::vector<double> rb, ra;
      const double ops = static_cast<double>(o.ops) / 1e6;
      for (int r = 0; r < o.repeat; ++r) {
        rb.push_back(o.only == "absl"
                         ? 0
                         : ops / buddy_run(part, stream, hashes, op, o.batch, vals, o.lookahead));
        ra.push_back(o.only == "buddy" ? 0 : ops / absl_run(m, stream, op, vals));
      }
      Row row{n,         dist,     op == Op::get ? "get" : "set",    median(rb), median(ra),
              buddy_bpi, absl_bpi, buddy::tools::pair_ratios(rb, ra)};
      if (o.json) {
        print_json("buddy", row, row.buddy_mops, row.buddy_bpi, true);
        print_json("absl", row, row.absl_mops, row.absl_bpi, false);
      } else {
        print_row(row);
      }
    }
  }
}

// --- memory per byte stored, mixed sizes ---------------------------------------------------------

std::size_t heap_in_use() {
  const struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// The same keys and values (SizeMix) into a store sized by its budget alone, as buddykv-server's
// is, and into absl::flat_hash_map<std::string, std::string> on glibc malloc: memory in use per
// key + value byte stored, each side's own measure (buddy: stats().memory; absl: the heap bytes
// the map's table and strings hold).
void run_mixed(const Options& o) {
  const buddy::kv::SizeMix mix;
  std::mt19937_64 rng(17);
  std::vector<std::pair<std::string, std::size_t>> kvs;
  kvs.reserve(o.mixed_keys);
  std::uint64_t kv_bytes = 0;
  for (std::uint64_t i = 0; i < o.mixed_keys; ++i) {
    std::string k = mix.key(rng, i);
    const std::size_t vlen = mix.value_len(rng);
    kv_bytes += k.size() + vlen;
    kvs.emplace_back(std::move(k), vlen);
  }
  const std::string filler(mix.max_value, 'v');

  buddy::kv::StoreConfig cfg;
  cfg.partitions = o.mixed_partitions;
  cfg.memory_bytes = o.mixed_memory;
  cfg.huge_pages = o.huge_pages;
  buddy::kv::Store store(cfg);
  for (const auto& [k, vlen] : kvs) {
    const std::uint64_t h = buddy::kv::key_hash(k);
    if (store.partition_for(h).set(h, k, std::string_view(filler).substr(0, vlen)) != Status::ok)
      throw Failure("mixed: a SET failed in a " + std::to_string(o.mixed_memory >> 20) +
                    " MiB store");
  }
  const buddy::kv::StatsSnapshot st = store.stats();
  if (st.bytes != kv_bytes) throw Failure("mixed: the store holds other bytes than were SET");
  const double buddy_bpb = static_cast<double>(st.memory) / static_cast<double>(kv_bytes);

  const std::size_t heap0 = heap_in_use();
  double absl_bpb = 0;
  {
    absl::flat_hash_map<std::string, std::string> m;
    for (const auto& [k, vlen] : kvs) m[k] = filler.substr(0, vlen);
    absl_bpb = static_cast<double>(heap_in_use() - heap0) / static_cast<double>(kv_bytes);
    if (m.size() != kvs.size()) throw Failure("mixed: absl lost keys");
  }
  if (o.json) {
    using buddy::base::json::Fixed;
    for (const auto& [impl, bpb] : {std::pair{"buddy", buddy_bpb}, std::pair{"absl", absl_bpb}}) {
      buddy::base::json::Writer w;
      w.begin_object().member("impl", impl).member("mode", "mixed").member("keys", o.mixed_keys);
      w.member("kv_bytes", kv_bytes).member("bytes_per_byte", Fixed{bpb, 3});
      std::printf("%s\n", w.end_object().str().c_str());
    }
  } else {
    std::printf(
        "mixed sizes: %llu keys of 1-%zu B, values 0-%zu B (log-uniform), %.1f MB stored; "
        "bytes in use per byte stored: buddy %.3f (%u partitions, %zu MiB budget), absl + malloc "
        "%.3f, ratio %.2fx\n",
        static_cast<unsigned long long>(o.mixed_keys), mix.max_key, mix.max_value,
        static_cast<double>(kv_bytes) / 1e6, buddy_bpb, o.mixed_partitions, o.mixed_memory >> 20,
        absl_bpb, buddy_bpb / absl_bpb);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool no_huge = false;
  CLI::App app{
      "buddykv-store-bench: buddy kv store (batched, prefetching) vs absl::flat_hash_map, "
      "8 B keys / 8 B values, one core, measured in the same run"};
  app.add_option("--keys", o.keys, "key counts (comma separated)")
      ->delimiter(',')
      ->check(CLI::Range(std::uint64_t{1000}, std::uint64_t{200'000'000}));
  app.add_option("--ops,-n", o.ops, "operations per run")
      ->check(CLI::Range(std::uint64_t{1000}, std::uint64_t{1'000'000'000}));
  app.add_option(
         "--repeat", o.repeat,
         "interleaved (buddy, absl) pairs of runs per point; medians and the pair-ratio range")
      ->check(CLI::Range(1, 100));
  app.add_option("--dist", o.dists, "key distributions (comma separated)")
      ->delimiter(',')
      ->check(CLI::IsMember({"uniform", "zipf"}));
  app.add_option("--op", o.op_names, "operations (comma separated)")
      ->delimiter(',')
      ->check(CLI::IsMember({"get", "set"}));
  app.add_option("--only", o.only, "run one side alone (for perf stat; the other reads 0)")
      ->check(CLI::IsMember({"buddy", "absl"}));
  app.add_option("--batch", o.batch, "buddy requests per execute() call")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  app.add_option("--theta", o.theta, "Zipf skew")->check(CLI::Range(0.01, 0.999));
  app.add_option("--budget", o.budget, "buddy memory budget, bytes per item")
      ->check(CLI::Range(16.0, 4096.0));
  app.add_option("--cpu", o.cpu, "pin to this cpu (-1: no pinning)")
      ->check(CLI::Range(-1, 4095))
      ->check([](const std::string& s) { return buddy::tools::check_usable_cpu(s); });
  app.add_flag("--no-huge-pages", no_huge, "no transparent huge pages for either side");
  bool no_lookahead = false;
  app.add_flag("--no-lookahead", no_lookahead,
               "do not prefetch the next batch's buckets (Partition::prefetch) before each batch");
  app.add_flag("--prehashed", o.prehashed,
               "hash the keys before the timed loop, as the client does (default: in the loop)");
  app.add_option("--mixed-keys", o.mixed_keys,
                 "keys of the mixed-size memory run (bytes in use per byte stored; 0: skip)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{10'000'000}));
  app.add_option("--mixed-partitions", o.mixed_partitions, "partitions of the mixed-size store")
      ->check(CLI::Range(1u, 1024u));
  std::string mixed_memory = "256M";
  app.add_option("--mixed-memory", mixed_memory, "budget of the mixed-size store (e.g. 256M, 1G)")
      ->check([](const std::string& v) { return buddy::tools::check_size(v); });
  app.add_flag("--json", o.json, "one JSON object per result line");
  app.name("buddykv-store-bench");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;
  o.huge_pages = g_huge_pages = !no_huge;
  o.lookahead = !no_lookahead;
  o.mixed_memory = *buddy::tools::parse_size(mixed_memory);
  buddy::kv::StoreConfig mixed_cfg;
  mixed_cfg.partitions = o.mixed_partitions;
  mixed_cfg.memory_bytes = o.mixed_memory;
  if (const std::string why = buddy::kv::validate(mixed_cfg); o.mixed_keys > 0 && !why.empty()) {
    std::fprintf(stderr, "buddykv-store-bench: --mixed-memory/--mixed-partitions: %s\n",
                 why.c_str());
    return 2;
  }

  try {
    pin(o.cpu);
    if (!o.json) {
      std::printf(
          "buddy kv store (store mode, batch %zu, xxh3 %s) vs absl::flat_hash_map: "
          "8 B keys / 8 B values, one core, %d interleaved pairs of %llu ops (median rates; "
          "ratio: median of the pairs' ratios [min-max]), huge pages %s\n",
          o.batch, o.prehashed ? "precomputed" : "in the loop", o.repeat,
          static_cast<unsigned long long>(o.ops), o.huge_pages ? "on" : "off");
      std::printf("%10s  %-7s  %-3s  %11s  %10s  %8s  %11s  %13s  %12s\n", "keys", "dist", "op",
                  "buddy Mops", "absl Mops", "ratio", "[min-max]", "buddy B/item", "absl B/item");
    }
    for (const std::uint64_t n : o.keys) run_keys(o, n);
    if (o.mixed_keys > 0) run_mixed(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-store-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
