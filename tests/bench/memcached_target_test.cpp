// buddykv-bench's memcached target against a real memcached (Debian package), both protocols:
// round trips with binary and large values, misses, errors, a pipelined mixed burst checked
// against a model, window accounting, a connection that closes, a server that stops answering.
#include "memcached_target.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace buddy::bench {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

constexpr const char* kMemcached = "/usr/bin/memcached";

std::uint16_t free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    throw std::runtime_error("bind failed");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A memcached child process on a free loopback port; killed (and reaped) by the destructor.
class MemcachedProcess {
 public:
  MemcachedProcess() {
    if (::access(kMemcached, X_OK) != 0) {
      throw std::runtime_error(std::string(kMemcached) + " not found (run ./buddy setup)");
    }
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) start();
    if (pid_ < 0) throw std::runtime_error("memcached did not start");
  }
  ~MemcachedProcess() { stop(); }
  MemcachedProcess(const MemcachedProcess&) = delete;
  MemcachedProcess& operator=(const MemcachedProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }
  // SIGSTOP, and wait until the kernel shows every thread stopped (state T in
  // /proc/PID/task/TID/stat).
  void pause() const {
    ::kill(pid_, SIGSTOP);
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid_) + "/task";
    for (int i = 0; i < 2000; ++i) {
      bool all = true;
      for (const auto& t : std::filesystem::directory_iterator(tasks)) {
        std::ifstream f(t.path() / "stat");
        std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        const auto paren = stat.rfind(')');
        if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'T') {
          all = false;
        }
      }
      if (all) return;
      std::this_thread::sleep_for(1ms);
    }
    throw std::runtime_error("memcached did not stop on SIGSTOP");
  }
  void stop() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);  // also ends a stopped process
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  void start() {
    port_ = free_port();
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {kMemcached,  "-p", port, "-U", "0", "-l",
                                     "127.0.0.1", "-t", "1",  "-m", "64"};
    if (::geteuid() == 0) {
      args.push_back("-u");
      args.push_back("root");
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphan if the test dies without unwinding
      ::execv(kMemcached, argv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;  // exited (port taken?): retry
      if (accepts(port_)) {
        pid_ = pid;
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

struct Answer {
  std::uint64_t tag = 0;
  OpKind op = OpKind::get;
  Outcome outcome = Outcome::ok;
  std::string value;
  std::string detail;
  std::uint64_t latency_ns = 0;
};

// Polls until nothing is outstanding (or 20 s pass); copies every answer.
std::vector<Answer> drain(Target& t, std::size_t max_per_poll = 64) {
  std::vector<Answer> got;
  std::vector<Done> buf(max_per_poll);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (t.outstanding() > 0 && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = t.poll(buf, 10ms);
    for (std::size_t i = 0; i < n; ++i) {
      const Done& d = buf[i];
      got.push_back(
          {d.tag, d.op, d.outcome, std::string(d.value), std::string(d.detail), d.latency_ns});
    }
  }
  return got;
}

Answer one(Target& t, OpKind op, std::string_view key, std::string_view value = {}) {
  static std::uint64_t tag = 1000;
  ++tag;
  EXPECT_TRUE(t.submit(op, key, value, tag));
  auto got = drain(t);
  EXPECT_EQ(got.size(), 1u);
  if (got.size() != 1) return {};
  EXPECT_EQ(got[0].tag, tag);
  EXPECT_EQ(got[0].op, op);
  return got[0];
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

const char* name(MemcachedProtocol p) {
  return p == MemcachedProtocol::meta ? "meta" : "ascii";
}

class MemcachedTargetTest : public ::testing::TestWithParam<MemcachedProtocol> {
 protected:
  std::unique_ptr<Target> connect(std::size_t window = 1024, std::size_t multiget = 100) {
    MemcachedOptions o;
    o.port = mc_.port();
    o.window = window;
    o.protocol = GetParam();
    o.multiget = multiget;
    return make_memcached_target(o);
  }
  MemcachedProcess mc_;
};

TEST_P(MemcachedTargetTest, SetGetRoundTripsBinaryLargeAndMisses) {
  auto t = connect();
  std::mt19937_64 rng(1);
  const std::string crlf = "a\r\nb\0c\r\n\r\nEND\r\nVA 3\r\n"s;
  const std::string zeros(16, '\0');
  const std::string big = random_bytes(rng, 100 * 1024);
  const std::string bigger = random_bytes(rng, 900 * 1024);  // past the first receive buffer
  const std::string long_key(250, 'k');
  const std::vector<std::pair<std::string, std::string>> kv = {
      {"k1", "v1"},       {"crlf", crlf}, {"zeros", zeros},       {"big", big},
      {"bigger", bigger}, {"empty", ""},  {long_key, "long key"}, {"01234567", "\xff\xfe\r"}};
  for (const auto& [k, v] : kv) {
    const Answer s = one(*t, OpKind::set, k, v);
    EXPECT_EQ(s.outcome, Outcome::ok) << k << ": " << s.detail;
  }
  for (const auto& [k, v] : kv) {
    const Answer g = one(*t, OpKind::get, k);
    EXPECT_EQ(g.outcome, Outcome::ok) << k << ": " << g.detail;
    EXPECT_EQ(g.value, v) << k;
    EXPECT_GT(g.latency_ns, 0u);
  }
  // The same, pipelined: every GET in one burst, the answers handed out one per poll() or many
  // per poll() while large values are still arriving (views must survive until the next poll).
  for (const std::size_t per_poll : {1, 64}) {
    for (std::size_t i = 0; i < kv.size(); ++i) {
      ASSERT_TRUE(t->submit(OpKind::get, kv[i].first, {}, i));
    }
    const auto burst = drain(*t, per_poll);
    ASSERT_EQ(burst.size(), kv.size());
    for (std::size_t i = 0; i < kv.size(); ++i) {
      EXPECT_EQ(burst[i].tag, i);
      EXPECT_EQ(burst[i].outcome, Outcome::ok);
      EXPECT_EQ(burst[i].value, kv[i].second) << kv[i].first << " " << per_poll;
    }
  }
  const Answer miss = one(*t, OpKind::get, "never-set");
  EXPECT_EQ(miss.outcome, Outcome::not_found);
  EXPECT_TRUE(miss.value.empty());
  // Overwrite, then read back the new value.
  EXPECT_EQ(one(*t, OpKind::set, "k1", crlf).outcome, Outcome::ok);
  EXPECT_EQ(one(*t, OpKind::get, "k1").value, crlf);
  const TargetCounters c = t->counters();
  EXPECT_EQ(c.retries, 0u);
  EXPECT_EQ(c.timeouts, 0u);
}

TEST_P(MemcachedTargetTest, ErrorsAreReportedPerRequestAndTheStreamGoesOn) {
  auto t = connect();
  const std::string too_big(2 * 1024 * 1024, 'x');  // memcached's item limit is 1 MB
  ASSERT_TRUE(t->submit(OpKind::set, "a", "1", 1));
  ASSERT_TRUE(t->submit(OpKind::set, "huge", too_big, 2));
  ASSERT_TRUE(t->submit(OpKind::get, "bad key", {}, 3));              // space: never sent
  ASSERT_TRUE(t->submit(OpKind::get, std::string(251, 'k'), {}, 4));  // too long: never sent
  ASSERT_TRUE(t->submit(OpKind::get, "", {}, 5));
  ASSERT_TRUE(t->submit(OpKind::get, "a", {}, 6));
  ASSERT_TRUE(t->submit(OpKind::get, "huge", {}, 7));
  const auto got = drain(*t);
  ASSERT_EQ(got.size(), 7u);
  std::map<std::uint64_t, Answer> by_tag;
  for (const auto& a : got) by_tag[a.tag] = a;
  ASSERT_EQ(by_tag.size(), 7u);
  EXPECT_EQ(by_tag[1].outcome, Outcome::ok);
  EXPECT_EQ(by_tag[2].outcome, Outcome::error);
  EXPECT_NE(by_tag[2].detail.find("SERVER_ERROR"), std::string::npos) << by_tag[2].detail;
  for (std::uint64_t tag : {3, 4, 5}) {
    EXPECT_EQ(by_tag[tag].outcome, Outcome::error) << tag;
    EXPECT_NE(by_tag[tag].detail.find("key not valid"), std::string::npos) << by_tag[tag].detail;
  }
  EXPECT_EQ(by_tag[6].outcome, Outcome::ok);
  EXPECT_EQ(by_tag[6].value, "1");
  EXPECT_EQ(by_tag[7].outcome, Outcome::not_found);
}

TEST_P(MemcachedTargetTest, PipelinedMixedBurstMatchesTheModel) {
  constexpr std::size_t kWindow = 512;
  constexpr std::size_t kRequests = 10'000;
  constexpr std::size_t kKeys = 300;
  auto t = connect(kWindow, 37);
  std::mt19937_64 rng(7);
  struct Req {
    OpKind op;
    std::string key;
    std::optional<std::string> expect;  // GET: the last value SET before it (in order)
  };
  // One connection: memcached runs the commands in the order they were written, so a GET
  // must see the last SET submitted before it.
  std::map<std::string, std::string> model;
  std::vector<Req> reqs;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < kRequests; ++i) {
    std::string key = "key" + std::to_string(rng() % kKeys);
    if (rng() % 3 == 0) {
      const std::size_t len = rng() % 10 == 0 ? 1000 + rng() % 20'000 : rng() % 40;
      std::string v = random_bytes(rng, len);
      model[key] = v;
      reqs.push_back({OpKind::set, std::move(key), std::move(v)});
    } else {
      auto it = model.find(key);
      reqs.push_back({OpKind::get, std::move(key),
                      it == model.end() ? std::nullopt : std::optional(it->second)});
    }
  }
  std::vector<int> answered(kRequests, 0);
  std::size_t next = 0, done = 0, max_outstanding = 0, full = 0;
  std::array<Done, 7> buf;  // small: answers often stop mid-read (and mid "get" line)
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (done < kRequests && std::chrono::steady_clock::now() < deadline) {
    while (next < kRequests) {
      const Req& r = reqs[next];
      const std::string_view v = r.op == OpKind::set ? std::string_view(*r.expect) : "";
      if (!t->submit(r.op, r.key, v, next)) {
        ++full;
        break;
      }
      ++next;
    }
    max_outstanding = std::max(max_outstanding, t->outstanding());
    ASSERT_LE(t->outstanding(), kWindow);
    const std::size_t n = t->poll(buf, 10ms);
    for (std::size_t i = 0; i < n; ++i) {
      const Done& d = buf[i];
      ASSERT_LT(d.tag, kRequests);
      ++answered[d.tag];
      ++done;
      const Req& r = reqs[d.tag];
      ASSERT_EQ(d.op, r.op) << d.tag;
      if (r.op == OpKind::set) {
        ASSERT_EQ(d.outcome, Outcome::ok) << d.tag << " " << d.detail;
      } else if (!r.expect) {
        ASSERT_EQ(d.outcome, Outcome::not_found) << d.tag;
      } else {
        ASSERT_EQ(d.outcome, Outcome::ok) << d.tag << " " << d.detail;
        ASSERT_EQ(d.value, *r.expect) << d.tag;
      }
    }
  }
  EXPECT_EQ(done, kRequests);
  EXPECT_EQ(t->outstanding(), 0u);
  for (std::size_t i = 0; i < kRequests; ++i) ASSERT_EQ(answered[i], 1) << i;
  EXPECT_EQ(max_outstanding, kWindow);  // the window was really filled
  EXPECT_GT(full, 0u);
  EXPECT_EQ(t->counters().retries, 0u);
}

TEST_P(MemcachedTargetTest, SubmitRefusesPastTheWindow) {
  auto t = connect(4);
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(t->submit(OpKind::get, "w", {}, i));
  EXPECT_FALSE(t->submit(OpKind::get, "w", {}, 99));
  EXPECT_EQ(t->outstanding(), 4u);
  const auto got = drain(*t);
  ASSERT_EQ(got.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].tag, i);
    EXPECT_EQ(got[i].outcome, Outcome::not_found);
  }
  EXPECT_TRUE(t->submit(OpKind::get, "w", {}, 5));
  EXPECT_EQ(drain(*t).size(), 1u);
}

TEST_P(MemcachedTargetTest, ClosedConnectionFailsOutstandingAndLaterRequests) {
  auto t = connect();
  ASSERT_EQ(one(*t, OpKind::set, "x", "1").outcome, Outcome::ok);
  mc_.pause();  // queue answers-to-be, then kill the server under them
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(t->submit(OpKind::get, "x", {}, i));
  std::array<Done, 8> buf;
  EXPECT_EQ(t->poll(buf, 1ms), 0u);  // written, not answered
  mc_.stop();
  const auto got = drain(*t);
  ASSERT_EQ(got.size(), 100u);
  for (const auto& a : got) {
    EXPECT_EQ(a.outcome, Outcome::error);
    EXPECT_NE(a.detail.find("closed the connection"), std::string::npos) << a.detail;
  }
  ASSERT_TRUE(t->submit(OpKind::set, "x", "2", 200));
  const auto later = drain(*t);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].outcome, Outcome::error);
  EXPECT_NE(later[0].detail.find("closed the connection"), std::string::npos);
}

