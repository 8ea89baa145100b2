#include "buddy/kv/serving/write_window.hpp"

namespace buddy::kv::serving {

static_assert((wire::kWriteWindow & (wire::kWriteWindow - 1)) == 0, "a power of two");

void WriteWindows::begin_batch(std::chrono::steady_clock::time_point now) {
  now_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  if (now_ns_ - last_sweep_ns_ < 1'000'000'000) return;
  last_sweep_ns_ = now_ns_;
  const std::int64_t idle = cfg_.idle.count();
  std::erase_if(clients_, [&](const auto& kv) { return now_ns_ - kv.second.last_ns > idle; });
}

WriteWindows::Client* WriteWindows::find_or_add(std::uint32_t client) {
  if (auto it = clients_.find(client); it != clients_.end()) return &it->second;
  if (clients_.size() >= cfg_.max_clients) {
    // Make room: the client idle longest, unless every one wrote in this batch (their entries
    // may be pending: they must stay put).
    auto victim = clients_.end();
    for (auto it = clients_.begin(); it != clients_.end(); ++it) {
      if (victim == clients_.end() || it->second.last_ns < victim->second.last_ns) victim = it;
    }
    if (victim == clients_.end() || victim->second.last_ns == now_ns_) return nullptr;
    clients_.erase(victim);
  }
  Client& c = clients_[client];
  c.ring.assign(wire::kWriteWindow, Entry{});
  return &c;
}

WriteWindows::Check WriteWindows::check(std::uint32_t client, std::uint64_t seq,
                                        std::uint64_t hash) {
  Client* c = find_or_add(client);
  if (c == nullptr) return {Verdict::unprotected};
  c->last_ns = now_ns_;
  if (seq + wire::kWriteWindow <= c->newest) return {Verdict::too_old, wire::Status::too_old};
  Entry& e = c->ring[seq & (wire::kWriteWindow - 1)];
  const auto tag = static_cast<std::uint32_t>(seq / wire::kWriteWindow + 1);
  if (e.tag == tag) {
    if (e.pending != 0) return {Verdict::in_batch, wire::Status::ok, &e};
    return {Verdict::replay, e.status};
  }
  // Empty, or an older sequence number's answer (that one is now below the window).
  e.tag = tag;
  e.hash = hash;
  if (seq > c->newest) {
    c->newest = seq;
  } else {
    // Out of order: a newer write of this client to the same key that was applied (or is being
    // applied in this batch, ahead of this one) must not be undone.
    for (std::uint64_t s = seq + 1; s <= c->newest; ++s) {
      const Entry& n = c->ring[s & (wire::kWriteWindow - 1)];
      if (n.hash == hash && n.tag == static_cast<std::uint32_t>(s / wire::kWriteWindow + 1)) {
        e.status = wire::Status::ok;
        e.pending = 0;
        return {Verdict::superseded, wire::Status::ok};
      }
    }
  }
  e.pending = 1;
  return {Verdict::apply, wire::Status::ok, &e};
}

}  // namespace buddy::kv::serving
