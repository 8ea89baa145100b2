#include "buddy/kv/client/client.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

#include "buddy/base/small_copy.hpp"
#include "buddy/kv/wire/parse.hpp"
#include "buddy/kv/wire/udp.hpp"

namespace buddy::kv {

namespace {

using Clock = std::chrono::steady_clock;
constexpr unsigned kSlotBits = 24;  // request id = (sequence << 24) | slot
static_assert(kSlotBits == wire::kSeqShift, "the sequence number is where the protocol puts it");
constexpr std::size_t kRxBurst = 32;
constexpr std::size_t kMaxDrainBursts = 64;  // per poll: 2048 datagrams at most
// Receive buffers hold the largest datagram (a HELLO may be that big), but answers are mostly
// MTU-sized: at a stride of 65507 bytes the first lines of all 32 buffers fall into the same
// cache sets (L1 and L2 index by address modulo 4 KiB and 64 KiB) and evict each other. 1536
// bytes more per buffer starts each one 1.5 KiB further into the 64 KiB period.
constexpr std::size_t kRxStride = 65536 + 1536;
static_assert(kRxStride >= wire::kMaxDatagram && kRxBurst * 1536 <= 65536);

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

}  // namespace

// What an answer needs of its request, 48 bytes: 1024 of them fit the L1 cache. The request's
// bytes (for retransmission) are apart (request_bytes).
struct Client::Slot {
  std::uint64_t id = 0;  // 0: free
  std::uint64_t tag = 0;
  std::uint64_t ts = 0;  // submitted: latency is measured from here
  std::uint64_t tx = 0;  // the latest transmission: its copy carries this timestamp
  wire::Opcode op = wire::Opcode::get;
  std::uint16_t port = 0;
  std::uint16_t key_len = 0;
  std::uint32_t retries = 0;
  std::uint32_t value_len = 0;
};

// The datagram being filled for one serving port and lane; its buffer comes from the client's
// pool. Two lanes per port, SETs apart from GETs and DELETEs: requests of one shape (fixed key and
// value sizes, as YCSB's) then fill datagrams of one size, which the socket's segmentation
// offload sends as one run (wire::UdpSocket::set_segment_offload).
struct Client::PortOut {
  std::uint32_t buf = UINT32_MAX;  // pool index, UINT32_MAX: none open
  wire::RequestWriter w;
};

Client::Client(ClientConfig cfg, std::unique_ptr<wire::BurstTransport> transport)
    : cfg_(std::move(cfg)), t_(std::move(transport)) {
  if (cfg_.window == 0 || cfg_.window > (std::size_t{1} << 20)) {
    throw std::runtime_error("window must be 1..1048576 requests");
  }
  if (cfg_.max_datagram < wire::kMinDatagram || cfg_.max_datagram > wire::kMaxDatagram) {
    throw std::runtime_error("max datagram must be " + std::to_string(wire::kMinDatagram) + ".." +
                             std::to_string(wire::kMaxDatagram) + " bytes");
  }
  if (cfg_.min_timeout.count() <= 0 || cfg_.min_timeout > cfg_.max_timeout ||
      cfg_.timeout.count() <= 0) {
    throw std::runtime_error("timeouts must be > 0 and min_timeout <= max_timeout");
  }
  server_ = wire::parse_endpoint(cfg_.server);
  if (!t_) {
    auto sock = std::make_unique<wire::UdpSocket>(wire::Endpoint{0, 0});
    sock->set_segment_offload(cfg_.segment_offload);
    t_ = std::move(sock);
  }
  // A client's own id keeps bit 31 clear: ids with it set are the server's (exactly-once).
  if (cfg_.client_id == 0) {
    cfg_.client_id =
        (static_cast<std::uint32_t>(std::random_device{}()) | 1) & ~wire::kAssignedClientBit;
  }

  wire::ControlResponse hello;
  if (std::string err = control(wire::Command::hello, hello); !err.empty()) {
    throw std::runtime_error(err);
  }
  map_ = std::move(hello.map);
  engine_down_ = (hello.flags & wire::kHelloEngineDown) != 0;
  // The server's id for this client: its data requests are then sequenced (exactly-once writes).
  if (hello.assigned_client_id != 0) cfg_.client_id = hello.assigned_client_id;
  live_writes_.assign(wire::kWriteWindow, 0);
  limit_ = std::min<std::size_t>(cfg_.max_datagram, map_.max_datagram);

  static_assert(sizeof(Slot) == 48);
  slots_.resize(cfg_.window);
  inline_bytes_.resize(cfg_.window * kInlineBytes);
  big_bytes_.resize(cfg_.window);
  free_.reserve(cfg_.window);
  for (std::size_t i = cfg_.window; i-- > 0;) free_.push_back(static_cast<std::uint32_t>(i));
  out_.resize(map_.ports.size() * kLanes);
  give_up_ns_ = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.give_up).count());
  const auto ns = [](std::chrono::microseconds us) {
    return static_cast<std::uint64_t>(us.count()) * 1000;
  };
  timers_.reserve(map_.ports.size());
  for (std::size_t p = 0; p < map_.ports.size(); ++p) {
    timers_.emplace_back(
        RtoEstimator(ns(cfg_.timeout), ns(cfg_.min_timeout), ns(cfg_.max_timeout)));
  }
  rx_bytes_.resize(kRxBurst * kRxStride);
  rx_.resize(kRxBurst);
  for (std::size_t i = 0; i < rx_.size(); ++i) {  // fixed buffers: a receive fills size and peer
    rx_[i].data = rx_bytes_.data() + i * kRxStride;
    rx_[i].capacity = static_cast<std::uint32_t>(wire::kMaxDatagram);
  }
  views_.resize(wire::kMaxCount);
}

