#include "buddy/qp/segment.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace buddy::qp {
namespace {

using testing::unique_name;

struct Req32 {
  std::uint64_t a, b, c, d;
};
struct Resp16 {
  std::uint64_t a, b;
};

SegmentLayout kv_layout(std::uint32_t qps = 4) {
  SegmentLayout l;
  l.queue_pairs = qps;
  l.request = RingSpec::fixed(sizeof(Req32), 1024);
  l.response = RingSpec::fixed(sizeof(Resp16), 1024);
  l.extra_bytes = 4096;
  return l;
}

// Runs f, expects an Error whose message contains every one of the given fragments.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "expected Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& frag : fragments) {
      EXPECT_NE(msg.find(frag), std::string::npos) << "'" << frag << "' not in: " << msg;
    }
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "errors are one line";
  }
}

TEST(Segment, CreateAttachShareRings) {
  const auto name = unique_name("seg");
  Segment owner = Segment::create(name, kv_layout());
  EXPECT_TRUE(owner.is_owner());
  Segment peer = Segment::attach(name, kv_layout());
  EXPECT_FALSE(peer.is_owner());
  EXPECT_EQ(peer.layout(), kv_layout());
  EXPECT_EQ(peer.size_bytes(), Segment::size_for(kv_layout()));
  for (std::uint32_t q = 0; q < 4; ++q) {
    auto host = owner.requester<Req32, Resp16>(q);
    auto engine = peer.responder<Req32, Resp16>(q);
    ASSERT_TRUE(host.requests.try_push({q, 1, 2, 3}));
    Req32 r{};
    ASSERT_TRUE(engine.requests.try_pop(r));
    EXPECT_EQ(r.a, q);
    ASSERT_TRUE(engine.responses.try_push({q, 42}));
    Resp16 out{};
    ASSERT_TRUE(host.responses.try_pop(out));
    EXPECT_EQ(out.b, 42u);
  }
  // Queue pairs are independent: nothing leaked into neighbours.
  Resp16 none{};
  auto first = owner.requester<Req32, Resp16>(0);
  EXPECT_FALSE(first.responses.try_pop(none));
  owner.extra()[100] = std::byte{9};
  EXPECT_EQ(peer.extra()[100], std::byte{9});
}

TEST(Segment, ModeIs0600) {
  const auto name = unique_name("mode");
  Segment s = Segment::create(name, kv_layout(1));
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/buddy." + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Segment, OwnerRemovesNameOnDestruction) {
  const auto name = unique_name("gone");
  { Segment s = Segment::create(name, kv_layout(1)); }
  expect_error([&] { Segment::attach(name); }, {"does not exist"});
}

TEST(Segment, AttachMissingFailsClearly) {
  expect_error([] { Segment::attach("no-such-segment-xyz"); },
               {"no-such-segment-xyz", "does not exist"});
}

TEST(Segment, AttachWaitsForCreator) {
  const auto name = unique_name("wait");
  auto t0 = std::chrono::steady_clock::now();
  expect_error([&] { Segment::attach(name, AttachOptions{std::chrono::milliseconds(50)}); },
               {"does not exist"});
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
}

