#include "buddy/msg_engine/detail/delivery.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "buddy/msg/transport/error.hpp"
#include "buddy/msg/transport/wire.hpp"

namespace buddy::msg_engine::detail {

bool delivery::write(std::uint32_t dest, std::uint32_t length, const std::byte* payload) {
  std::byte* p = ring_.append(msg::wire::header_bytes + std::size_t{length});
  if (p == nullptr) return false;
  msg::wire::write_header(p, dest, length);
  if (length != 0) std::memcpy(p + msg::wire::header_bytes, payload, length);
  return true;
}

void delivery::deliver(std::uint32_t dest, std::uint32_t length, const std::byte* payload) {
  const std::uint64_t need = msg::wire::header_bytes + std::uint64_t{length};
  if (need > ring_.max_append()) {
    throw msg::error("buddy-engine: a record of " + std::to_string(need) + " bytes for rank " +
                     std::to_string(dest) + " does not fit its inbound ring (max " +
                     std::to_string(ring_.max_append()) + ")");
  }
  ++stats_.records;
  stats_.bytes += need;
  if (!holding() && write(dest, length, payload)) return;
  ++stats_.held;
  const std::size_t at = held_.size();
  held_.resize(at + need);
  msg::wire::write_header(held_.data() + at, dest, length);
  if (length != 0) std::memcpy(held_.data() + at + msg::wire::header_bytes, payload, length);
  stats_.max_held_bytes = std::max<std::uint64_t>(stats_.max_held_bytes, held_bytes());
}

bool delivery::retry() {
  bool moved = false;
  while (holding()) {
    std::uint32_t dest, length;
    std::memcpy(&dest, held_.data() + held_head_, 4);
    std::memcpy(&length, held_.data() + held_head_ + 4, 4);
    if (!write(dest, length, held_.data() + held_head_ + msg::wire::header_bytes)) break;
    held_head_ += msg::wire::header_bytes + length;
    moved = true;
  }
  if (!holding()) {
    held_.clear();
    held_head_ = 0;
  } else if (held_head_ > (1u << 20) && held_head_ > held_.size() / 2) {
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(held_head_));
    held_head_ = 0;
  }
  return moved;
}

}  // namespace buddy::msg_engine::detail
