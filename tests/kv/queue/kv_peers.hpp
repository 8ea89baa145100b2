// The two sides of a model-checked run over one KV queue pair, in two threads or two processes.
// The CE side generates mixed GET/SET/DELETE requests of random key and value sizes, keeps its own
// context per sequence number (as a real CE keeps request ids), applies each request to a model
// (std::unordered_map) when the ring accepts it, and checks every response against what the model
// said at that point. The PE side serves the requests against a real kv::Store. Values are a pure
// function of (key, version, length), so a check regenerates them instead of storing copies.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/store/hash.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv::queue::testing {

using buddy::testing::ChildGuard;
using buddy::testing::kScale;
using buddy::testing::unique_name;
inline std::uint64_t mix(std::uint64_t x) {
  return buddy::testing::mix64(x);
}

// Concatenates anything streamable (no "literal" + std::string temporaries: GCC 12 -Wrestrict).
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream o;
  (o << ... << a);
  return o.str();
}

// Key k: its decimal digits padded with 'x' to a length between 1 and 255 chosen by k.
inline std::string make_key(std::uint32_t k) {
  std::string s = std::to_string(k);
  const std::uint64_t h = mix(k ^ 0xabcdef);
  std::size_t len = s.size();
  switch (h % 8) {
    case 0:
    case 1:
    case 2:
      len = std::max<std::size_t>(len, 8);
      break;
    case 3:
      len = std::max<std::size_t>(len, 16);
      break;
    case 4:
      len = std::max<std::size_t>(len, 1 + (h >> 8) % 255);
      break;
    default:
      break;
  }
  s.resize(len, 'x');
  return s;
}

inline void fill_value(std::string& out, std::uint32_t key, std::uint32_t version,
                       std::uint32_t len) {
  out.resize(len);
  std::uint64_t w = mix((std::uint64_t{key} << 32) | version);
  std::size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    std::memcpy(out.data() + i, &w, 8);
    w = w * 6364136223846793005ull + 1442695040888963407ull;
  }
  for (; i < len; ++i) out[i] = static_cast<char>(w >> (8 * (i & 7)));
}

struct Workload {
  std::uint64_t requests = 100'000;
  std::uint32_t keys = 10'000;
  std::uint64_t seed = 1;
  std::uint32_t max_value = 64 * 1024;  // values: mostly small, some up to this
  std::size_t max_batch = 64;
  std::size_t window = 4096;  // CE context entries: requests in flight at most (power of two)
  std::chrono::seconds timeout{300};
  // Only keys whose hash passes are sent (a CE sends its PE only keys of partitions it owns).
  std::function<bool(std::uint64_t)> key_filter;
};

struct CeReport {
  bool ok = true;
  std::string why;
  std::uint64_t requests = 0, gets = 0, sets = 0, dels = 0, hits = 0, misses = 0;
  std::uint64_t value_bytes = 0;  // SET values sent + GET values received
  double seconds = 0;
};

inline std::uint32_t pick_value_len(std::mt19937_64& rng, std::uint32_t max_value) {
  const std::uint64_t r = rng();
  const std::uint32_t cls = r % 100;
  if (cls < 85) return static_cast<std::uint32_t>((r >> 8) % 65);  // 0..64 B
  if (cls < 98)
    return static_cast<std::uint32_t>((r >> 8) % std::min<std::uint32_t>(4097, max_value + 1));
  return static_cast<std::uint32_t>((r >> 8) % (max_value + 1));
}

