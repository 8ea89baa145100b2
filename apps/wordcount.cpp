// buddy-wordcount: counts the words of a generated text corpus and prints the 20 most frequent.
// Each rank generates its share (--words words per rank) of a deterministic corpus: words drawn
// from a vocabulary of --vocab made-up words with a Zipf-like law (word id floor((V+1)^u) - 1,
// u uniform: P(id) ~ 1/(id+1)), with capitals, commas, full stops and line breaks, then
// tokenizes it (runs of letters, lower-cased), as a real corpus would be read. Each word is
// counted on its owner rank (hash partitioner of buddy::msg::containers):
//   default    containers::counting_set<std::string>: async_insert(word), topk(20);
//              inserts gather in a local cache (--cache-keys distinct words; 0: none) that is
//              sent at barriers and when full
//   --async    hand-written: one comm.async(owner, ++table[word]) per word, top 20 by hand
// Verified against a serial count of the whole corpus on every rank (every rank regenerates
// every rank's text): each rank's counts, the number of distinct words, the total, and the
// top 20. Exit status 1 if anything differs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "app_report.hpp"
#include "buddy/msg/containers/counting_set.hpp"

namespace {

using namespace buddy;
namespace mc = buddy::msg::containers;

struct config {
  std::uint64_t words = 1'000'000;  // per rank
  std::uint64_t vocab = 100'000;
  std::uint64_t seed = 1;
  std::size_t cache_keys = mc::counting_set<std::string>::default_cache_keys;
  std::size_t top = 20;
  bool async = false;
  bool json = false;
  bool stats = false;
  bool inject_fault = false;  // tests: rank 0 drops one word, verification must fail
};

using counts = std::unordered_map<std::string, std::uint64_t, mc::local_hash<std::string>>;
using ranked = std::vector<std::pair<std::string, std::uint64_t>>;

// The spelling of word id: one syllable per base-16 digit (distinct ids, distinct words).
void spell(std::uint64_t id, std::string& out) {
  static constexpr const char* syl[16] = {"ka", "lo", "mi", "nu", "pe", "ra", "si", "to",
                                          "va", "ze", "bo", "di", "fu", "ge", "hi", "jo"};
  do {
    out += syl[id & 15];
    id >>= 4;
  } while (id != 0);
}

// Rank r's text, `chunk` words at a time: calls text(chunk_text) for each piece.
template <class F>
void generate(const config& cfg, int r, F&& text) {
  apps::rng gen(cfg.seed, r);
  const double log_v = std::log(static_cast<double>(cfg.vocab) + 1.0);
  std::string buf;
  constexpr std::uint64_t chunk = 8192;
  bool sentence_start = true;
  for (std::uint64_t done = 0; done < cfg.words; done += chunk) {
    buf.clear();
    const std::uint64_t k = std::min(chunk, cfg.words - done);
    for (std::uint64_t i = 0; i < k; ++i) {
      const std::uint64_t bits = gen.next();
      auto id = static_cast<std::uint64_t>(std::exp(apps::unit(bits) * log_v)) - 1;
      if (id >= cfg.vocab) id = cfg.vocab - 1;
      const std::size_t at = buf.size();
      spell(id, buf);
      if (sentence_start) buf[at] = static_cast<char>(buf[at] - 'a' + 'A');
      const unsigned p = static_cast<unsigned>(bits & 31);
      sentence_start = p == 0;
      buf += p == 0 ? ". " : p == 1 ? ", " : p == 2 ? "\n" : " ";
    }
    text(buf);
  }
}

// Runs of letters, lower-cased.
template <class F>
void tokenize(const std::string& text, std::string& w, F&& word) {
  for (const char ch : text) {
    if (ch >= 'a' && ch <= 'z') {
      w += ch;
    } else if (ch >= 'A' && ch <= 'Z') {
      w += static_cast<char>(ch - 'A' + 'a');
    } else if (!w.empty()) {
      word(w);
      w.clear();
    }
  }
  if (!w.empty()) {
    word(w);
    w.clear();
  }
}

ranked best(ranked v, std::size_t n) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > n) v.resize(n);
  return v;
}

struct async_state {
  counts table;
  ranked collected;  // top candidates, on rank 0
};

