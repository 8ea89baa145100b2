#include "buddy/kv/serving/comm_engine.hpp"

#include "buddy/kv/store/status.hpp"
#include "buddy/kv/wire/writer.hpp"

namespace buddy::kv::serving {

CommEngine::CommEngine(Ownership own, std::size_t max_datagram)
    : own_(std::move(own)), max_dgram_(max_datagram), views_(wire::kMaxCount) {}

void CommEngine::parse(std::span<const wire::Datagram> rx, Burst& b, Counters& c) {
  std::size_t pings = 0;  // of this datagram: not counted as requests
  for (const wire::Datagram& d : rx) {
    ++c.datagrams_in;
    if (d.size > d.capacity) {
      c.count_drop(wire::Drop::oversize);
      continue;
    }
    const auto p = wire::parse_requests({d.data, d.size}, views_);
    if (p.drop != wire::Drop::none) {
      c.count_drop(p.drop);
      continue;
    }
    const auto src = static_cast<std::uint32_t>(b.sources.size());
    b.sources.push_back({d.peer, p.header.client_id});
    const bool sequenced = wire::sequenced_client(p.header.client_id);
    for (std::size_t i = 0; i < p.count; ++i) {
      const wire::RequestView& v = views_[i];
      Burst::Pending& q = b.pending.emplace_back();
      q.source = src;
      q.op = v.h.op;
      q.id = v.h.request_id;
      q.ts = v.h.timestamp;
      q.status = wire::check_request(v);
      if (v.h.op == wire::Opcode::ping && q.status == wire::Status::ok) {  // answered at once
        q.pe = Burst::kPing;
        ++pings;
        continue;
      }
      if (q.status == wire::Status::ok) {
        ++c.ops[static_cast<std::size_t>(v.h.op) - 1];
        if (!own_.owns(v.h.key_hash)) {
          q.status = wire::Status::wrong_partition;
        } else if (v.h.value_len > kv::kMaxValueBytes) {
          q.status = wire::Status::too_large;
        }
      }
      if (q.status != wire::Status::ok) continue;
      q.pe = static_cast<std::uint32_t>(b.pe.size());
      const kv::Op op = v.h.op == wire::Opcode::get   ? kv::Op::get
                        : v.h.op == wire::Opcode::set ? kv::Op::set
                                                      : kv::Op::del;
      // Writes of a client the server assigned an id carry their exactly-once tag to the PE;
      // GETs carry none (no window work for reads).
      const bool tag = sequenced && op != kv::Op::get;
      b.pe.push_back(kv::Request{op, v.h.key_hash, v.key, v.value, tag ? p.header.client_id : 0u,
                                 tag ? wire::request_seq(v.h.request_id) : 0u});
    }
    c.requests += p.count - pings;
    pings = 0;
  }
  b.results.resize(b.pe.size());
}

wire::Datagram& CommEngine::next_tx(std::size_t i) {
  while (tx_bufs_.size() <= i) tx_bufs_.emplace_back(max_dgram_);
  if (tx_.size() <= i) tx_.resize(i + 1);
  wire::Datagram& d = tx_[i];
  d.data = tx_bufs_[i].data();
  d.capacity = static_cast<std::uint32_t>(max_dgram_);
  d.size = 0;
  return d;
}

std::span<const wire::Datagram> CommEngine::respond(const Burst& b, Counters& c) {
  std::size_t n = 0;
  const std::size_t max_value = wire::max_response_value(max_dgram_);
  wire::ResponseWriter w;
  std::uint32_t cur_src = UINT32_MAX;
  wire::Datagram* d = nullptr;
  auto close = [&] {
    if (d != nullptr && !w.empty()) {
      d->size = static_cast<std::uint32_t>(w.finish());
      ++n;
    }
    d = nullptr;
  };
  auto open = [&](std::uint32_t src) {
    d = &next_tx(n);
    d->peer = b.sources[src].peer;
    w = wire::ResponseWriter({d->data, max_dgram_}, b.sources[src].client_id);
    cur_src = src;
  };
  for (const Burst::Pending& q : b.pending) {
    wire::Status st = q.status;
    std::string_view value;
    if (q.pe == Burst::kPing) {
      // counted neither as a request nor in the statuses: a client's question, not a request
    } else if (st == wire::Status::ok) {
      const PeResult& r = b.results[q.pe];
      st = r.status;
      value = b.arena.view(r.value_off, r.value_len);
      if (value.size() > max_value) {
        st = wire::Status::too_large;  // a GET whose value cannot travel in one datagram
        value = {};
      }
    }
    if (q.pe != Burst::kPing) c.count_status(st);
    if (q.source != cur_src || d == nullptr) {
      close();
      open(q.source);
    }
    if (!w.add(st, q.op, q.id, q.ts, value)) {
      close();
      open(q.source);
      w.add(st, q.op, q.id, q.ts, value);  // fits: an empty datagram holds any allowed value
    }
  }
  close();
  c.datagrams_out += n;
  return {tx_.data(), n};
}

}  // namespace buddy::kv::serving