Client::~Client() = default;

std::string_view Client::request_bytes(std::uint32_t s) const {
  const Slot& sl = slots_[s];
  const std::size_t n = std::size_t{sl.key_len} + sl.value_len;
  if (n > kInlineBytes) return big_bytes_[s];
  return {inline_bytes_.data() + std::size_t{s} * kInlineBytes, n};
}

// Reading the clock costs as much as the rest of a submit on some virtual machines, so requests
// submitted back to back share one reading for up to kClockReuse of them (a few microseconds).
// The stamps are made unique (next_stamp): one nanosecond apart within a reading.
std::uint64_t Client::clock_ns() {
  if (now_uses_ == 0 || now_uses_ >= kClockReuse) {
    now_uses_ = 0;
    ++now_uses_;
    return next_stamp(now_ns());
  }
  ++now_uses_;
  return next_stamp(0);
}

std::string Client::control(wire::Command cmd, wire::ControlResponse& resp) {
  std::vector<std::byte> req(64), in(wire::kMaxDatagram);
  const std::size_t n = wire::encode_control_request(req, cmd, cfg_.client_id);
  const auto deadline = Clock::now() + cfg_.hello_timeout;
  while (Clock::now() < deadline) {
    wire::Datagram d{req.data(), static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n),
                     server_};
    t_->send_burst({&d, 1});
    const auto resend = Clock::now() + std::chrono::milliseconds(200);
    while (Clock::now() < resend) {
      wire::Datagram r{in.data(), 0, static_cast<std::uint32_t>(in.size()), {}};
      if (t_->recv_burst({&r, 1}, std::chrono::milliseconds(50)) == 0) continue;
      if (r.size > r.capacity) continue;
      resp = wire::parse_control_response({r.data, r.size});
      if (resp.drop == wire::Drop::none && resp.cmd == cmd &&
          resp.header.client_id == cfg_.client_id) {
        return {};
      }
    }
  }
  return "no answer from buddykv server " + wire::to_string(server_) +
         " (is buddykv-server running there?)";
}

std::string Client::stats() {
  if (outstanding() != 0) throw std::logic_error("stats() needs an idle client");
  wire::ControlResponse r;
  if (std::string err = control(wire::Command::stats, r); !err.empty()) {
    throw std::runtime_error(err);
  }
  return r.text;
}

