// The communication engine (CE): turns a burst of received datagrams into compact requests for
// the processing engine, and the PE's results back into response datagrams. It keeps what the
// PE does not need (peer, client id, request id, timestamp) in its own per-request context.
// Malformed datagrams are dropped and counted by reason; requests that frame but are wrong
// (bad opcode or key, wrong partition, value too large) are answered here without the PE.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "buddy/kv/serving/processing_engine.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/store/partition.hpp"
#include "buddy/kv/wire/parse.hpp"
#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::serving {

// Which partitions a CE may hand to its PE.
struct Ownership {
  std::uint32_t partitions = 1;
  std::vector<bool> mine;  // partition -> served here
  bool owns(std::uint64_t hash) const noexcept {
    return mine[wire::partition_of(hash, partitions)];
  }
};

// One burst in flight through CE -> PE -> CE.
struct Burst {
  struct Source {
    wire::Endpoint peer;
    std::uint32_t client_id = 0;
  };
  static constexpr std::uint32_t kPing = UINT32_MAX;
  struct Pending {
    std::uint32_t source = 0;  // index into sources
    wire::Opcode op = wire::Opcode::get;
    wire::Status status = wire::Status::ok;  // not ok: answered by the CE, no PE entry
    std::uint32_t pe = 0;                    // index into pe/results when status == ok
                                             // (kPing: a ping, answered by the CE)
    std::uint64_t id = 0;
    std::uint64_t ts = 0;
  };
  std::vector<Source> sources;
  std::vector<Pending> pending;
  std::vector<kv::Request> pe;  // key/value point into the received datagrams
  std::vector<PeResult> results;
  ValueArena arena;

  void clear() {
    sources.clear();
    pending.clear();
    pe.clear();
    results.clear();
    arena.clear();
  }
};

class CommEngine {
 public:
  // max_datagram: the largest datagram accepted and sent.
  CommEngine(Ownership own, std::size_t max_datagram);

  std::size_t max_datagram() const noexcept { return max_dgram_; }

  // Parses rx into b (appending). Datagrams with size > capacity were truncated: dropped.
  void parse(std::span<const wire::Datagram> rx, Burst& b, Counters& c);

  // Builds the responses of b in request order, in as many datagrams per source as needed.
  // The returned datagrams point into the engine's transmit buffers, valid until the next call.
  std::span<const wire::Datagram> respond(const Burst& b, Counters& c);

 private:
  wire::Datagram& next_tx(std::size_t i);

  Ownership own_;
  std::size_t max_dgram_;
  std::vector<wire::RequestView> views_;
  std::vector<std::vector<std::byte>> tx_bufs_;
  std::vector<wire::Datagram> tx_;
};

}  // namespace buddy::kv::serving