int run(int argc, char** argv, const config& cfg, const msg::options& opts) {
  msg::comm world(&argc, &argv, opts);
  const int rank = world.rank(), size = world.size();
  const mc::hash_partitioner<std::string> part;
  std::uint64_t tokens = 0;  // words this rank sent
  std::uint64_t distinct = 0;
  ranked top;
  counts mine;  // this rank's counts, for verification
  std::uint64_t mem = 0;
  apps::compute_clock compute;
  apps::region cost;

  mc::counting_set<std::string> cs(world, cfg.cache_keys);
  async_state st;
  const auto sp = world.make_local(st);
  world.barrier();
  apps::region_timer timer(world);
  timer.start();
  std::string w;
  const bool drop = cfg.inject_fault && rank == 0;
  if (!cfg.async) {
    generate(cfg, rank, [&](const std::string& text) {
      std::vector<std::string> words;
      compute.run([&] { tokenize(text, w, [&](const std::string& x) { words.push_back(x); }); });
      if (drop && tokens + words.size() >= cfg.words) words.pop_back();
      for (const std::string& x : words) {
        cs.async_insert(x);
        mem += x.size() + 16;
      }
      mem += 2 * text.size();
      tokens += words.size();
    });
    top = cs.topk(cfg.top);
    distinct = cs.size();
  } else {
    generate(cfg, rank, [&](const std::string& text) {
      std::vector<std::string> words;
      compute.run([&] { tokenize(text, w, [&](const std::string& x) { words.push_back(x); }); });
      if (drop && tokens + words.size() >= cfg.words) words.pop_back();
      for (const std::string& x : words) {
        world.async(
            part.owner(x, size), [sp](const std::string& word) { ++sp->table[word]; }, x);
        mem += x.size() + 16;
      }
      mem += 2 * text.size();
      tokens += words.size();
    });
    world.barrier();
    const ranked local = best(ranked(st.table.begin(), st.table.end()), cfg.top);
    world.async(
        0,
        [sp](const ranked& part_top) {
          sp->collected.insert(sp->collected.end(), part_top.begin(), part_top.end());
        },
        local);
    world.barrier();
    top = best(std::move(st.collected), cfg.top);
    distinct = world.all_reduce_sum(static_cast<std::uint64_t>(st.table.size()));
  }
  // mem: tokenizing reads and writes each text byte (2 per byte); counting reads a word's
  // bytes and a 16-byte table slot at its owner.
  cost = timer.stop(compute, mem);

  // This rank's counts, from whichever table holds them.
  if (!cfg.async) {
    cs.local_for_all([&](const std::string& k, std::uint64_t n) { mine.emplace(k, n); });
  } else {
    mine = st.table;
  }

  // The serial count of the whole corpus.
  counts serial;
  std::uint64_t total = 0;
  for (int r = 0; r < size; ++r) {
    generate(cfg, r, [&](const std::string& text) {
      tokenize(text, w, [&](const std::string& x) {
        ++serial[x];
        ++total;
      });
    });
  }
  std::uint64_t wrong = 0, owned = 0;
  for (const auto& [k, n] : serial) {
    if (part.owner(k, size) != rank) continue;
    ++owned;
    const auto it = mine.find(k);
    wrong += it == mine.end() || it->second != n;
  }
  wrong += mine.size() != owned;
  const ranked expect_top = best(ranked(serial.begin(), serial.end()), cfg.top);
  // top is only filled on rank 0 in --async mode; topk() gives it to every rank.
  const bool top_ok = (cfg.async && rank != 0) || top == expect_top;
  wrong = world.all_reduce_sum(wrong + (top_ok ? 0 : 1));
  const std::uint64_t sent = world.all_reduce_sum(tokens);
  const bool ok = wrong == 0 && distinct == serial.size() && sent == total;

  const msg::stats s = world.global_stats();
  if (rank == 0) {
    const apps::result r{
        "wordcount", apps::mode_name(world.config()), msg::to_string(opts.route), size, cost, ok};
    if (cfg.json) {
      apps::print_json(r, [&](base::json::Writer& jw) {
        jw.member("impl", cfg.async ? "async" : "containers").member("words", total);
        jw.member("distinct", static_cast<std::uint64_t>(serial.size()));
        jw.key("top").begin_array();
        for (const auto& [k, n] : top) jw.begin_array().value(k).value(n).end_array();
        jw.end_array();
      });
    } else {
      std::printf(
          "buddy-wordcount: %d ranks, mode %s, routing %s, %s, %llu words of a %llu-word "
          "vocabulary per rank\n",
          size, r.mode, r.routing, cfg.async ? "hand-written async" : "containers::counting_set",
          static_cast<unsigned long long>(cfg.words), static_cast<unsigned long long>(cfg.vocab));
      apps::print_cost(r);
      std::printf("  top %zu:", top.size());
      for (const auto& [k, n] : top)
        std::printf(" %s %llu", k.c_str(), static_cast<unsigned long long>(n));
      std::printf(
          "\n  verified: %s (%llu words, %llu distinct, serial count %llu / %llu; %llu "
          "differences)\n",
          ok ? "yes" : "NO", static_cast<unsigned long long>(sent),
          static_cast<unsigned long long>(distinct), static_cast<unsigned long long>(total),
          static_cast<unsigned long long>(serial.size()), static_cast<unsigned long long>(wrong));
    }
    if (cfg.stats) std::fputs(s.format("all " + std::to_string(size) + " ranks").c_str(), stderr);
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Word count over buddy::msg: a generated corpus counted with containers::counting_set "
      "(or hand-written async), the top words verified against a serial count.",
      "buddy-wordcount"};
  config cfg;
  app.add_option("--words", cfg.words, "words generated by each rank")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32));
  app.add_option("--vocab", cfg.vocab, "distinct words the generator draws from")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32));
  app.add_option("--seed", cfg.seed, "random seed")->capture_default_str();
  app.add_option("--top", cfg.top, "how many of the most frequent words to print")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  app.add_option("--cache-keys", cfg.cache_keys,
                 "counting_set's local cache, in distinct words (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 24));
  app.add_flag("--async", cfg.async, "hand-written comm.async per word instead of counting_set");
  app.add_flag("--json", cfg.json, "print one JSON object (rank 0)");
  app.add_flag("--stats", cfg.stats, "print buddy::msg statistics summed over ranks to stderr");
  app.add_flag("--inject-fault", cfg.inject_fault, "rank 0 drops one word (tests)")->group("");
  if (auto rc = apps::parse_args_once(app, argc, argv)) return *rc;
  const auto opts = apps::env_options("buddy-wordcount");
  if (!opts) return 2;
  return apps::guarded("buddy-wordcount", [&] { return run(argc, argv, cfg, *opts); });
}