void Client::refuse(wire::Opcode op, std::uint64_t tag, wire::Status status) {
  Completion c;
  c.tag = tag;
  c.op = op;
  c.local = true;
  c.status = status;
  ready_.push_back({c, 0, 0});
}

bool Client::submit(wire::Opcode op, std::string_view key, std::string_view value,
                    std::uint64_t tag) {
  const bool well_formed = wire::valid_request(op, key.size(), value.size());
  const bool fits = value.size() <= wire::max_request_value(limit_, key.size());
  if (well_formed && fits && free_.empty()) return false;
  const bool write = op != wire::Opcode::get;
  if (well_formed && fits && write) {
    // A write must stay within the server's window of the oldest write still outstanding, or
    // the server would refuse that one too_old: wait for it instead.
    while (oldest_write_ < seq_ && live_writes_[oldest_write_ % wire::kWriteWindow] == 0) {
      ++oldest_write_;
    }
    if (seq_ - oldest_write_ >= wire::kWriteWindow) return false;
  }
  ++ctr_.requests;
  if (!well_formed || !fits) {
    refuse(op, tag, well_formed ? wire::Status::too_large : wire::Status::malformed);
    return true;
  }
  const std::uint32_t s = free_.back();
  free_.pop_back();
  ++live_;
  Slot& sl = slots_[s];
  if (write) live_writes_[seq_ % wire::kWriteWindow] = 1;
  const std::uint64_t hash = wire::key_hash(key);
  sl.id = (seq_++ << kSlotBits) | s;
  sl.tag = tag;
  sl.op = op;
  sl.ts = clock_ns();
  sl.retries = 0;
  sl.port = map_.port_index_for(hash);
  sl.key_len = static_cast<std::uint16_t>(key.size());
  sl.value_len = static_cast<std::uint32_t>(value.size());
  char* b = inline_bytes_.data() + std::size_t{s} * kInlineBytes;
  if (key.size() + value.size() > kInlineBytes) {
    big_bytes_[s].resize(key.size() + value.size());
    b = big_bytes_[s].data();
  }
  base::copy_bytes(b, key.data(), key.size());
  base::copy_bytes(b + key.size(), value.data(), value.size());
  // From the caller's bytes, not the slot's copy just written: that line may still be on its
  // way into the cache (1024 slots' bytes are 48 KiB), and reading it back waits for it.
  enqueue(s, sl.ts, hash, key, value);
  return true;
}

void Client::open(std::size_t lane) {
  PortOut& o = out_[lane];
  if (free_bufs_.empty()) {
    free_bufs_.push_back(static_cast<std::uint32_t>(pool_.size()));
    pool_.emplace_back(limit_);
  }
  o.buf = free_bufs_.back();
  free_bufs_.pop_back();
  o.w = wire::RequestWriter(pool_[o.buf], cfg_.client_id);
}

void Client::close(std::size_t lane) {
  PortOut& o = out_[lane];
  if (o.buf == UINT32_MAX) return;
  if (o.w.empty()) {
    free_bufs_.push_back(o.buf);
  } else {
    const std::size_t n = o.w.finish();
    tx_.push_back({pool_[o.buf].data(), static_cast<std::uint32_t>(n),
                   static_cast<std::uint32_t>(n),
                   wire::Endpoint{server_.ip, map_.ports[lane / kLanes]}});
    tx_bufs_.push_back(o.buf);
  }
  o.buf = UINT32_MAX;
}

