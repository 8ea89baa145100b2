#include "buddy/qp/segment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>
#include <utility>

#include "buddy/base/clock.hpp"
#include "buddy/qp/backoff.hpp"

namespace buddy::qp {

namespace {

constexpr std::uint64_t kMaxSegmentBytes = 64ull << 30;
constexpr std::uint32_t kMaxQueuePairs = 1u << 16;

std::string errno_text(int e) {
  return std::strerror(e);
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string shm_path(std::string_view name) {
  return "/buddy." + std::string(name);
}

void check_name(std::string_view name) {
  if (std::string why = segment_name_error(name); !why.empty()) throw Error(why);
}

void check_ring(const RingSpec& r, const char* which) {
  const std::string w(which);
  if (r.kind == RingKind::fixed) {
    if (r.entry_bytes == 0) throw Error(w + " ring: entry size must be > 0");
    if (!is_pow2(r.capacity) || r.capacity < 2) {
      throw Error(w + " ring: capacity must be a power of two >= 2 entries, got " +
                  std::to_string(r.capacity));
    }
  } else if (r.kind == RingKind::records) {
    if (r.entry_bytes != 0) throw Error(w + " ring: record rings have entry size 0");
    if (!is_pow2(r.capacity) || r.capacity < 64) {
      throw Error(w + " ring: capacity must be a power of two >= 64 bytes, got " +
                  std::to_string(r.capacity));
    }
  } else {
    throw Error(w + " ring: unknown kind " + std::to_string(static_cast<std::uint32_t>(r.kind)));
  }
  // Compared by division: capacity * entry_bytes may not fit in 64 bits.
  const std::uint64_t unit = r.kind == RingKind::fixed ? r.entry_bytes : 1;
  if (r.capacity > kMaxSegmentBytes / unit) throw Error(w + " ring: larger than 64 GiB");
}

std::uint64_t ring_region_bytes(const RingSpec& r) {
  return round_up(sizeof(RingHeader) + r.data_bytes(), kCacheLine);
}

std::uint64_t qp_stride(const SegmentLayout& l) {
  return ring_region_bytes(l.request) + ring_region_bytes(l.response);
}

std::uint64_t extra_offset(const SegmentLayout& l) {
  return sizeof(SegmentHeader) + qp_stride(l) * l.queue_pairs;
}

std::string describe(const RingSpec& r) {
  if (r.kind == RingKind::fixed) {
    return "fixed " + std::to_string(r.capacity) + " x " + std::to_string(r.entry_bytes) + " B";
  }
  return "records " + std::to_string(r.capacity) + " B";
}

// One line naming every field in which two layouts differ.
std::string layout_diff(const SegmentLayout& got, const SegmentLayout& want) {
  std::string d;
  auto add = [&](const std::string& what) { d += (d.empty() ? "" : "; ") + what; };
  if (got.queue_pairs != want.queue_pairs) {
    add("queue pairs " + std::to_string(got.queue_pairs) + ", expected " +
        std::to_string(want.queue_pairs));
  }
  if (!(got.request == want.request)) {
    add("request ring " + describe(got.request) + ", expected " + describe(want.request));
  }
  if (!(got.response == want.response)) {
    add("response ring " + describe(got.response) + ", expected " + describe(want.response));
  }
  if (got.extra_bytes != want.extra_bytes) {
    add("extra area " + std::to_string(got.extra_bytes) + " B, expected " +
        std::to_string(want.extra_bytes) + " B");
  }
  return d;
}

// Maps an existing shm object; returns {nullptr, size} while it is smaller than a header (the
// creator has not sized it yet). Closes fd in every case.
std::pair<std::byte*, std::uint64_t> map_existing(std::string_view name, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw Error("segment '" + std::string(name) + "': fstat: " + errno_text(e));
  }
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes < sizeof(SegmentHeader)) {
    ::close(fd);
    return {nullptr, file_bytes};
  }
  void* p = ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) throw Error("segment '" + std::string(name) + "': mmap: " + errno_text(e));
  return {static_cast<std::byte*>(p), file_bytes};
}

}  // namespace

const char* to_string(Isa isa) noexcept {
  switch (isa) {
    case Isa::x86_64:
      return "x86-64";
    case Isa::aarch64:
      return "aarch64";
    case Isa::unknown:
      break;
  }
  return "unknown";
}

Isa Segment::creator_isa() const {
  return header()->isa;
}
std::uint32_t Segment::creator_page_size() const {
  return header()->page_size;
}

