// A named store (docs/store.md): a store whose partitions live in a shared-memory segment that
// outlives its process. A child process doing SETs (new keys, replaces of every size, large
// items), DELETEs and index growth into it is killed with SIGKILL at random instants, many times;
// after each kill the parent re-attaches and every key reads back with its last acknowledged
// value (or the one the child was writing when it died, never anything else), the statistics
// match, and once all keys are deleted no storage is left in use (the rebuilt allocator holds
// exactly what the index reaches). The child reports each operation before it starts it and
// after it returned (its acknowledgement) in a log in shared memory, not through a pipe: a pipe
// write is a system call, and a SIGKILL lands at a system call far more often than anywhere else,
// so the kills would hardly ever hit the store half way through an operation. Attaching to a
// missing segment, a foreign one, one of another layout version or another layout: a one-line
// error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "buddy/kv/store/store.hpp"

namespace buddy::kv::testing {
namespace {

constexpr std::uint32_t kKeys = 8000;

std::string segment_name(const char* what) {
  return "buddykv-named-store-test-" + std::to_string(::getpid()) + "-" + what;
}

// Removes a test's segments however the test ends (a failed ASSERT returns early).
struct Removed {
  std::vector<std::string> names;
  ~Removed() {
    for (const std::string& n : names) Store::remove_segment(n);
  }
};

StoreConfig named(const std::string& name, bool attach) {
  StoreConfig cfg;
  cfg.memory_bytes = 64u << 20;
  cfg.partitions = 2;
  cfg.huge_pages = false;
  cfg.segment = name;
  cfg.segment_attach = attach;
  return cfg;
}

std::string key_of(std::uint32_t k) {
  return "key" + std::to_string(k);
}

// The value of version v of key k: its size spans slab classes (a replace rarely keeps its
// footprint) and now and then a page run of its own; every byte depends on (k, v).
std::string value_of(std::uint32_t k, std::uint32_t v) {
  const std::uint64_t x = (std::uint64_t{k} << 32 | v) * 0x9E3779B97F4A7C15ull;
  const std::size_t n = (x >> 60) == 0 ? 20000 + (x >> 20) % 5000 : 1 + (x >> 16) % 1500;
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t w = x + i * 0xBF58476D1CE4E5B9ull;
    std::memcpy(s.data() + i, &w, std::min<std::size_t>(8, n - i));
  }
  return s;
}

struct Record {
  std::uint32_t kind;  // 0 ready, 1 about to run, 2 acknowledged, 3 about to run and grow
  std::uint32_t key;
  std::uint32_t version;  // 0: DELETE
};

// The child's reports: records[0..count), each complete before count covers it.
struct Log {
  static constexpr std::size_t kMax = std::size_t{1} << 20;
  std::atomic<std::uint64_t> count;
  Record records[kMax];
};

void put(Log& log, const Record& r) {
  const std::uint64_t n = log.count.load(std::memory_order_relaxed);
  if (n == Log::kMax) ::_exit(4);
  log.records[n] = r;
  log.count.store(n + 1, std::memory_order_release);
}

// The child: attaches, then runs random operations over the first `range` keys until killed.
[[noreturn]] void child(const std::string& name, Log& fd, std::uint32_t range,
                        std::uint32_t first_version, std::uint64_t seed) {
  try {
    Store st(named(name, true));
    put(fd, {0, 0, 0});
    std::mt19937_64 rng(seed);
    for (std::uint32_t v = first_version;; ++v) {
      const auto k = static_cast<std::uint32_t>(rng() % range);
      const bool del = rng() % 4 == 0;
      const std::string key = key_of(k);
      const std::uint64_t h = key_hash(key);
      Partition& p = st.partition_for(h);
      // A SET of a new key past the growth point grows the index: said, so that the parent can
      // kill the child while it does.
      const bool grows = !del && p.stats().items >= p.buckets() * Partition::kGrowAt &&
                         p.get(h, key).status == Status::not_found;
      put(fd, {grows ? 3u : 1u, k, del ? 0 : v});
      if (del) {
        const Status s = st.partition_for(h).del(h, key);
        if (s != Status::ok && s != Status::not_found) ::_exit(5);
      } else if (st.partition_for(h).set(h, key, value_of(k, v)) != Status::ok) {
        ::_exit(6);
      }
      put(fd, {2, k, del ? 0 : v});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
    ::_exit(7);
  }
}

TEST(NamedStore, EveryAcknowledgedWriteSurvivesKillNine) {
  const std::string name = segment_name("crash");
  const Removed removed{{name}};
  constexpr int kRounds = 5;
  constexpr int kKills = 30;
  std::mt19937_64 rng(12345);
  std::uint32_t version = 1;
  std::size_t total_acks = 0, kills_mid_op = 0, aimed = 0;
  void* mem =
      ::mmap(nullptr, sizeof(Log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Log& log = *static_cast<Log*>(mem);
  for (int round = 0; round < kRounds; ++round) {
    Store::remove_segment(name);
    { Store made(named(name, false)); }  // an empty, complete segment; the children attach
    std::vector<std::uint32_t> acked(kKills == 0 ? 0 : kKeys, 0);  // 0: absent
    for (int kill_no = 0; kill_no < kKills; ++kill_no) {
      // The key range grows over the round, so the index grows while children are killed.
      const std::uint32_t range = std::min<std::uint32_t>(kKeys, 300u * (kill_no + 1));
      log.count.store(0);
      const std::uint32_t first = version;
      version += 1u << 20;
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) child(name, log, range, first, rng());
      for (int i = 0; log.count.load() == 0; ++i) {  // attached
        ASSERT_LT(i, 10000) << "the child did not attach";
        ASSERT_EQ(::waitpid(pid, nullptr, WNOHANG), 0) << "the child died";
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      // Every other kill aims at an index growth (when one comes within 40 ms): killed a random
      // few yields after the child said it starts one.
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(40);
      const auto growing = [&] {
        for (std::uint64_t i = log.count.load(); i-- > 0;) {
          if (log.records[i].kind == 3) return true;
        }
        return false;
      };
      if (kill_no % 2 == 1) {
        while (std::chrono::steady_clock::now() < until && !growing()) std::this_thread::yield();
        for (auto n = rng() % 64; n-- > 0;) std::this_thread::yield();
        aimed += growing() ? 1 : 0;
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 8000));
      }
      ::kill(pid, SIGKILL);
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself: " << status;
      // Everything it reported: acknowledged operations, and the one it may have been running.
      Record run{};  // the operation it may have been running (kind 1 or 3), or none (kind 0)
      for (std::uint64_t i = 1; i < log.count.load(); ++i) {
        const Record r = log.records[i];
        if (r.kind == 1 || r.kind == 3) {
          run = r;
        } else {
          acked[r.key] = r.version;
          run = Record{};
          ++total_acks;
        }
      }
      Store st(named(name, true));
      ASSERT_TRUE(st.reattached());
      std::uint64_t found = 0;
      for (std::uint32_t k = 0; k < kKeys; ++k) {
        const std::string key = key_of(k);
        const std::uint64_t h = key_hash(key);
        const GetResult g = st.partition_for(h).get(h, key);
        std::uint32_t now = g.status == Status::ok ? UINT32_MAX : 0;
        if (g.status == Status::ok) {
          if (acked[k] != 0 && g.value == value_of(k, acked[k])) now = acked[k];
          if (run.kind != 0 && run.key == k && run.version != 0 &&
              g.value == value_of(k, run.version)) {
            now = run.version;
          }
          ++found;
        }
        const bool was_running = run.kind != 0 && run.key == k && now == run.version;
        ASSERT_TRUE(now == acked[k] || was_running)
            << "round " << round << " kill " << kill_no << ": key " << k << " acknowledged "
            << acked[k] << ", reads "
            << (now == UINT32_MAX ? "a value of no version" : std::to_string(now));
        if (was_running) {
          acked[k] = now;  // it got there: the next child's SETs build on it
          ++kills_mid_op;
        }
      }
      ASSERT_EQ(st.stats().items, found);
    }
    // Allocator usage is what the index reaches: with every key deleted nothing stays in use.
    Store st(named(name, true));
    for (std::uint32_t k = 0; k < kKeys; ++k) {
      const std::string key = key_of(k);
      const std::uint64_t h = key_hash(key);
      const Status s = st.partition_for(h).del(h, key);
      ASSERT_EQ(s, acked[k] != 0 ? Status::ok : Status::not_found) << "key " << k;
    }
    EXPECT_EQ(st.stats().items, 0u);
    for (std::uint32_t i = 0; i < st.partition_count(); ++i) {
      EXPECT_EQ(st.partition(i).storage_bytes(), 0u) << "round " << round << " partition " << i;
      EXPECT_GT(st.partition(i).buckets(), 64u) << "the index never grew";
    }
  }
  Store::remove_segment(name);
  ::munmap(mem, sizeof(Log));
  std::printf(
      "%d kills (%zu while the index grew), %zu acknowledged operations checked, %zu kills "
      "left their write in\n",
      kRounds * kKills, aimed, total_acks, kills_mid_op);
  EXPECT_GT(total_acks, std::size_t{kRounds * kKills});
}

TEST(NamedStore, ReattachesWithItsItemsAndGeneration) {
  const std::string name = segment_name("reattach");
  const Removed removed{{name}};
  Store::remove_segment(name);
  {
    Store st(named(name, false));
    EXPECT_FALSE(st.reattached());
    EXPECT_EQ(st.generation(), 1u);
    for (std::uint32_t k = 0; k < 2000; ++k) {
      const std::string key = key_of(k);
      ASSERT_EQ(st.partition_for(key_hash(key)).set(key_hash(key), key, value_of(k, 1)),
                Status::ok);
    }
  }
  for (std::uint64_t gen = 2; gen <= 3; ++gen) {
    Store st(named(name, true));
    EXPECT_TRUE(st.reattached());
    EXPECT_EQ(st.generation(), gen);
    EXPECT_EQ(st.stats().items, 2000u);
    for (std::uint32_t k = 0; k < 2000; ++k) {
      const std::string key = key_of(k);
      const GetResult g = st.partition_for(key_hash(key)).get(key_hash(key), key);
      ASSERT_EQ(g.status, Status::ok);
      ASSERT_EQ(g.value, value_of(k, 1));
    }
  }
  Store::remove_segment(name);
}

// The one-line error of making or attaching to `cfg`.
std::string error_of(const StoreConfig& cfg) {
  try {
    Store st(cfg);
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what;
  }
  return "(no error)";
}

TEST(NamedStore, RefusesMissingForeignOtherVersionAndOtherLayout) {
  const std::string name = segment_name("errors");
  const Removed removed{{name, name + "-cache"}};
  Store::remove_segment(name);
  EXPECT_NE(error_of(named(name, true)).find("does not exist (its items are lost)"),
            std::string::npos);
  { Store made(named(name, false)); }
  EXPECT_NE(error_of(named(name, false)).find("cannot make: File exists"), std::string::npos);
  StoreConfig other = named(name, true);
  other.partitions = 4;
  EXPECT_NE(error_of(other).find("holds 2 of 2 partitions of 33554432 bytes in store mode, this "
                                 "store is 4 of 4 partitions of 16777216 bytes"),
            std::string::npos)
      << error_of(other);
  StoreConfig cache = named(name + "-cache", false);
  cache.mode = Mode::cache;
  EXPECT_NE(error_of(cache).find("store mode only"), std::string::npos) << error_of(cache);
  // Another layout version: the header's version word (after the 8-byte magic).
  const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  const std::uint32_t v = 99;
  ASSERT_EQ(::pwrite(fd, &v, sizeof v, 8), static_cast<ssize_t>(sizeof v));
  EXPECT_NE(error_of(named(name, true)).find("layout version 99, this build reads version 1"),
            std::string::npos)
      << error_of(named(name, true));
  // Not a store at all.
  const std::string junk(8192, 'x');
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
  ::close(fd);
  EXPECT_NE(error_of(named(name, true)).find("not a buddykv store"), std::string::npos);
  Store::remove_segment(name);
}

// An index slot that reaches something that is not its key's item: refused, not served.
TEST(NamedStore, RefusesAnInconsistentIndex) {
  const std::string name = segment_name("inconsistent");
  const Removed removed{{name}};
  Store::remove_segment(name);
  {
    Store st(named(name, false));
    const std::string key = key_of(1);
    ASSERT_EQ(st.partition_for(key_hash(key)).set(key_hash(key), key, "v"), Status::ok);
  }
  // Every slot of the first partition's index points at unit 0 of the arena (the index itself).
  const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  const std::size_t index_page = 4096, words = (32u << 20) / 4096 * 4,
                    arena = index_page + 4096 + words;
  std::vector<std::uint16_t> tags(4096 / 2, 7);
  ASSERT_EQ(::pwrite(fd, tags.data(), 4096, static_cast<off_t>(arena)), 4096);
  ::close(fd);
  const std::string why = error_of(named(name, true));
  EXPECT_NE(why.find("partition 0: named store partition: a slot"), std::string::npos) << why;
  Store::remove_segment(name);
}

}  // namespace
}  // namespace buddy::kv::testing