TEST_P(MemcachedTargetTest, ServerThatStopsAnsweringTimesOut) {
  MemcachedOptions o;
  o.port = mc_.port();
  o.protocol = GetParam();
  o.timeout = 200ms;
  auto t = make_memcached_target(o);
  mc_.pause();
  ASSERT_TRUE(t->submit(OpKind::get, "y", {}, 1));
  ASSERT_TRUE(t->submit(OpKind::set, "y", "v", 2));
  const auto start = std::chrono::steady_clock::now();
  const auto got = drain(*t);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(got.size(), 2u);
  for (const auto& a : got) {
    EXPECT_EQ(a.outcome, Outcome::timeout);
    EXPECT_NE(a.detail.find("no answer"), std::string::npos) << a.detail;
  }
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(t->counters().timeouts, 2u);
  mc_.signal(SIGCONT);
}

INSTANTIATE_TEST_SUITE_P(Protocols, MemcachedTargetTest,
                         ::testing::Values(MemcachedProtocol::meta, MemcachedProtocol::ascii),
                         [](const auto& p) { return std::string(name(p.param)); });

TEST(MemcachedTargetConnect, RefusedPortThrowsOneLineReason) {
  const std::uint16_t port = free_port();  // nothing listens there
  MemcachedOptions o;
  o.port = port;
  try {
    make_memcached_target(o);
    FAIL() << "connected to a closed port";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(
        what.rfind("cannot connect to memcached at 127.0.0.1:" + std::to_string(port) + ": ", 0),
        0u)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

TEST(MemcachedTargetConnect, NotAMemcachedIsRejected) {
  const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(ls, 4), 0);
  ASSERT_EQ(::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::thread server([ls] {
    const int c = ::accept(ls, nullptr, nullptr);
    if (c < 0) return;
    char buf[64];
    (void)!::recv(c, buf, sizeof buf, 0);
    const std::string_view hello = "HELLO buddykv\r\n";
    (void)!::send(c, hello.data(), hello.size(), MSG_NOSIGNAL);
    ::close(c);
  });
  MemcachedOptions o;
  o.port = ntohs(a.sin_port);
  try {
    make_memcached_target(o);
    ADD_FAILURE() << "accepted a server that is not memcached";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a memcached"), std::string::npos) << e.what();
  }
  server.join();
  ::close(ls);
}

TEST(MemcachedTargetConnect, BadOptionsThrow) {
  MemcachedOptions o;
  o.window = 0;
  EXPECT_THROW(make_memcached_target(o), std::runtime_error);
  o.window = 8;
  o.multiget = 0;
  EXPECT_THROW(make_memcached_target(o), std::runtime_error);
}

}  // namespace
}  // namespace buddy::bench
