// Two OS processes sharing nothing but a named segment: the parent creates it, the forked child
// attaches by name (a fresh mapping, as a separate engine process would) and echoes. At least
// 10 M entries each way in the release build, every one checked for order and content.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

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
    if (mine.creator_pid() != ::getppid()) r = {false, "creator pid is not the parent", 0, 0};
    if (!mine.creator_alive()) r = {false, "creator reported dead", 0, 0};
    if (mine.heartbeat_age() > std::chrono::seconds(60)) r = {false, "heartbeat too old", 0, 0};
    return r;
  })};
  const int st = child.wait_status();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
}

}  // namespace
}  // namespace buddy::qp::testing
