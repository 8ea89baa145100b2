// buddykv client library. Learns the partition map with HELLO, routes every request by its key
// hash to the port that owns the key's partition, packs many requests into each datagram, keeps
// a window of outstanding requests, retransmits on timeout (UDP may drop), matches responses by
// request id and reports a result per request. The timeout follows the measured round trip of
// each serving port (rto.hpp); only the requests whose own timeout passed are sent again, the rest
// of the window keeps flowing (docs/protocol.md, "Retransmission").
//
//   buddy::kv::Client c({.server = "127.0.0.1:7000"});
//   c.set("k", "v");                       // blocking helpers
//   auto r = c.get("k");                   // r.status == wire::Status::ok, r.value == "v"
//   c.submit(wire::Opcode::get, "k", {}, /*tag=*/7);   // asynchronous: submit, then poll
//   std::array<buddy::kv::Completion, 64> done;
//   std::size_t n = c.poll(done, std::chrono::milliseconds(1));
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/base/fields.hpp"
#include "buddy/kv/client/ring_fifo.hpp"
#include "buddy/kv/client/rto.hpp"
#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/format.hpp"
#include "buddy/kv/wire/transport.hpp"
#include "buddy/kv/wire/writer.hpp"

namespace buddy::kv {

struct ClientConfig {
  std::string server = "127.0.0.1:7000";              // the server's control (base) port
  std::size_t max_datagram = wire::kDefaultDatagram;  // capped by the server's limit (HELLO)
  std::size_t window = 1024;                          // outstanding requests, 1..1<<20
  std::size_t batch = 0;  // most requests per datagram (0: as many as fit the datagram limit)
  // Retransmission timeout (RFC 6298 style, per serving port): `timeout` until the port's first
  // round trip is measured, then srtt + 4 rttvar within [min_timeout, max_timeout]; each
  // retransmission of the same request doubles its wait (capped at max_timeout).
  std::chrono::microseconds timeout{50'000};
  // The floor: 2 ms. With 500 us a quiet ./buddy demo resent 6144-9216 requests (mostly
  // spurious: stalls of the server); with 2 ms, 0 in most runs (docs/kv-service.md).
  std::chrono::microseconds min_timeout{2'000};
  std::chrono::microseconds max_timeout{1'000'000};
  unsigned max_retries = 12;  // then report the request timed out, once `give_up` has passed too
  // A request is given up only after max_retries retransmissions and this long since it was
  // submitted (0: after max_retries alone): an engine restart (docs/kv-designs.md) stops its
  // ports for a few hundred ms, and the client rides it out.
  std::chrono::milliseconds give_up{10'000};
  // A request retransmitted this often makes the client ask HELLO again (at most every 100 ms,
  // without waiting for it): the answer tells whether the engine is down and where the ports
  // are (they may come back elsewhere). 0: never.
  unsigned rehello_after = 3;
  std::chrono::milliseconds hello_timeout{3'000};
  // Sent with HELLO (0: pick one at random, bit 31 clear). A server that assigns ids at HELLO
  // (buddykv-server does) replaces it: data requests then carry the assigned id and exactly-once
  // sequence numbers (docs/protocol.md, "Client ids and sequence windows").
  std::uint32_t client_id = 0;
  // The client's own UDP socket sends runs of equal-sized datagrams to a port as one send, cut by
  // the kernel (UDP_SEGMENT; the server receives the same datagrams): most of the kernel's
  // per-datagram send work goes. Off, or where the kernel refuses it: one send per datagram.
  bool segment_offload = true;
};

struct Completion {
  std::uint64_t tag = 0;
  wire::Opcode op = wire::Opcode::get;
  wire::Status status = wire::Status::ok;  // meaningful unless timed_out
  bool timed_out = false;                  // no answer after max_retries retransmissions
  bool local = false;                      // refused by the client, never sent (bad key, too large)
  std::uint32_t retries = 0;
  std::uint64_t latency_ns = 0;  // from submit() to the answer
  std::string_view value;        // GET ok: valid until the next poll()
};

struct ClientCounters {
  std::uint64_t requests = 0;
  std::uint64_t datagrams_out = 0;
  std::uint64_t datagrams_in = 0;
  std::uint64_t retries = 0;
  std::uint64_t spurious = 0;  // retries answered by an earlier copy (not lost, only late)
  std::uint64_t held =
      0;  // timeouts passed while the port was silent: waited for the probe, unsent
  std::uint64_t pings = 0;  // pings sent to a silent port (no request resent for them)
  std::uint64_t timeouts = 0;
  std::uint64_t stale = 0;    // answers to requests already answered or given up (duplicates)
  std::uint64_t dropped = 0;  // response datagrams that did not parse or were not ours
  std::uint64_t send_failures = 0;
  std::uint64_t hellos = 0;  // HELLOs asked again after retransmissions (rehello_after)

  // The field table (base/fields.hpp).
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("requests", s.requests...);
    f("datagrams_out", s.datagrams_out...);
    f("datagrams_in", s.datagrams_in...);
    f("retries", s.retries...);
    f("spurious", s.spurious...);
    f("held", s.held...);
    f("pings", s.pings...);
    f("timeouts", s.timeouts...);
    f("stale", s.stale...);
    f("dropped", s.dropped...);
    f("send_failures", s.send_failures...);
    f("hellos", s.hellos...);
  }
  ClientCounters& operator+=(const ClientCounters& o) {
    base::add_fields(*this, o);
    return *this;
  }
};
static_assert(base::field_words<ClientCounters>() * 8 == sizeof(ClientCounters));

class Client {
 public:
  // Sends HELLO and waits for the map; throws std::runtime_error with a one-line reason.
  // transport: where to send from (default: a UDP socket on an ephemeral port).
  explicit Client(ClientConfig cfg, std::unique_ptr<wire::BurstTransport> transport = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const wire::PartitionMap& map() const noexcept { return map_; }
  std::size_t datagram_limit() const noexcept { return limit_; }
  // Submitted requests poll() has not handed out yet (in flight, or answered and waiting).
  std::size_t outstanding() const noexcept { return live_ + (ready_.size() - ready_head_); }
  bool window_full() const noexcept { return free_.empty(); }
  const ClientCounters& counters() const noexcept { return ctr_; }
  // Whether the server's last HELLO said its engine is down (wire::kHelloEngineDown).
  bool engine_down() const noexcept { return engine_down_; }
  // The retransmission timer of serving port `port` (index into map().ports).
  const RtoEstimator& rto(std::size_t port) const { return timers_.at(port).rto; }

  // Queues one request (key and value are copied). Returns false, queuing nothing, when the
  // window is full: poll() first. A request the client can tell is bad (key length 0 or > 255,
  // value too large for one datagram) is answered locally by the next poll().
  // Also false for a write while a write kWriteWindow requests older is still outstanding.
  bool submit(wire::Opcode op, std::string_view key, std::string_view value, std::uint64_t tag);
  // The id data requests carry: the server's assigned one after HELLO, if it gave one.
  std::uint32_t client_id() const noexcept { return cfg_.client_id; }
  // Sends every partly filled datagram now (poll() does too).
  void flush();
  // Flushes, receives answers (waiting up to `wait` for the first), retransmits what timed out.
  std::size_t poll(std::span<Completion> out, std::chrono::microseconds wait);

  // Blocking helpers, for tools and tests; only when nothing is outstanding.
  struct Reply {
    wire::Status status = wire::Status::ok;
    bool timed_out = false;
    std::string value;
  };
  Reply get(std::string_view key);
  Reply set(std::string_view key, std::string_view value);
  Reply del(std::string_view key);
  // The server's statistics (STATS) as one JSON object.
  std::string stats();

  // Takes back every request still in flight (submitted, not answered, not given up): its slot
  // is freed, no completion for it will come, a late answer counts as stale. For a cluster
  // client (cluster_client.hpp) whose server left: the requests go to the key's new owner.
  // In the order they were submitted.
  struct Abandoned {
    wire::Opcode op = wire::Opcode::get;
    std::uint64_t tag = 0;
    std::string key, value;
  };
  std::vector<Abandoned> abandon();

 private:
  struct Slot;
  struct PortOut;
  struct Deadline {
    std::uint32_t slot;
    std::uint64_t id;
    // This transmission: when flush() sent its datagram (or, held, when it was held); it
    // expires at sent_ns + rto.timeout_ns(level).
    std::uint64_t sent_ns;
  };
  // A port's requests go in two lanes of datagrams: SETs in one, every other request (and the
  // pings) in the other.
  static constexpr std::size_t kLanes = 2;
  static std::size_t lane_of(wire::Opcode op) noexcept { return op == wire::Opcode::set ? 1 : 0; }
  // Retransmissions back off exponentially: level = min(retries, kBackoffLevels - 1). One FIFO
  // per port and level holds that port's requests in the order sent, so with the port's current
  // timeout the front is always the first to expire, and a check looks at the fronts only.
  static constexpr std::size_t kBackoffLevels = 12;
  // Loss or stall: a request whose timeout passed is resent at once when the port has answered
  // a request sent at or after it (so it, or its answer, was lost). When the port has answered
  // nothing sent since (a stall of the server or of the path, or everything lost), the client
  // asks first: it sends the port a ping (wire::Opcode::ping, answered at once, no store work)
  // and the requests wait one backoff level more, unsent (held). The ping's answer is a copy
  // answered after them: the ones still unanswered at their next timeout were lost and are
  // resent; the ones answered meanwhile cost nothing, so a stall costs no retransmission. After
  // kSilentPings pings without an answer (lost too, or a server without pings), one request is
  // resent, the probe, and the others stay held (TCP sends one segment on a retransmission
  // timeout for the same reason).
  struct PortTimers {
    explicit PortTimers(RtoEstimator r) : rto(r) {}
    RtoEstimator rto;
    std::array<RingFifo<Deadline>, kBackoffLevels> q;
    std::uint32_t busy = 0;  // bit L: q[L] not empty
    // Per lane, the latest send time of a copy this port answered. Per lane because a port's
    // two lanes' datagrams interleave in time: a SET datagram opened early may leave after GET
    // datagrams filled behind it, so a GET answered does not show an older-stamped SET lost;
    // within one lane, stamps are in send order. A ping's answer vouches for both lanes.
    std::array<std::uint64_t, kLanes> newest_answered{};
    std::uint32_t probe_slot = 0;    // the probe resent while the port was silent
    std::uint64_t probe_id = 0;      // its request id (0: none)
    std::uint64_t ping_until = 0;    // the ping out expires then (0: none out)
    std::uint32_t silent_pings = 0;  // pings sent since the port last answered
    // Entries pushed since the last flush(), per level (the last fresh[L] of q[L]): flush()
    // stamps them with the time their datagrams left, so time spent between submit() and the
    // send (this thread descheduled, or busy) does not count against the timeout.
    std::array<std::uint32_t, kBackoffLevels> fresh{};
    std::uint32_t fresh_levels = 0;  // bit L: fresh[L] != 0
  };
  // Stamps the entries pushed since the last flush with `sent` and lowers next_deadline_ns_.
  void stamp_fresh(std::uint64_t sent);
  // Whether a request submitted at `submitted` has been out for `give_up` (0: always).
  bool past_give_up(std::uint64_t submitted, std::uint64_t now) const noexcept {
    return now - submitted >= give_up_ns_;
  }
  bool probe_out(const PortTimers& pt) const noexcept;
  static constexpr std::uint32_t kSilentPings = 3;
  // Sends port `port` a ping (in its GET lane's open datagram) that expires after `wait`.
  void ping(std::uint32_t port, std::uint64_t now, std::uint64_t wait);
  // A request whose timeout passed while its port was silent and a probe is out: waits one
  // level more from now without being sent; timed out once it waited through every level and
  // `give_up` has passed.
  void hold(PortTimers& pt, unsigned level, const Deadline& d, std::uint64_t now,
            std::uint64_t& next);
  void time_out(std::uint32_t slot, std::uint64_t now);
  std::string control(wire::Command cmd, wire::ControlResponse& resp);
  // Packs the slot's request (key and value: its bytes) into its port's open datagram; `sent`
  // is this copy's timestamp, hash the key's.
  void enqueue(std::uint32_t slot, std::uint64_t sent, std::uint64_t hash, std::string_view key,
               std::string_view value);
  // Datagrams being filled: one per serving port and lane (lane = port * kLanes + lane_of(op)).
  void open(std::size_t lane);
  void close(std::size_t lane);
  struct Ready;
  // Frees the slot and queues its completion (tag, op, retries filled in) for poll(); the
  // caller fills in the rest in place.
  Ready& complete(std::uint32_t slot);
  void refuse(wire::Opcode op, std::uint64_t tag, wire::Status status);
  // Receives one burst (waiting up to `wait` for the first datagram) and completes its answers.
  std::size_t receive(std::chrono::microseconds wait);
  // Retransmits (or gives up on) every request whose timeout passed; sets next_deadline_ns_.
  void expire(std::uint64_t now);
  void retry(std::uint32_t slot, std::uint64_t now);
  Reply call(wire::Opcode op, std::string_view key, std::string_view value);
  std::uint64_t clock_ns();
  void ask_hello(std::uint64_t now);
  void take_hello(const wire::Datagram& d);

  ClientConfig cfg_;
  std::unique_ptr<wire::BurstTransport> t_;
  wire::Endpoint server_;
  wire::PartitionMap map_;
  std::size_t limit_ = 0;
  std::vector<Slot> slots_;
  // Each slot's request bytes (key then value, for retransmission): in its kInlineBytes of
  // inline_bytes_ when they fit, else in big_bytes_[slot].
  static constexpr std::size_t kInlineBytes = 48;
  std::vector<char> inline_bytes_;
  std::vector<std::string> big_bytes_;
  std::string_view request_bytes(std::uint32_t slot) const;
  std::vector<std::uint32_t> free_;
  std::size_t live_ = 0;
  std::uint64_t seq_ = 1;
  // Writes outstanding by sequence number (seq % kWriteWindow), and the oldest one may be.
  std::vector<std::uint8_t> live_writes_;
  std::uint64_t oldest_write_ = 1;
  std::vector<PortOut> out_;                  // per lane
  std::vector<std::vector<std::byte>> pool_;  // datagram buffers of limit_ bytes
  std::vector<std::uint32_t> free_bufs_;
  std::vector<wire::Datagram> tx_;               // finished datagrams, sent by flush()
  std::vector<std::uint32_t> tx_bufs_;           // their pool buffers
  std::vector<PortTimers> timers_;               // per serving port
  std::uint64_t next_deadline_ns_ = UINT64_MAX;  // no request expires before this
  // Finished requests not yet handed out, in order: ready_[ready_head_..]. GET values are in
  // ready_values_ (value_off/value_len), which is only cleared when everything was handed out,
  // at the start of a poll(): that keeps the views of the previous poll() valid until then.
  struct Ready {
    Completion c;
    std::uint32_t value_off = 0;
    std::uint32_t value_len = 0;
  };
  std::vector<Ready> ready_;
  std::size_t ready_head_ = 0;
  std::vector<char> ready_values_;  // its first ready_used_ bytes are in use
  std::size_t ready_used_ = 0;
  std::vector<std::byte> rx_bytes_;
  std::vector<wire::Datagram> rx_;
  std::vector<wire::ResponseView> views_;
  ClientCounters ctr_;
  // Each copy's timestamp (the one the server echoes) is unique and increasing in send order,
  // also among the requests that share one clock reading (kClockReuse): the stall check
  // (newest_answered) then tells "answered a copy sent after it" from "sent together with it".
  static constexpr std::uint32_t kClockReuse = 16;
  std::uint64_t last_stamp_ = 0;
  std::uint32_t now_uses_ = 0;
  std::uint64_t next_stamp(std::uint64_t reading) noexcept {
    last_stamp_ = std::max(reading, last_stamp_ + 1);
    return last_stamp_;
  }
  std::uint64_t give_up_ns_ = 0;
  std::uint64_t last_hello_ns_ = 0;
  bool engine_down_ = false;
};

}  // namespace buddy::kv