// The CE side: pushes w.requests requests and checks every response.
inline CeReport run_ce(KvCeEnd& ce, const Workload& w) {
  using Clock = std::chrono::steady_clock;
  struct Val {
    std::uint32_t version = 0, len = 0;
  };
  struct Ctx {
    Op op = Op::get;
    std::uint32_t key = 0;
    bool present = false;  // what the model held before this request
    Val val;               // GET: the expected value
  };
  struct Gen {
    Op op;
    std::uint32_t key;
    std::uint32_t version, len;  // SET
    std::string value;
  };
  CeReport rep;
  std::mt19937_64 rng(w.seed);
  std::unordered_map<std::uint32_t, Val> model;
  std::vector<Ctx> ctx(w.window);
  std::vector<std::string> keys(w.keys);
  std::vector<std::uint64_t> hashes(w.keys);
  for (std::uint32_t k = 0; k < w.keys; ++k) {
    keys[k] = make_key(k);
    hashes[k] = key_hash(keys[k]);
  }
  std::vector<std::uint32_t> ids;
  for (std::uint32_t k = 0; k < w.keys; ++k) {
    if (!w.key_filter || w.key_filter(hashes[k])) ids.push_back(k);
  }
  if (ids.empty()) {
    rep.ok = false;
    rep.why = "no key passes the filter";
    return rep;
  }
  std::uint32_t next_version = 1;
  std::vector<Gen> pend;
  std::vector<kv::Request> views;
  std::size_t pend_off = 0;
  std::string expect;
  qp::Backoff backoff;
  const auto t0 = Clock::now();
  const auto deadline = t0 + w.timeout;

  const auto fail = [&](std::uint64_t seq, const std::string& what) {
    if (!rep.ok) return;
    rep.ok = false;
    rep.why = cat("request ", seq, ": ", what);
  };

  while (rep.ok && ce.responded() < w.requests) {
    bool progress = false;
    // Generate a batch when the last one is all pushed.
    if (pend_off == pend.size()) {
      pend.clear();
      views.clear();
      pend_off = 0;
      const std::uint64_t left = w.requests - ce.pushed();
      const std::size_t b =
          static_cast<std::size_t>(std::min<std::uint64_t>(1 + rng() % w.max_batch, left));
      for (std::size_t i = 0; i < b; ++i) {
        const std::uint32_t k = ids[rng() % ids.size()];
        const std::uint64_t r = rng() % 100;
        Gen g{r < 50 ? Op::get : r < 95 ? Op::set : Op::del, k, 0, 0, {}};
        if (g.op == Op::set) {
          g.version = next_version++;
          g.len = pick_value_len(rng, w.max_value);
          fill_value(g.value, k, g.version, g.len);
        }
        pend.push_back(std::move(g));
      }
      for (const Gen& g : pend) {
        views.push_back({g.op, hashes[g.key], keys[g.key], g.value});
      }
    }
    // Push what the ring and the context window take; apply it to the model in that order.
    const std::size_t room = static_cast<std::size_t>(
        std::min<std::uint64_t>(pend.size() - pend_off, w.window - ce.in_flight()));
    if (room > 0) {
      const std::uint64_t seq0 = ce.pushed();
      const std::size_t took = ce.push(std::span(views).subspan(pend_off, room));
      for (std::size_t i = 0; i < took; ++i) {
        const Gen& g = pend[pend_off + i];
        Ctx& c = ctx[(seq0 + i) % w.window];
        c.op = g.op;
        c.key = g.key;
        auto it = model.find(g.key);
        c.present = it != model.end();
        if (c.present) c.val = it->second;
        if (g.op == Op::set) {
          model[g.key] = Val{g.version, g.len};
          rep.value_bytes += g.len;
          ++rep.sets;
        } else if (g.op == Op::del) {
          if (c.present) model.erase(it);
          ++rep.dels;
        } else {
          ++rep.gets;
        }
      }
      if (took > 0) {
        ce.publish();
        pend_off += took;
        progress = true;
      }
    }
    // Check the answers.
    const std::size_t got = ce.poll(256, [&](const KvResponse& r) {
      const Ctx& c = ctx[r.seq % w.window];
      switch (c.op) {
        case Op::set:
          if (r.status != wire::Status::ok || !r.value.empty()) fail(r.seq, "SET not answered ok");
          break;
        case Op::del: {
          const auto want = c.present ? wire::Status::ok : wire::Status::not_found;
          if (r.status != want || !r.value.empty()) fail(r.seq, "DELETE answered wrong status");
          break;
        }
        case Op::get:
          if (!c.present) {
            ++rep.misses;
            if (r.status != wire::Status::not_found || !r.value.empty()) {
              fail(r.seq, "GET of an absent key not answered not_found");
            }
          } else {
            ++rep.hits;
            rep.value_bytes += r.value.size();
            fill_value(expect, c.key, c.val.version, c.val.len);
            if (r.status != wire::Status::ok) {
              fail(r.seq, cat("GET of a present key answered status ", static_cast<int>(r.status)));
            } else if (r.value != expect) {
              fail(r.seq, cat("GET answered a wrong value (", r.value.size(), " bytes, expected ",
                              expect.size(), ")"));
            }
          }
          break;
      }
    });
    progress |= got != 0;
    if (progress) {
      backoff.reset();
    } else {
      if (Clock::now() > deadline) {
        fail(ce.responded(), "timed out waiting for the PE");
        break;
      }
      backoff.pause();
    }
  }
  rep.requests = ce.responded();
  rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return rep;
}

struct PeReport {
  bool ok = true;
  std::string why;
  std::uint64_t served = 0, batches = 0, spill_waits = 0;
};

// The PE loop: serve_batch() until n requests are answered and every spilled answer is out;
// serve_batch returns how many requests it took (0: nothing was published).
template <class ServeBatch>
PeReport run_pe_loop(KvPeEnd& pe, std::uint64_t n, std::chrono::seconds timeout,
                     ServeBatch&& serve_batch) {
  using Clock = std::chrono::steady_clock;
  PeReport rep;
  qp::Backoff backoff;
  const auto deadline = Clock::now() + timeout;
  while (pe.answered() < n || pe.spilled()) {
    const std::size_t k = serve_batch();
    rep.spill_waits += pe.spilled();
    if (k != 0) {
      ++rep.batches;
      backoff.reset();
    } else {
      if (Clock::now() > deadline) {
        rep.ok = false;
        rep.why = cat("PE timed out after ", pe.answered(), " requests");
        break;
      }
      backoff.pause();
    }
  }
  rep.served = pe.answered();
  return rep;
}

// The PE side over one partition, through KvPeEnd::serve.
inline PeReport run_pe(KvPeEnd& pe, Partition& part, std::uint64_t n, std::size_t max_batch,
                       std::chrono::seconds timeout) {
  return run_pe_loop(pe, n, timeout, [&] { return pe.serve(part, max_batch); });
}

}  // namespace buddy::kv::queue::testing