// Maps the named segment's header directly, as a foreign process (another build) would.
SegmentHeader* raw_header(const std::string& name) {
  const int fd = ::open(("/dev/shm/buddy." + name).c_str(), O_RDWR);
  if (fd < 0) return nullptr;
  void* p = ::mmap(nullptr, sizeof(SegmentHeader), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  return p == MAP_FAILED ? nullptr : static_cast<SegmentHeader*>(p);
}

TEST(Segment, AttachOtherVersionNamesTheVersions) {
  const auto name = unique_name("ver");
  Segment s = Segment::create(name, kv_layout(1));
  SegmentHeader* h = raw_header(name);
  ASSERT_NE(h, nullptr);
  h->version = kLayoutVersion + 1;
  expect_error([&] { Segment::attach(name); },
               {"layout version " + std::to_string(kLayoutVersion + 1),
                "this build expects " + std::to_string(kLayoutVersion)});
  ::munmap(h, sizeof(SegmentHeader));
}

TEST(Segment, HeaderRecordsTheCreatorsIsaPageSizeAndSizes) {
  const auto name = unique_name("isa");
  Segment s = Segment::create(name, kv_layout(1));
  Segment peer = Segment::attach(name);
  EXPECT_EQ(peer.creator_isa(), kThisIsa);
  EXPECT_NE(peer.creator_isa(), Isa::unknown) << "x86-64 and aarch64 builds know their ISA";
  EXPECT_EQ(peer.creator_page_size(), static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE)));
  SegmentHeader* h = raw_header(name);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->byte_order, kByteOrderMark);
  EXPECT_EQ(h->cache_line, kCacheLine);
  EXPECT_EQ(h->ring_header_bytes, 192u);
  EXPECT_EQ(h->liveness_bytes, 64u);
  ::munmap(h, sizeof(SegmentHeader));
}

// A segment of another build's layout (planted here field by field) is refused on attach with
// one line naming the field and both values.
TEST(Segment, AttachOtherByteOrderOrSizesNamesTheField) {
  struct Plant {
    void (*set)(SegmentHeader*);
    std::vector<std::string> want;
  };
  const Plant plants[] = {
      {[](SegmentHeader* h) { h->byte_order = 0x04030201u; },
       {"byte_order 0x04030201, expected 0x01020304", "other byte order"}},
      {[](SegmentHeader* h) { h->cache_line = 128; },
       {"cache_line 128 B, this build aligns to 64 B"}},
      {[](SegmentHeader* h) { h->ring_header_bytes = 384; },
       {"ring_header_bytes 384, expected 192"}},
      {[](SegmentHeader* h) { h->liveness_bytes = 128; }, {"liveness_bytes 128, expected 64"}},
  };
  for (const Plant& p : plants) {
    const auto name = unique_name("plant");
    Segment s = Segment::create(name, kv_layout(1));
    SegmentHeader* h = raw_header(name);
    ASSERT_NE(h, nullptr);
    p.set(h);
    expect_error([&] { Segment::attach(name); }, p.want);
    ::munmap(h, sizeof(SegmentHeader));
  }
}

TEST(Segment, AttachOtherLayoutNamesEveryDifference) {
  const auto name = unique_name("lay");
  Segment s = Segment::create(name, kv_layout(4));
  SegmentLayout want = kv_layout(8);
  want.response = RingSpec::fixed(16, 2048);
  expect_error([&] { Segment::attach(name, want); },
               {"queue pairs 4, expected 8",
                "response ring fixed 1024 x 16 B, expected fixed "
                "2048 x 16 B"});
}

TEST(Segment, TruncatedSegmentIsRejected) {
  const auto name = unique_name("trunc");
  Segment s = Segment::create(name, kv_layout(2));
  ASSERT_EQ(::truncate(("/dev/shm/buddy." + name).c_str(), 4096), 0);
  expect_error([&] { Segment::attach(name); }, {"size 4096 B", "header says"});
}

TEST(Segment, ForeignFileIsNotASegment) {
  const auto name = unique_name("foreign");
  const std::string path = "/dev/shm/buddy." + name;
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::string junk(1000, 'x');
  std::fwrite(junk.data(), 1, junk.size(), f);
  std::fclose(f);
  expect_error([&] { Segment::attach(name); }, {"not a buddy::qp segment"});
  // A stale foreign file is replaced by create().
  Segment s = Segment::create(name, kv_layout(1));
  EXPECT_NO_THROW(Segment::attach(name));
}

TEST(Segment, LiveSegmentIsNeverReplaced) {
  const auto name = unique_name("live");
  Segment s = Segment::create(name, kv_layout(1));
  expect_error([&] { Segment::create(name, kv_layout(1)); }, {"already exists", "alive"});
}