void Client::enqueue(std::uint32_t s, std::uint64_t sent, std::uint64_t hash, std::string_view key,
                     std::string_view value) {
  Slot& sl = slots_[s];
  const std::size_t lane = std::size_t{sl.port} * kLanes + lane_of(sl.op);
  if (out_[lane].buf == UINT32_MAX) open(lane);
  PortOut* o = &out_[lane];
  const bool at_batch = cfg_.batch != 0 && o->w.count() >= cfg_.batch;
  // Each copy carries its own send time, which the server echoes: an answer then tells which
  // copy it answers, so a retransmission the original's answer overtook is seen as spurious.
  if (at_batch || !o->w.add(sl.op, hash, sl.id, sent, key, value)) {
    // Full datagrams wait for flush(), which sends them all with one sendmmsg.
    close(lane);
    open(lane);
    o = &out_[lane];
    o->w.add(sl.op, hash, sl.id, sent, key, value);  // fits: checked against the limit
  }
  const auto level = static_cast<unsigned>(std::min<std::size_t>(sl.retries, kBackoffLevels - 1));
  sl.tx = sent;
  PortTimers& pt = timers_[sl.port];
  // Its deadline counts from the send (flush() stamps it), not from now.
  pt.q[level].push_back({s, sl.id, sent});
  pt.busy |= 1u << level;
  ++pt.fresh[level];
  pt.fresh_levels |= 1u << level;
}

void Client::flush() {
  for (std::size_t p = 0; p < out_.size(); ++p) close(p);
  if (!tx_.empty()) {
    const std::size_t sent = t_->send_burst(tx_);
    ctr_.datagrams_out += sent;
    ctr_.send_failures += tx_.size() - sent;  // lost: their requests time out and are retried
    for (std::uint32_t b : tx_bufs_) free_bufs_.push_back(b);
    tx_.clear();
    tx_bufs_.clear();
  }
  bool fresh = false;
  for (const PortTimers& pt : timers_) fresh |= pt.fresh_levels != 0;
  if (fresh) stamp_fresh(now_ns());
}

void Client::stamp_fresh(std::uint64_t sent) {
  for (PortTimers& pt : timers_) {
    for (std::uint32_t m = pt.fresh_levels; m != 0; m &= m - 1) {
      const auto level = static_cast<unsigned>(__builtin_ctz(m));
      RingFifo<Deadline>& q = pt.q[level];
      const std::size_t n = std::min<std::size_t>(pt.fresh[level], q.size());
      for (std::size_t i = 0; i < n; ++i) q.from_back(i).sent_ns = sent;
      pt.fresh[level] = 0;
      next_deadline_ns_ = std::min(next_deadline_ns_, sent + pt.rto.timeout_ns(level));
    }
    pt.fresh_levels = 0;
  }
}

Client::Ready& Client::complete(std::uint32_t s) {
  Slot& sl = slots_[s];
  // Written in place: a Completion built on the stack and copied in costs a store-forwarding
  // stall per answer (its fields are stored narrow and loaded back wide).
  Ready& r = ready_.emplace_back();
  r.c.tag = sl.tag;
  r.c.op = sl.op;
  r.c.retries = sl.retries;
  if (sl.op != wire::Opcode::get) live_writes_[(sl.id >> kSlotBits) % wire::kWriteWindow] = 0;
  sl.id = 0;
  free_.push_back(s);
  --live_;
  return r;
}

void Client::expire(std::uint64_t now) {
  std::uint64_t next = UINT64_MAX;
  for (PortTimers& pt : timers_) {
    // Levels in increasing order: a retry moves its request one level up, behind this one.
    for (unsigned level = 0; pt.busy >> level != 0; ++level) {
      if ((pt.busy & (1u << level)) == 0) continue;
      RingFifo<Deadline>& q = pt.q[level];
      const std::uint64_t wait = pt.rto.timeout_ns(level);
      while (!q.empty()) {
        const Deadline d = q.front();
        if (slots_[d.slot].id != d.id) {  // answered (or retried) meanwhile
          q.pop_front();
          continue;
        }
        if (d.sent_ns + wait > now) {
          next = std::min(next, d.sent_ns + wait);
          break;
        }
        q.pop_front();
        const Slot& sl = slots_[d.slot];
        // Nothing sent since in its lane was answered: the port is silent to it.
        if (pt.newest_answered[lane_of(sl.op)] < sl.tx) {
          const bool is_probe = pt.probe_slot == d.slot && pt.probe_id == d.id;
          if (probe_out(pt) && !is_probe) {
            hold(pt, level, d, now, next);
            continue;
          }
          if (!is_probe && (now < pt.ping_until || pt.silent_pings < kSilentPings)) {
            if (now >= pt.ping_until)
              ping(static_cast<std::uint32_t>(&pt - timers_.data()), now, pt.rto.timeout_ns(level));
            hold(pt, level, d, now, next);
            continue;
          }
          pt.probe_slot = d.slot;
          pt.probe_id = d.id;
        }
        retry(d.slot, now);
      }
      if (q.empty()) pt.busy &= ~(1u << level);
    }
  }
  next_deadline_ns_ = next;
}

