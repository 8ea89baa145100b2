// The liveness records of a segment in one process: the creator's record, claiming the attacher
// side (exclusive, released on destruction), replacing a holder whose pid now runs another
// process, heartbeats, and the process checks under them (start time, zombies). The same across
// two processes: two_process_test.cpp.
#include "buddy/qp/liveness.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "buddy/base/clock.hpp"
#include "buddy/qp/segment.hpp"
#include "test_util.hpp"

namespace buddy::qp {
namespace {

using testing::unique_name;

SegmentLayout small_layout() {
  SegmentLayout l;
  l.request = RingSpec::records(4096);
  l.response = RingSpec::records(4096);
  return l;
}

// The named segment's header bytes, mapped as another process (or the DPU) would.
struct RawHeader {
  std::byte* p = nullptr;
  explicit RawHeader(const std::string& name) {
    const int fd = ::open(("/dev/shm/buddy." + name).c_str(), O_RDWR);
    if (fd < 0) return;
    void* m = ::mmap(nullptr, sizeof(SegmentHeader), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m != MAP_FAILED) p = static_cast<std::byte*>(m);
  }
  ~RawHeader() {
    if (p != nullptr) ::munmap(p, sizeof(SegmentHeader));
  }
  template <class T>
  T get(std::size_t offset) const {
    T v{};
    std::memcpy(&v, p + offset, sizeof v);
    return v;
  }
  template <class T>
  void put(std::size_t offset, T v) {
    std::memcpy(p + offset, &v, sizeof v);
  }
};

TEST(Liveness, ThisProcessHasAStartTime) {
  const Holder me = this_process();
  EXPECT_EQ(me.pid, ::getpid());
  EXPECT_GT(me.start_time, 0u) << "/proc/self/stat field 22";
  EXPECT_EQ(check_process(me), ProcessState::alive);
  EXPECT_EQ(check_process({me.pid, me.start_time + 1}), ProcessState::pid_reused);
  EXPECT_EQ(check_process({me.pid, 0}), ProcessState::alive) << "start time unknown: pid only";
  EXPECT_EQ(check_process({0, 0}), ProcessState::gone);
  // The parent started before us: its start time is not ours.
  EXPECT_LE(process_start_time(::getppid()), me.start_time);
  EXPECT_GT(process_start_time(::getppid()), 0u);
}

TEST(Liveness, AZombieIsGone) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  const Holder h{child, process_start_time(child)};
  // Until it is reaped the pid exists (kill(pid, 0) succeeds), but it has exited.
  for (int i = 0; i < 2000 && check_process(h) == ProcessState::alive; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(::kill(child, 0), 0) << "not reaped yet, the pid still exists";
  EXPECT_EQ(check_process(h), ProcessState::gone);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(check_process(h), ProcessState::gone);
}

TEST(Liveness, CreatorRecordNamesThisProcess) {
  const auto name = unique_name("live-creator");
  Segment s = Segment::create(name, small_layout());
  Segment peer = Segment::attach(name);
  EXPECT_EQ(peer.holder(Side::creator), this_process());
  EXPECT_TRUE(peer.alive(Side::creator));
  EXPECT_TRUE(peer.peer_alive()) << "an attached handle's peer is the creator";
  EXPECT_EQ(s.peer(), Side::attacher);
  EXPECT_FALSE(s.peer_alive()) << "nobody claimed the attacher side";
  EXPECT_EQ(s.holder(Side::attacher).pid, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(peer.peer_heartbeat_age(), std::chrono::milliseconds(20));
  s.beat();
  EXPECT_LT(peer.peer_heartbeat_age(), std::chrono::milliseconds(20));
  try {
    peer.beat();
    ADD_FAILURE() << "an attached handle beat as the creator";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only its creator"), std::string::npos) << e.what();
  }
}

TEST(Liveness, ClaimRecordsThisProcessAndIsExclusive) {
  const auto name = unique_name("live-claim");
  Segment s = Segment::create(name, small_layout());
  Segment engine = Segment::attach(name);
  AttachClaim claim = engine.claim_attacher();
  ASSERT_TRUE(claim.held());
  EXPECT_EQ(claim.replaced().pid, 0) << "the record was free";
  EXPECT_EQ(s.holder(Side::attacher), this_process());
  EXPECT_TRUE(s.peer_alive());
  EXPECT_TRUE(claim.peer_alive()) << "the claim's peer is the creator";
  EXPECT_LT(s.peer_heartbeat_age(), std::chrono::seconds(1)) << "a claim starts with a beat";

  // A second claim, from a second handle or the creator's, is refused: one line, the pid.
  Segment other = Segment::attach(name);
  for (Segment* h : {&other, &s, &engine}) {
    try {
      AttachClaim second = h->claim_attacher();
      ADD_FAILURE() << "a second claim succeeded";
    } catch (const AlreadyAttached& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("already attached by pid " + std::to_string(::getpid())),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(s.holder(Side::attacher).pid, ::getpid()) << "the refused claims changed nothing";
}

TEST(Liveness, ClaimIsReleasedOnDestruction) {
  const auto name = unique_name("live-release");
  Segment s = Segment::create(name, small_layout());
  {
    AttachClaim claim = s.claim_attacher();
    AttachClaim moved = std::move(claim);
    EXPECT_FALSE(claim.held());  // NOLINT(bugprone-use-after-move): moved-from holds nothing
    EXPECT_TRUE(moved.held());
    EXPECT_EQ(s.holder(Side::attacher).pid, ::getpid());
  }
  EXPECT_EQ(s.holder(Side::attacher).pid, 0);
  EXPECT_FALSE(s.peer_alive());
  AttachClaim again = s.claim_attacher();
  EXPECT_EQ(again.replaced().pid, 0) << "a released record is free, not stale";
  again.release();
  again.release();  // idempotent
  EXPECT_EQ(s.holder(Side::attacher).pid, 0);
}

TEST(Liveness, ReleaseLeavesAnotherHoldersClaimAlone) {
  const auto name = unique_name("live-steal");
  Segment s = Segment::create(name, small_layout());
  RawHeader raw(name);
  ASSERT_NE(raw.p, nullptr);
  AttachClaim claim = s.claim_attacher();
  // Someone who took us for dead replaced us (here: a forged record of pid 1).
  raw.put<std::int64_t>(offsetof(SegmentHeader, attacher), 1);
  claim.release();
  EXPECT_EQ(raw.get<std::int64_t>(offsetof(SegmentHeader, attacher)), 1)
      << "release cleared a record that was no longer ours";
}

TEST(Liveness, PidReusedAttacherIsReplaced) {
  const auto name = unique_name("live-reuse");
  Segment s = Segment::create(name, small_layout());
  RawHeader raw(name);
  ASSERT_NE(raw.p, nullptr);
  // The attacher record as a dead attacher left it, whose pid the kernel has since given to a
  // live process (ours): the pid runs, the start time differs. The documented offsets.
  const Holder me = this_process();
  raw.put<std::int64_t>(192, me.pid);
  raw.put<std::uint64_t>(192 + 8, me.start_time - 1);
  raw.put<std::uint64_t>(192 + 16, 1);
  EXPECT_EQ(s.holder(Side::attacher), (Holder{me.pid, me.start_time - 1}));
  EXPECT_FALSE(s.alive(Side::attacher)) << "a pid reused by another process is not the holder";
  const std::uint64_t now = base::monotonic_ns();
  EXPECT_GE(static_cast<std::uint64_t>(s.heartbeat_age(Side::attacher).count()), now - 1)
      << "it beat 1 ns after boot";

  AttachClaim claim = s.claim_attacher();
  EXPECT_EQ(claim.replaced().pid, me.pid);
  EXPECT_TRUE(claim.replaced().pid_reused);
  EXPECT_EQ(s.holder(Side::attacher), me);
  EXPECT_EQ(raw.get<std::uint64_t>(192 + 8), me.start_time);
}

TEST(Liveness, AbandonedClaimInProgressIsReplaced) {
  const auto name = unique_name("live-half");
  Segment s = Segment::create(name, small_layout());
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  // A claimant that died between its compare-and-swap and storing its pid: -pid stays.
  RawHeader raw(name);
  ASSERT_NE(raw.p, nullptr);
  raw.put<std::int64_t>(192, -static_cast<std::int64_t>(child));
  EXPECT_EQ(s.holder(Side::attacher).pid, 0) << "a claim in progress holds nothing yet";
  EXPECT_FALSE(s.alive(Side::attacher));
  AttachClaim claim = s.claim_attacher();
  EXPECT_EQ(claim.replaced().pid, child);
  EXPECT_FALSE(claim.replaced().pid_reused);
}

TEST(Liveness, ClaimBeatsWithTheGivenTime) {
  const auto name = unique_name("live-beat");
  Segment s = Segment::create(name, small_layout());
  AttachClaim claim = s.claim_attacher();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_GE(s.peer_heartbeat_age(), std::chrono::milliseconds(30));
  claim.beat();
  EXPECT_LT(s.peer_heartbeat_age(), std::chrono::milliseconds(30));
  RawHeader raw(name);
  ASSERT_NE(raw.p, nullptr);
  claim.beat(12345);
  EXPECT_EQ(raw.get<std::uint64_t>(offsetof(SegmentHeader, attacher) + 16), 12345u);
}

}  // namespace
}  // namespace buddy::qp
