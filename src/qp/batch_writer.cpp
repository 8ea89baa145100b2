#include "buddy/qp/batch_writer.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace buddy::qp {

namespace detail {
void throw_append_too_large(std::uint64_t bytes, std::uint64_t max) {
  throw Error("an append of " + std::to_string(bytes) + " B never fits this ring (at most " +
              std::to_string(max) + " B: half the ring less the headers)");
}
void throw_open_while_open() {
  throw std::logic_error("qp::BatchWriter::open: close the open record first");
}
}  // namespace detail

BatchWriter::BatchWriter(const RecordProducer& ring, std::uint64_t record_cap, std::uint64_t prefix)
    : ring_(ring), cap_(std::min(record_cap, ring.max_record())), prefix_(prefix) {
  if (prefix_ >= ring_.max_record()) {
    throw Error("a record prefix of " + std::to_string(prefix_) +
                " B leaves no room in a ring of " + std::to_string(ring_.capacity()) + " B");
  }
}

std::byte* BatchWriter::grow_append(std::uint64_t bytes) {
  // Only the cached consumer index can be stale; the cap and the end of the ring are final.
  if (rec_ == nullptr || used_ + bytes > limit_) return nullptr;
  ring_.refresh();
  room_ = std::min(limit_, ring_.room_free());
  if (used_ + bytes > room_) return nullptr;
  return take(bytes);
}

}  // namespace buddy::qp
