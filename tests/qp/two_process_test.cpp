// Two OS processes sharing nothing but a named segment: the parent creates it, the forked child
// attaches by name (a fresh mapping, as a separate engine process would) and echoes. At least
// 10 M entries each way in the release build, every one checked for order and content.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "echo_peers.hpp"

namespace buddy::qp::testing {
namespace {

constexpr auto kTimeout = std::chrono::seconds(300);

// Runs body() in a forked child; the child prints its failure reason to stderr and exits 0 on
// success. Children report their checksum through the segment's user header.
template <class F>
pid_t spawn(F&& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 0;
    try {
      PeerResult r = body();
      if (!r.ok) {
        std::fprintf(stderr, "child: %s\n", r.why.c_str());
        code = 1;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 2;
    }
    std::fflush(stderr);
    ::_exit(code);
  }
  return pid;
}

TEST(TwoProcess, FixedEntriesEachWay) {
  const std::uint64_t n = buddy::testing::soak(4'000'000) / kScale;  // label soak
  const auto name = unique_name("2p-fixed");
  const SegmentLayout layout = fixed_echo_layout(4096);
  Segment seg = Segment::create(name, layout);

  ChildGuard child{spawn([&] {
    Segment mine = Segment::attach(name, layout, AttachOptions{std::chrono::seconds(10)});
    PeerResult r = fixed_responder(mine.responder<Req32, Resp16>(0), n, 64, kTimeout);
    if (r.ok) std::memcpy(mine.user_header().data(), &r.checksum, sizeof r.checksum);
    return r;
  })};
  ASSERT_GT(child.pid, 0);

  PeerResult r = fixed_requester(seg.requester<Req32, Resp16>(0), n, 64, kTimeout);
  ASSERT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.count, n);
  const int st = child.wait_status();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  std::uint64_t child_sum = 0;
  std::memcpy(&child_sum, seg.user_header().data(), sizeof child_sum);
  EXPECT_EQ(child_sum, r.checksum) << "both sides must have seen the same stream";
}

TEST(TwoProcess, RecordsOfRandomSizes) {
  const std::uint64_t n = buddy::testing::soak(1'000'000) / kScale;
  const auto name = unique_name("2p-rec");
  const SegmentLayout layout = record_echo_layout(64 * 1024, 4096);
  const std::uint64_t max_len = max_record_bytes(64 * 1024);
  Segment seg = Segment::create(name, layout);

  ChildGuard child{spawn([&] {
    Segment mine = Segment::attach(name, layout, AttachOptions{std::chrono::seconds(10)});
    PeerResult r = record_responder(mine.responder<Record, Resp16>(0), n, max_len, 64, kTimeout);
    if (r.ok) std::memcpy(mine.user_header().data(), &r.checksum, sizeof r.checksum);
    return r;
  })};
  ASSERT_GT(child.pid, 0);

  PeerResult r = record_requester(seg.requester<Record, Resp16>(0), n, max_len, 64, kTimeout);
  ASSERT_TRUE(r.ok) << r.why;
  const int st = child.wait_status();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  std::uint64_t child_sum = 0;
  std::memcpy(&child_sum, seg.user_header().data(), sizeof child_sum);
  EXPECT_EQ(child_sum, r.checksum);
}

TEST(TwoProcess, ChildSeesCreatorAliveAndItsHeartbeat) {
  const auto name = unique_name("2p-beat");
  Segment seg = Segment::create(name, fixed_echo_layout(64));
  seg.beat();
  ChildGuard child{spawn([&] {
    Segment mine = Segment::attach(name, AttachOptions{std::chrono::seconds(10)});
    PeerResult r;
    if (mine.holder(Side::creator).pid != ::getppid())
      r = {false, "creator is not the parent", 0, 0};
    if (mine.holder(Side::creator).start_time != process_start_time(::getppid())) {
      r = {false, "creator's start time is not the parent's", 0, 0};
    }
    if (!mine.peer_alive()) r = {false, "creator reported dead", 0, 0};
    if (mine.peer_heartbeat_age() > std::chrono::seconds(60))
      r = {false, "heartbeat too old", 0, 0};
    return r;
  })};
  const int st = child.wait_status();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
}

// The child as the engine: it claims the attacher side and beats; user[0..7] carries the
// parent's word to it (1: release and exit, 2: keep beating until killed).
std::atomic<std::uint64_t>& word(Segment& s) {
  return *reinterpret_cast<std::atomic<std::uint64_t>*>(s.user_header().data());
}

pid_t spawn_attacher(const std::string& name) {
  return spawn([name] {
    Segment mine = Segment::attach(name, AttachOptions{std::chrono::seconds(10)});
    AttachClaim claim = mine.claim_attacher();
    PeerResult r;
    if (!claim.peer_alive()) r = {false, "the creator (parent) looks dead to the attacher", 0, 0};
    Backoff backoff(BackoffConfig{0, 0, 100, 1000});
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (word(mine).load() != 1 && std::chrono::steady_clock::now() < deadline) {
      claim.beat();
      backoff.pause();
    }
    return r;  // releases the claim
  });
}

// Waits until the child holds the attacher side.
void await_claim(const Segment& seg, pid_t child) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (seg.holder(Side::attacher).pid != child && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(seg.holder(Side::attacher).pid, child);
}

TEST(TwoProcess, AttacherClaimIsExclusiveAndReleasedOnExit) {
  const auto name = unique_name("2p-claim");
  Segment seg = Segment::create(name, fixed_echo_layout(64));
  ChildGuard child{spawn_attacher(name)};
  ASSERT_GT(child.pid, 0);
  await_claim(seg, child.pid);
  EXPECT_EQ(seg.holder(Side::attacher).start_time, process_start_time(child.pid));
  EXPECT_TRUE(seg.peer_alive());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LT(seg.peer_heartbeat_age(), std::chrono::seconds(2)) << "the child beats";

  Segment second = Segment::attach(name);
  try {
    AttachClaim c = second.claim_attacher();
    ADD_FAILURE() << "a second attacher got the segment";
  } catch (const AlreadyAttached& e) {
    EXPECT_NE(std::string(e.what()).find("already attached by pid " + std::to_string(child.pid)),
              std::string::npos)
        << e.what();
  }
  word(seg).store(1);
  const int st = child.wait_status();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  EXPECT_EQ(seg.holder(Side::attacher).pid, 0) << "the child's claim was released when it ended";
  EXPECT_FALSE(seg.peer_alive());
  AttachClaim mine = second.claim_attacher();
  EXPECT_EQ(mine.replaced().pid, 0);
}

TEST(TwoProcess, KilledAttacherIsDeadAtOnceAndReplaced) {
  const auto name = unique_name("2p-killed");
  Segment seg = Segment::create(name, fixed_echo_layout(64));
  ChildGuard child{spawn_attacher(name)};
  ASSERT_GT(child.pid, 0);
  await_claim(seg, child.pid);
  ASSERT_TRUE(seg.peer_alive());
  ::kill(child.pid, SIGKILL);
  // Dead as soon as it has exited, before anyone reaps it (a zombie is not alive).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seg.peer_alive() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(seg.peer_alive());
  EXPECT_EQ(seg.holder(Side::attacher).pid, child.pid) << "a killed holder releases nothing";
  const pid_t dead = child.pid;
  child.wait_status();
  AttachClaim mine = seg.claim_attacher();
  EXPECT_EQ(mine.replaced().pid, dead);
  EXPECT_FALSE(mine.replaced().pid_reused);
  EXPECT_EQ(seg.holder(Side::attacher), this_process());
}
}  // namespace
}  // namespace buddy::qp::testing