void Client::ping(std::uint32_t port, std::uint64_t now, std::uint64_t wait) {
  // In a datagram after every one of this port's open ones (both lanes): its answer then comes
  // after the answers of everything sent before it, which is what the answer vouches for (a SET
  // in a lane datagram sent after the ping's would look lost when the ping is answered first).
  const std::size_t lane = std::size_t{port} * kLanes;
  for (std::size_t l = lane; l < lane + kLanes; ++l) close(l);
  open(lane);
  // Its id is the port's index: below 1 << kSlotBits, so no request's (their sequence is >= 1).
  out_[lane].w.add(wire::Opcode::ping, 0, port, next_stamp(now), {});
  PortTimers& pt = timers_[port];
  pt.ping_until = now + wait;
  ++pt.silent_pings;
  ++ctr_.pings;
}

bool Client::probe_out(const PortTimers& pt) const noexcept {
  return pt.probe_id != 0 && slots_[pt.probe_slot].id == pt.probe_id;
}

void Client::hold(PortTimers& pt, unsigned level, const Deadline& d, std::uint64_t now,
                  std::uint64_t& next) {
  const unsigned up = std::min<unsigned>(level + 1, kBackoffLevels - 1);
  if (level == up && past_give_up(slots_[d.slot].ts, now)) return time_out(d.slot, now);
  ++ctr_.held;
  // Fresh too, as if sent by the next flush: the last fresh[up] entries of q[up] stay the ones
  // pushed since the last flush, whatever their mix of retries and holds.
  pt.q[up].push_back({d.slot, d.id, now});
  pt.busy |= 1u << up;
  ++pt.fresh[up];
  pt.fresh_levels |= 1u << up;
  next = std::min(next, now + pt.rto.timeout_ns(up));
}

void Client::time_out(std::uint32_t s, std::uint64_t now) {
  const std::uint64_t latency = now - slots_[s].ts;
  ++ctr_.timeouts;
  Ready& r = complete(s);
  r.c.timed_out = true;
  r.c.latency_ns = latency;
}

void Client::ask_hello(std::uint64_t now) {
  if (now - last_hello_ns_ < 100'000'000) return;
  last_hello_ns_ = now;
  std::array<std::byte, 64> req;
  const std::size_t n = wire::encode_control_request(req, wire::Command::hello, cfg_.client_id);
  wire::Datagram d{req.data(), static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n),
                   server_};
  if (t_->send_burst({&d, 1}) == 1) ++ctr_.hellos;
}

// A HELLO answer that arrives among the data answers: whether the engine is down, and the ports
// (a map of the same shape only: requests in flight keep their port index).
void Client::take_hello(const wire::Datagram& d) {
  const auto r = wire::parse_control_response({d.data, std::min(d.size, d.capacity)});
  if (r.drop != wire::Drop::none || r.cmd != wire::Command::hello ||
      r.header.client_id != cfg_.client_id) {
    ++ctr_.dropped;
    return;
  }
  engine_down_ = (r.flags & wire::kHelloEngineDown) != 0;
  if (r.map.partitions == map_.partitions && r.map.ports.size() == map_.ports.size() &&
      r.map.owner == map_.owner) {
    map_.ports = r.map.ports;
  }
}

