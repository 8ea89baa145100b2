// StoreSegment: the named store's shared-memory segment, made or re-attached and checked.
#include "buddy/kv/store/detail/store_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "buddy/kv/store/detail/slab.hpp"

namespace buddy::kv::detail {
namespace {

constexpr std::size_t kPage = SlabAllocator::kPageBytes;
constexpr std::uint64_t kMagic = 0x31524f5453564b42ull;  // "BKVSTOR1"

struct Header {
  std::atomic<std::uint64_t> magic;
  std::uint32_t version;
  std::uint32_t mode;
  std::uint32_t partitions;
  std::uint32_t held;
  std::uint64_t held_hash;  // FNV-1a of the held partitions' numbers
  std::uint64_t partition_bytes;
  std::uint64_t arena_bytes;
  std::uint64_t total_bytes;
  std::atomic<std::uint64_t> generation;
};
static_assert(sizeof(Header) <= kPage);

std::uint64_t held_hash(const std::vector<std::uint32_t>& held) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const std::uint32_t p : held) {
    h = (h ^ p) * 0x100000001b3ull;
  }
  return h;
}

std::string describe(std::uint32_t partitions, std::uint32_t held, std::uint64_t bytes,
                     std::uint32_t mode) {
  return std::to_string(held) + " of " + std::to_string(partitions) + " partitions of " +
         std::to_string(bytes) + " bytes in " + (mode == 0 ? "store" : "cache") + " mode";
}

}  // namespace

StoreSegment::StoreSegment(std::string name, const Layout& l, bool attach)
    : name_(std::move(name)) {
  const std::string what = "store segment '" + name_ + "'";
  if (name_.empty() || name_.find('/') != std::string::npos) {
    throw Error(what + ": a name without '/' is needed");
  }
  if (l.mode != Mode::store) {
    throw Error(what + ": a named store keeps store mode only (cache mode's log is not kept)");
  }
  held_ = l.held.empty() ? l.partitions : l.held.size();
  std::vector<std::uint32_t> held = l.held;
  if (held.empty()) {
    for (std::uint32_t i = 0; i < l.partitions; ++i) held.push_back(i);
  }
  arena_bytes_ = l.partition_bytes / kPage * kPage;
  words_bytes_ = (arena_bytes_ / kPage * sizeof(std::uint32_t) + kPage - 1) / kPage * kPage;
  bytes_ = kPage + held_ * (kPage + words_bytes_ + arena_bytes_);
  const std::string path = "/" + name_;
  const int fd = ::shm_open(path.c_str(), attach ? O_RDWR : O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    const int e = errno;
    if (attach && e == ENOENT) throw Error(what + " does not exist (its items are lost)");
    throw Error(what + ": " + (attach ? "cannot open: " : "cannot make: ") + std::strerror(e));
  }
  const auto fail = [&](const std::string& why) {
    ::close(fd);
    return Error(what + ": " + why);
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail(std::string("fstat: ") + std::strerror(errno));
  bool fresh = !attach;
  if (attach) {
    Header h{};
    if (static_cast<std::size_t>(st.st_size) >= sizeof(Header) &&
        ::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
      throw fail(std::string("cannot read its header: ") + std::strerror(errno));
    }
    const std::uint64_t magic = h.magic.load();
    if (magic == 0 && static_cast<std::size_t>(st.st_size) == bytes_) {
      fresh = true;  // its maker died before it was complete: nothing in it was ever told of
    } else if (magic != kMagic) {
      throw fail("not a buddykv store (no store header)");
    } else if (h.version != kVersion) {
      throw fail("layout version " + std::to_string(h.version) + ", this build reads version " +
                 std::to_string(kVersion));
    } else if (h.mode != static_cast<std::uint32_t>(l.mode) || h.partitions != l.partitions ||
               h.held != held_ || h.held_hash != held_hash(held) ||
               h.partition_bytes != l.partition_bytes || h.total_bytes != bytes_ ||
               static_cast<std::size_t>(st.st_size) != bytes_) {
      throw fail("holds " + describe(h.partitions, h.held, h.partition_bytes, h.mode) +
                 ", this store is " +
                 describe(l.partitions, static_cast<std::uint32_t>(held_), l.partition_bytes,
                          static_cast<std::uint32_t>(l.mode)));
    }
  }
  // A fresh segment is all zero (a half made one is emptied first).
  if (fresh && (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes_)) != 0)) {
    const int e = errno;
    ::close(fd);
    if (!attach) ::shm_unlink(path.c_str());
    throw Error(what + ": cannot size it to " + std::to_string(bytes_) +
                " bytes: " + std::strerror(e));
  }
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    if (!attach) ::shm_unlink(path.c_str());
    throw Error(what + ": cannot map " + std::to_string(bytes_) + " bytes: " + std::strerror(e));
  }
  base_ = static_cast<std::byte*>(p);
  auto* h = reinterpret_cast<Header*>(base_);
  if (fresh) {
    h->version = kVersion;
    h->mode = static_cast<std::uint32_t>(l.mode);
    h->partitions = l.partitions;
    h->held = static_cast<std::uint32_t>(held_);
    h->held_hash = held_hash(held);
    h->partition_bytes = l.partition_bytes;
    h->arena_bytes = arena_bytes_;
    h->total_bytes = bytes_;
    h->generation.store(1);
  } else {
    attached_ = true;
    h->generation.fetch_add(1);
  }
}

StoreSegment::~StoreSegment() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
}

void StoreSegment::unlink(const std::string& name) noexcept {
  ::shm_unlink(("/" + name).c_str());
}

PartitionMemory StoreSegment::memory(std::size_t k) const noexcept {
  std::byte* at = base_ + kPage + k * (kPage + words_bytes_ + arena_bytes_);
  PartitionMemory m;
  m.index_word = reinterpret_cast<std::atomic<std::uint64_t>*>(at);
  m.page_words = reinterpret_cast<std::uint32_t*>(at + kPage);
  m.arena = at + kPage + words_bytes_;
  m.arena_bytes = arena_bytes_;
  m.attach = attached_;
  return m;
}

std::uint64_t StoreSegment::generation() const noexcept {
  return reinterpret_cast<const Header*>(base_)->generation.load();
}

void StoreSegment::seal() noexcept {
  reinterpret_cast<Header*>(base_)->magic.store(kMagic, std::memory_order_release);
}

}  // namespace buddy::kv::detail
