// Region: anonymous mmap, optionally advised to use transparent huge pages.
#include "buddy/kv/store/detail/region.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "buddy/kv/store/status.hpp"

namespace buddy::kv::detail {

Region::Region(std::size_t bytes, bool huge_pages, bool prefault) : size_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw Error("cannot map " + std::to_string(bytes) + " bytes: " + std::strerror(errno));
  }
#ifdef MADV_HUGEPAGE
  if (huge_pages) ::madvise(p, bytes, MADV_HUGEPAGE);  // best effort
#else
  (void)huge_pages;
#endif
  data_ = static_cast<std::byte*>(p);
  if (prefault) populate();
}

// Faults every page in for writing: one write per 4 KiB page (the mapping is zero-filled, so
// writing a zero changes nothing). Not MADV_POPULATE_WRITE: emulators (qemu-user) accept it and
// do nothing, and kernels before 5.14 refuse it; with huge pages most writes find their page
// already there, so the loop costs about what the faults cost.
void Region::populate() noexcept {
  constexpr std::size_t kSmallPage = 4096;
  for (std::size_t off = 0; off < size_; off += kSmallPage) {
    reinterpret_cast<volatile unsigned char*>(data_)[off] = 0;
  }
}

Region::~Region() {
  if (data_ != nullptr && owned_) ::munmap(data_, size_);
}

Region::Region(Region&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      owned_(std::exchange(o.owned_, true)) {}

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr && owned_) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    owned_ = std::exchange(o.owned_, true);
  }
  return *this;
}

}  // namespace buddy::kv::detail