void Client::retry(std::uint32_t s, std::uint64_t now) {
  Slot& sl = slots_[s];
  if (sl.retries >= cfg_.max_retries && past_give_up(sl.ts, now)) return time_out(s, now);
  ++sl.retries;
  ++ctr_.retries;
  if (cfg_.rehello_after != 0 && sl.retries >= cfg_.rehello_after) ask_hello(now);
  // Into this port's open datagram, with the new requests; sent by the next flush. The key's hash
  // is computed again (a retransmission is rare; the slot stays small without it).
  const std::string_view bytes = request_bytes(s);
  const std::string_view key = bytes.substr(0, sl.key_len);
  enqueue(s, next_stamp(now), wire::key_hash(key), key, bytes.substr(sl.key_len));
}

std::size_t Client::receive(std::chrono::microseconds wait) {
  const std::size_t n = t_->recv_burst(rx_, wait);
  const std::uint64_t now = now_ns();
  for (std::size_t i = 0; i < n; ++i) {
    const wire::Datagram& d = rx_[i];
    ++ctr_.datagrams_in;
    if (d.peer == server_) {  // the control port: a HELLO asked again
      take_hello(d);
      continue;
    }
    const auto p = d.size > d.capacity ? wire::Parsed<wire::ResponseView>{wire::Drop::truncated}
                                       : wire::parse_responses({d.data, d.size}, views_);
    if (p.drop != wire::Drop::none || p.header.client_id != cfg_.client_id) {
      ++ctr_.dropped;
      continue;
    }
    // The answers' slots first: a datagram answers dozens of requests, and their slots'
    // cache misses overlap instead of coming one after another.
    for (std::size_t k = 0; k < p.count; ++k) {
      const auto s = static_cast<std::uint32_t>(views_[k].h.request_id & ((1u << kSlotBits) - 1));
      if (s < slots_.size()) __builtin_prefetch(&slots_[s]);
    }
    bool sampled = false;  // one round-trip sample per datagram: its requests travelled together
    for (std::size_t k = 0; k < p.count; ++k) {
      const wire::ResponseView& v = views_[k];
      if (v.h.op == wire::Opcode::ping) [[unlikely]] {  // a silent port answered our ping
        if (v.h.request_id < timers_.size()) {
          PortTimers& pt = timers_[v.h.request_id];
          for (std::uint64_t& a : pt.newest_answered) a = std::max(a, v.h.timestamp);
          pt.ping_until = 0;
          pt.silent_pings = 0;
        }
        continue;
      }
      const auto s = static_cast<std::uint32_t>(v.h.request_id & ((1u << kSlotBits) - 1));
      if (s >= slots_.size() || slots_[s].id != v.h.request_id) {
        ++ctr_.stale;
        continue;
      }
      const Slot& sl = slots_[s];
      PortTimers& pt = timers_[sl.port];
      std::uint64_t& answered = pt.newest_answered[lane_of(sl.op)];
      answered = std::max(answered, v.h.timestamp);
      pt.silent_pings = 0;
      const std::uint64_t rtt = now >= v.h.timestamp ? now - v.h.timestamp : 0;
      if (sl.retries == 0) {
        if (!sampled) pt.rto.sample(rtt, now);
        sampled = true;
      } else if (v.h.timestamp < sl.tx) {
        // The answer to an earlier copy: the last retransmission was not needed, the timeout was
        // too short for this round trip (a stall of the server or this thread, not a loss).
        // Karn's rule still holds for the estimate; the timer takes the round trip as a floor.
        ++ctr_.spurious;
        pt.rto.spurious(rtt);
      }
      const std::uint64_t latency = now >= sl.ts ? now - sl.ts : 0;
      Ready& r = complete(s);
      r.c.status = v.h.status;
      r.c.latency_ns = latency;
      r.value_off = static_cast<std::uint32_t>(ready_used_);
      r.value_len = static_cast<std::uint32_t>(v.value.size());
      if (ready_used_ + v.value.size() > ready_values_.size()) {
        ready_values_.resize(std::max(2 * ready_values_.size(), ready_used_ + v.value.size()));
      }
      base::copy_bytes(ready_values_.data() + ready_used_, v.value.data(), v.value.size());
      ready_used_ += v.value.size();
    }
  }
  return n;
}