const char* to_string(RingKind k) noexcept {
  switch (k) {
    case RingKind::fixed:
      return "fixed";
    case RingKind::records:
      return "records";
  }
  return "unknown";
}

namespace detail {
void throw_corrupt(const char* side, std::uint64_t head, std::uint64_t tail,
                   std::uint64_t capacity) {
  throw Error(std::string("corrupt ring seen by ") + side + ": head " + std::to_string(head) +
              " and tail " + std::to_string(tail) + " are more than capacity " +
              std::to_string(capacity) + " apart");
}
void throw_record_too_large(std::uint64_t len, std::uint64_t max) {
  throw Error("record of " + std::to_string(len) + " B exceeds the maximum of " +
              std::to_string(max) + " B for this ring");
}
void throw_no_reservation() {
  throw Error("commit() without a successful reserve()");
}
void throw_corrupt_record(std::uint64_t pos, std::uint64_t len, std::uint64_t avail) {
  throw Error("corrupt record ring at position " + std::to_string(pos) + ": length field " +
              std::to_string(len) + " with " + std::to_string(avail) + " B published");
}
}  // namespace detail

void Segment::validate(const SegmentLayout& l) {
  if (l.queue_pairs == 0 || l.queue_pairs > kMaxQueuePairs) {
    throw Error("queue pairs must be 1 to " + std::to_string(kMaxQueuePairs) + ", got " +
                std::to_string(l.queue_pairs));
  }
  check_ring(l.request, "request");
  check_ring(l.response, "response");
  if (size_for_unchecked(l) > kMaxSegmentBytes) {
    throw Error("segment of " + std::to_string(size_for_unchecked(l)) + " B exceeds 64 GiB");
  }
}

std::uint64_t Segment::size_for_unchecked(const SegmentLayout& l) {
  return round_up(extra_offset(l) + l.extra_bytes, kCacheLine);
}

std::uint64_t Segment::size_for(const SegmentLayout& l) {
  validate(l);
  return size_for_unchecked(l);
}

Segment Segment::create(std::string_view name, const SegmentLayout& layout,
                        const CreateOptions& opts) {
  check_name(name);
  validate(layout);
  const std::string path = shm_path(name);
  const std::uint64_t bytes = size_for_unchecked(layout);

  int fd = ::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST && opts.replace_stale) {
    bool stale = true;
    std::int64_t pid = 0;
    try {
      Segment old = attach(name);
      pid = old.holder(Side::creator).pid;
      stale = !old.alive(Side::creator);
    } catch (const Error&) {
      stale = true;  // not a valid segment: nobody can be using it as one
    }
    if (!stale) {
      throw Error("segment '" + std::string(name) + "' already exists and its creator (pid " +
                  std::to_string(pid) + ") is alive");
    }
    ::shm_unlink(path.c_str());
    fd = ::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0) {
    throw Error("segment '" + std::string(name) + "': create /dev/shm" + path + ": " +
                errno_text(errno));
  }
  ::fchmod(fd, 0600);
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int e = errno;
    ::close(fd);
    ::shm_unlink(path.c_str());
    throw Error("segment '" + std::string(name) + "': resize to " + std::to_string(bytes) +
                " B: " + errno_text(e));
  }
  // Reserve the memory now: on tmpfs a short /dev/shm would otherwise surface later as SIGBUS.
  if (const int e = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)); e != 0) {
    ::close(fd);
    ::shm_unlink(path.c_str());
    throw Error("segment '" + std::string(name) + "': cannot reserve " + std::to_string(bytes) +
                " B in /dev/shm: " + errno_text(e));
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | (opts.prefault ? MAP_POPULATE : 0), fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    ::shm_unlink(path.c_str());
    throw Error("segment '" + std::string(name) + "': mmap " + std::to_string(bytes) +
                " B: " + errno_text(map_errno));
  }

  Segment s;
  s.name_ = std::string(name);
  s.base_ = static_cast<std::byte*>(p);
  s.size_ = bytes;
  s.layout_ = layout;
  s.owner_ = true;

  auto* h = new (s.base_) SegmentHeader{};
  h->version = kLayoutVersion;
  h->header_bytes = sizeof(SegmentHeader);
  h->total_bytes = bytes;
  h->layout = layout;
  h->created_ns = base::realtime_ns();
  h->byte_order = kByteOrderMark;
  h->isa = kThisIsa;
  h->cache_line = kCacheLine;
  h->page_size = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
  h->ring_header_bytes = sizeof(RingHeader);
  h->liveness_bytes = sizeof(LivenessRecord);
  const Holder me = this_process();
  h->creator.pid.store(me.pid, std::memory_order_relaxed);
  h->creator.start_time.store(me.start_time, std::memory_order_relaxed);
  h->creator.heartbeat_ns.store(base::monotonic_ns(), std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < layout.queue_pairs; ++i) {
    for (int dir = 0; dir < 2; ++dir) {
      const RingSpec& spec = dir == 0 ? layout.request : layout.response;
      RingHeader* r = dir == 0 ? s.request_ring(i) : s.response_ring(i);
      auto* rh = new (r) RingHeader{};
      rh->head.store(0, std::memory_order_relaxed);
      rh->tail.store(0, std::memory_order_relaxed);
      rh->capacity = spec.capacity;
      rh->entry_bytes = spec.entry_bytes;
      rh->kind = spec.kind;
    }
  }
  h->magic.store(kSegmentMagic, std::memory_order_release);
  return s;
}