// What a killed creator leaves behind is swept; a segment with a live side, one still being
// made, a foreign file and other prefixes are not.
TEST(Segment, RemoveStaleSweepsOnlyDeadCreatorsSegments) {
  const auto prefix = unique_name("sweep");
  const std::string dead = prefix + "-dead";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Segment s = Segment::create(dead, kv_layout(1));
    std::_Exit(0);  // as if killed: the destructor never removes the name
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(::access(("/dev/shm/buddy." + dead).c_str(), F_OK), 0);
  Segment live = Segment::create(prefix + "-live", kv_layout(1));
  const std::string foreign = "/dev/shm/buddy." + prefix + "-foreign";
  std::ofstream(foreign) << std::string(100, 'x');
  const auto other = unique_name("other");
  Segment other_live = Segment::create(other, kv_layout(1));

  EXPECT_EQ(Segment::remove_stale(prefix), std::vector<std::string>{dead});
  EXPECT_NE(::access(("/dev/shm/buddy." + dead).c_str(), F_OK), 0);
  EXPECT_NO_THROW(Segment::attach(prefix + "-live"));
  EXPECT_EQ(::access(foreign.c_str(), F_OK), 0);
  EXPECT_TRUE(Segment::remove_stale(prefix).empty());
  ::unlink(foreign.c_str());
}

TEST(Segment, WrongEntryTypeIsAnError) {
  const auto name = unique_name("type");
  Segment s = Segment::create(name, kv_layout(1));
  expect_error([&] { s.request_producer<Resp16>(0); }, {"32 B entries", "16 B entries"});
  expect_error([&] { s.request_producer<Record>(0); }, {"fixed ring", "records ring"});
  expect_error([&] { s.request_ring(1); }, {"queue pair 1 out of range"});
}

TEST(Segment, OversizedSegmentFailsCleanly) {
  // Larger than /dev/shm can hold: a clear error at create time, not a SIGBUS on first touch.
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs("/dev/shm", &vfs), 0);
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes + (1ull << 30) > (63ull << 30)) GTEST_SKIP() << "/dev/shm too large to overflow";
  // tmpfs reserves page by page: where /dev/shm may grow as large as the free RAM, reserving past
  // it fills the RAM first and the OOM killer ends everything (seen on a 24 GiB VM whose /dev/shm
  // is 24 GiB). Overflow it only where it is clearly smaller than the memory available.
  std::uint64_t available = 0;
  {
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
      std::uint64_t kib = 0;
      meminfo >> kib;
      if (key == "MemAvailable:") available = kib << 10;
      meminfo.ignore(64, '\n');
    }
  }
  if (available == 0 || free_bytes + (2ull << 30) > available / 4 * 3) {
    GTEST_SKIP() << "/dev/shm (" << (free_bytes >> 20) << " MiB free) is not clearly smaller than "
                 << "the memory available (" << (available >> 20) << " MiB): overflowing it would "
                 << "fill the RAM";
  }
  SegmentLayout l = kv_layout(1);
  l.extra_bytes = free_bytes + (1ull << 30);
  const auto name = unique_name("huge");
  expect_error([&] { Segment::create(name, l); }, {"cannot reserve", "/dev/shm"});
  expect_error([&] { Segment::attach(name); }, {"does not exist"});
}

TEST(Segment, InvalidLayoutsAreRejected) {
  SegmentLayout l = kv_layout(1);
  l.request.capacity = 1000;
  expect_error([&] { Segment::size_for(l); }, {"power of two"});
  l = kv_layout(0);
  expect_error([&] { Segment::size_for(l); }, {"queue pairs"});
  // 2^45 entries of 2^20 B: the byte count wraps around 2^64 and must not pass as small.
  l = kv_layout(1);
  l.request = RingSpec::fixed(1u << 20, 1ull << 45);
  expect_error([&] { Segment::size_for(l); }, {"request ring", "64 GiB"});
  expect_error([&] { Segment::create("bad/name", kv_layout(1)); }, {"may only hold"});
}

}  // namespace
}  // namespace buddy::qp