std::size_t Client::poll(std::span<Completion> out, std::chrono::microseconds wait) {
  if (ready_head_ == ready_.size()) {
    ready_.clear();
    ready_head_ = 0;
    ready_used_ = 0;
  }
  now_uses_ = 0;  // the next submit reads the clock again
  flush();
  if (ready_head_ == ready_.size() && live_ > 0) {
    // Take every answer that has already arrived before declaring any request lost: after this
    // thread was descheduled (or busy) past the timeout, the answers of a whole window wait in the
    // socket, and expiring first would retransmit requests that were answered (and apply SETs
    // twice). A burst that comes back full means more may be waiting; the bound keeps one poll
    // from running forever against a flood of stale datagrams.
    // Wait no longer than the first request's timeout.
    const std::uint64_t now = now_ns();
    if (next_deadline_ns_ <= now) {
      wait = std::chrono::microseconds(0);
    } else if (next_deadline_ns_ - now < static_cast<std::uint64_t>(wait.count()) * 1000) {
      wait = std::chrono::microseconds((next_deadline_ns_ - now + 999) / 1000);
    }
    std::size_t got = receive(wait);
    for (std::size_t bursts = 1; got == rx_.size() && bursts < kMaxDrainBursts; ++bursts) {
      got = receive(std::chrono::microseconds(0));
    }
    // next_deadline_ns_ is the earliest deadline as of each request's (re)transmission: until
    // then no timer can have run out, and the walk over the ports' queues is skipped.
    if (const std::uint64_t t = now_ns(); t >= next_deadline_ns_) expire(t);
  }
  std::size_t n = 0;
  while (n < out.size() && ready_head_ < ready_.size()) {
    const Ready& r = ready_[ready_head_++];
    out[n] = r.c;
    out[n].value = std::string_view(ready_values_.data() + r.value_off, r.value_len);
    ++n;
  }
  return n;
}

Client::Reply Client::call(wire::Opcode op, std::string_view key, std::string_view value) {
  if (outstanding() != 0) {
    throw std::logic_error("blocking calls need an idle client");
  }
  submit(op, key, value, 0);
  Completion c;
  while (poll({&c, 1}, std::chrono::milliseconds(5)) == 0) {
  }
  Reply r;
  r.status = c.status;
  r.timed_out = c.timed_out;
  r.value.assign(c.value);
  return r;
}

std::vector<Client::Abandoned> Client::abandon() {
  // In the order submitted (the sequence number is the id's high bits): two writes of one key
  // must reach the key's new owner in their order, or the older one would win there.
  std::vector<std::uint32_t> live;
  for (std::uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].id != 0) live.push_back(s);
  }
  std::sort(live.begin(), live.end(),
            [this](std::uint32_t x, std::uint32_t y) { return slots_[x].id < slots_[y].id; });
  std::vector<Abandoned> out;
  for (std::uint32_t s : live) {
    Slot& sl = slots_[s];
    const std::string_view b = request_bytes(s);
    out.push_back(
        {sl.op, sl.tag, std::string(b.substr(0, sl.key_len)), std::string(b.substr(sl.key_len))});
    if (sl.op != wire::Opcode::get) live_writes_[(sl.id >> kSlotBits) % wire::kWriteWindow] = 0;
    sl.id = 0;
    free_.push_back(s);
    --live_;
  }
  for (PortTimers& pt : timers_) {
    for (auto& q : pt.q) q.clear();
    pt.busy = 0;
    pt.fresh.fill(0);
    pt.fresh_levels = 0;
  }
  next_deadline_ns_ = UINT64_MAX;
  return out;
}

Client::Reply Client::get(std::string_view key) {
  return call(wire::Opcode::get, key, {});
}
Client::Reply Client::set(std::string_view key, std::string_view value) {
  return call(wire::Opcode::set, key, value);
}
Client::Reply Client::del(std::string_view key) {
  return call(wire::Opcode::del, key, {});
}

}  // namespace buddy::kv
