// Wire records appended in place into "chunks": ring records of a qp record ring of up to
// chunk_bytes each, so one reserve/commit of the ring carries many wire records. An app rank's
// outbound ring (offload_port) and the engine's delivery into inbound rings both write this way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "buddy/qp/record_ring.hpp"

namespace buddy::msg {

class chunk_writer {
 public:
  static constexpr std::size_t chunk_bytes = 4096;

  chunk_writer() = default;
  explicit chunk_writer(const qp::RecordProducer& ring) : ring_(ring) {}

  qp::RecordProducer& ring() { return ring_; }
  const qp::RecordProducer& ring() const { return ring_; }

  // Room for `need` bytes in the open chunk, or nullptr when it has none (or none is open).
  std::byte* try_append(std::size_t need) {
    if (used_ + need > cap_) return nullptr;
    std::byte* p = chunk_ + used_;
    used_ += need;
    return p;
  }
  // Reserves a new chunk of chunk_bytes (at least `need`, at most the ring's record limit; just
  // `need` when only that fits). False when the ring has no room. The open chunk must be closed.
  bool open(std::size_t need) {
    std::size_t cap = std::max(chunk_bytes, need);
    cap = static_cast<std::size_t>(std::min<std::uint64_t>(cap, ring_.max_record()));
    std::byte* p = ring_.reserve(cap);
    if (p == nullptr && cap > need) {
      cap = need;
      p = ring_.reserve(cap);
    }
    if (p == nullptr) return false;
    chunk_ = p;
    cap_ = cap;
    used_ = 0;
    return true;
  }
  // try_append, else close the chunk and open a new one for `need` bytes; nullptr if the ring
  // is full.
  std::byte* append(std::size_t need) {
    if (std::byte* p = try_append(need)) return p;
    close();
    return open(need) ? try_append(need) : nullptr;
  }
  // Commits the open chunk (not yet published) and returns its bytes; 0 if it held nothing. An
  // empty chunk is simply abandoned: the ring's next reserve() reuses its room.
  std::size_t close() {
    const std::size_t n = used_;
    if (n != 0) ring_.commit(n);
    chunk_ = nullptr;
    cap_ = used_ = 0;
    return n;
  }

 private:
  qp::RecordProducer ring_;
  std::byte* chunk_ = nullptr;  // the open chunk, reserved in the ring
  std::size_t cap_ = 0;         // its size
  std::size_t used_ = 0;        // bytes of wire records in it
};

}  // namespace buddy::msg
