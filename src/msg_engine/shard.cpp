#include "buddy/msg_engine/detail/shard.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "buddy/msg/transport/error.hpp"
#include "buddy/msg/transport/wire.hpp"

namespace buddy::msg_engine::detail {

void shard::add_lane(int rank, std::uint32_t channel, qp::RecordConsumer* out) {
  const std::size_t id = std::size_t{channel} * map_.app_count + static_cast<std::size_t>(rank);
  lanes_.push_back(lane{rank, channel, out, map_.inbound[id]});
}

void shard::connect(std::vector<handoff*> to, std::vector<handoff*> from) {
  to_ = std::move(to);
  from_ = std::move(from);
}

void shard::accept(std::uint32_t dest, std::uint32_t length, const std::byte* payload) {
  const int owner = map_.owner[dest];
  if (owner == index_) {
    map_.inbound[dest]->deliver(dest % map_.app_count, length, payload);
    ++stats_.records_delivered;
  } else if (owner >= 0) {
    to_[static_cast<std::size_t>(owner)]->append(dest, length, payload);
    ++stats_.records_handed;
  } else if (remote_ != nullptr) {
    remote_(remote_ctx_, dest, length, payload);
  } else {
    to_[0]->append(dest, length, payload);  // shard 0 talks to the other engines
    ++stats_.records_handed;
  }
}

bool shard::drain_rings() {
  const std::uint32_t n = map_.app_count;
  bool took = false;
  for (lane& l : lanes_) {
    qp::RecordConsumer& ring = *l.out;
    std::size_t count = 0;
    for (; count < 256; ++count) {
      const auto rec = ring.front();
      if (!rec) break;
      // One ring record holds wire records back to back, like an MPI buffer.
      try {
        msg::wire::for_each_record(rec->data(), rec->size(), n, [&](const msg::wire::record& r) {
          ++stats_.records_in;
          stats_.bytes_in += msg::wire::header_bytes + r.length;
          const std::uint32_t dest = l.channel * n + r.dest;
          if (map_.owner[dest] >= 0) {
            ++stats_.records_local;
          } else {
            ++stats_.records_remote;
          }
          accept(dest, r.length, r.payload);
        });
      } catch (const msg::error& e) {
        throw msg::error("buddy-engine: from app rank " + std::to_string(l.rank) + ": " + e.what());
      }
      ring.pop();
    }
    ring.publish();
    took = took || count != 0;
  }
  return took;
}

bool shard::take_handoffs() {
  const auto ids = static_cast<std::uint32_t>(map_.owner.size());
  bool any = false;
  for (handoff* h : from_) {
    if (h == nullptr) continue;
    for (int i = 0; i < 64; ++i) {
      handoff::batch* b = h->take();
      if (b == nullptr) break;
      any = true;
      msg::wire::for_each_record(b->data(), b->size(), ids, [&](const msg::wire::record& r) {
        accept(r.dest, r.length, r.payload);
      });
      h->give_back(b);
    }
  }
  return any;
}

bool shard::retry_deliveries() {
  bool any = false;
  for (lane& l : lanes_) {
    any = l.in->retry() || any;
    l.in->publish();
  }
  return any;
}

bool shard::flush_handoffs() {
  bool any = false;
  for (handoff* h : to_) {
    if (h == nullptr) continue;
    any = h->flush() || any;
    stats_.max_waiting_batches = std::max<std::uint64_t>(stats_.max_waiting_batches, h->waiting());
  }
  return any;
}

}  // namespace buddy::msg_engine::detail