Segment Segment::attach(std::string_view name, const AttachOptions& opts) {
  check_name(name);
  const std::string path = shm_path(name);
  const auto deadline = std::chrono::steady_clock::now() + opts.wait;
  Backoff backoff(BackoffConfig{0, 0, 100, 10'000});
  for (;;) {
    std::string why;
    int fd = ::shm_open(path.c_str(), O_RDWR, 0);
    if (fd < 0) {
      why = "segment '" + std::string(name) + "' does not exist (/dev/shm" + path +
            "): " + errno_text(errno);
    } else {
      auto [base, file_bytes] = map_existing(name, fd);
      if (base == nullptr) {
        why = "segment '" + std::string(name) + "' is " + std::to_string(file_bytes) +
              " B, smaller than a segment header (not initialized yet, or not a buddy segment)";
        if (std::chrono::steady_clock::now() >= deadline) throw Error(why);
        backoff.pause();
        continue;
      }
      auto* h = reinterpret_cast<SegmentHeader*>(base);
      const std::uint64_t magic = h->magic.load(std::memory_order_acquire);
      if (magic == kSegmentMagic) {
        std::string bad;
        if (h->version != kLayoutVersion) {
          bad = "layout version " + std::to_string(h->version) + ", this build expects " +
                std::to_string(kLayoutVersion);
        } else if (h->header_bytes != sizeof(SegmentHeader)) {
          bad = "header of " + std::to_string(h->header_bytes) + " B, expected " +
                std::to_string(sizeof(SegmentHeader));
        } else if (h->byte_order != kByteOrderMark) {
          bad = "byte_order " + hex32(h->byte_order) + ", expected " + hex32(kByteOrderMark) +
                " (created by a build of the other byte order, ISA " + to_string(h->isa) + ")";
        } else if (h->cache_line != kCacheLine) {
          bad = "cache_line " + std::to_string(h->cache_line) + " B, this build aligns to " +
                std::to_string(kCacheLine) + " B (creator ISA " + to_string(h->isa) + ")";
        } else if (h->ring_header_bytes != sizeof(RingHeader)) {
          bad = "ring_header_bytes " + std::to_string(h->ring_header_bytes) + ", expected " +
                std::to_string(sizeof(RingHeader)) + " (creator ISA " + to_string(h->isa) + ")";
        } else if (h->liveness_bytes != sizeof(LivenessRecord)) {
          bad = "liveness_bytes " + std::to_string(h->liveness_bytes) + ", expected " +
                std::to_string(sizeof(LivenessRecord)) + " (creator ISA " + to_string(h->isa) + ")";
        } else if (h->total_bytes != file_bytes) {
          bad = "size " + std::to_string(file_bytes) + " B, header says " +
                std::to_string(h->total_bytes) + " B";
        } else {
          try {
            validate(h->layout);
            if (size_for_unchecked(h->layout) != file_bytes) {
              bad = "size " + std::to_string(file_bytes) + " B does not match its layout (" +
                    std::to_string(size_for_unchecked(h->layout)) + " B)";
            }
          } catch (const Error& e) {
            bad = std::string("invalid layout: ") + e.what();
          }
        }
        if (!bad.empty()) {
          ::munmap(base, file_bytes);
          throw Error("segment '" + std::string(name) + "': " + bad);
        }
        Segment s;
        s.name_ = std::string(name);
        s.base_ = base;
        s.size_ = file_bytes;
        s.layout_ = h->layout;
        s.owner_ = false;
        return s;
      }
      ::munmap(base, file_bytes);
      why = magic == 0 ? "segment '" + std::string(name) + "' is not initialized yet"
                       : "segment '" + std::string(name) + "' is not a buddy::qp segment (magic " +
                             std::to_string(magic) + ")";
      if (magic != 0) throw Error(why);
    }
    if (std::chrono::steady_clock::now() >= deadline) throw Error(why);
    backoff.pause();
  }
}

Segment Segment::attach(std::string_view name, const SegmentLayout& expected,
                        const AttachOptions& opts) {
  Segment s = attach(name, opts);
  const std::string d = layout_diff(s.layout_, expected);
  if (!d.empty()) throw Error("segment '" + std::string(name) + "': " + d);
  return s;
}

void Segment::remove(std::string_view name) {
  check_name(name);
  ::shm_unlink(shm_path(name).c_str());
}

std::vector<std::string> Segment::remove_stale(std::string_view prefix) {
  const std::string file_prefix = "buddy." + std::string(prefix);
  std::vector<std::string> removed;
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return removed;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view file = e->d_name;
    if (file.starts_with(file_prefix)) names.emplace_back(file.substr(6));  // past "buddy."
  }
  ::closedir(dir);
  for (const std::string& name : names) {
    if (!segment_name_error(name).empty()) continue;
    try {
      const Segment old = attach(name);
      if (old.alive(Side::creator) || old.alive(Side::attacher)) continue;
    } catch (const Error&) {
      continue;  // being made, or not a segment: not ours to judge
    }
    ::shm_unlink(shm_path(name).c_str());
    removed.push_back(name);
  }
  return removed;
}

Segment::Segment(Segment&& o) noexcept
    : name_(std::move(o.name_)),
      base_(std::exchange(o.base_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      layout_(o.layout_),
      owner_(std::exchange(o.owner_, false)) {}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    unmap();
    name_ = std::move(o.name_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    layout_ = o.layout_;
    owner_ = std::exchange(o.owner_, false);
  }
  return *this;
}

Segment::~Segment() {
  unmap();
}

void Segment::unmap() noexcept {
  if (base_ == nullptr) return;
  ::munmap(base_, size_);
  base_ = nullptr;
  if (owner_) ::shm_unlink(shm_path(name_).c_str());
  owner_ = false;
}

Holder Segment::holder(Side side) const {
  return holder_of(record(side));
}
bool Segment::alive(Side side) const {
  return holder_alive(record(side));
}
std::chrono::nanoseconds Segment::heartbeat_age(Side side) const {
  return qp::heartbeat_age(record(side));
}
void Segment::beat() {
  if (!owner_) throw Error("segment '" + name_ + "': only its creator beats as the creator");
  qp::beat(header()->creator, base::monotonic_ns());
}
AttachClaim Segment::claim_attacher() {
  return AttachClaim::take(header()->attacher, header()->creator, name_);
}

std::span<std::byte> Segment::extra() {
  return {base_ + extra_offset(layout_), static_cast<std::size_t>(layout_.extra_bytes)};
}

std::span<std::uint8_t, 64> Segment::user_header() {
  return std::span<std::uint8_t, 64>(header()->user, 64);
}

RingHeader* Segment::request_ring(std::uint32_t qp) const {
  if (qp >= layout_.queue_pairs) {
    throw Error("queue pair " + std::to_string(qp) + " out of range (segment has " +
                std::to_string(layout_.queue_pairs) + ")");
  }
  return reinterpret_cast<RingHeader*>(base_ + sizeof(SegmentHeader) + qp_stride(layout_) * qp);
}

RingHeader* Segment::response_ring(std::uint32_t qp) const {
  auto* req = reinterpret_cast<std::byte*>(request_ring(qp));
  return reinterpret_cast<RingHeader*>(req + ring_region_bytes(layout_.request));
}

void Segment::check_ring_type(const RingHeader* h, RingKind kind, std::size_t entry_bytes,
                              const char* which) const {
  if (h->kind != kind) {
    throw Error("segment '" + name_ + "': " + which + " ring is a " + to_string(h->kind) +
                " ring, used as a " + to_string(kind) + " ring");
  }
  if (kind == RingKind::fixed && h->entry_bytes != entry_bytes) {
    throw Error("segment '" + name_ + "': " + which + " ring holds " +
                std::to_string(h->entry_bytes) + " B entries, used with " +
                std::to_string(entry_bytes) + " B entries");
  }
}

std::string segment_name_error(std::string_view name) {
  if (name.empty() || name.size() > 200) {
    return "segment name must be 1 to 200 characters, got " + std::to_string(name.size());
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return "segment name '" + std::string(name) +
             "' may only hold letters, digits, '.', '_' and '-'";
  }
  return {};
}

}  // namespace buddy::qp
