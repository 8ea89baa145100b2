// Exactly-once writes in one processing engine: per sequenced client (wire::sequenced_client),
// the answers of its writes (SET, DELETE) of the last wire::kWriteWindow sequence numbers that
// reached this PE, with their keys' hashes. The PE asks before it applies a write: a new sequence
// number is applied and its answer kept; a duplicate (a retransmission, or a datagram the network
// duplicated or delayed) is answered from the window and never applied again; a write that
// arrives after a newer write of the same client to the same key (reordered, or retransmitted
// after a loss) is superseded: answered ok and not applied, so it never undoes the newer one; a
// write at or below the newest sequence number seen minus the window is refused too_old and never
// applied. Reads never come here.
//
// Memory is bounded: kWriteWindow entries of 16 bytes per client (32 KiB) and at most max_clients
// clients per PE (32 MiB with the defaults), allocated when a client's first write arrives. A
// client with no write for `idle` is forgotten (looked for once a second); when the table is full
// the client idle longest makes room. Forgotten or evicted clients lose their window: the guarantee
// holds for duplicates that arrive while the client is remembered (docs/kv-service.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "buddy/kv/wire/format.hpp"

namespace buddy::kv::serving {

struct WriteWindowConfig {
  std::size_t max_clients = 1024;                            // per PE
  std::chrono::nanoseconds idle = std::chrono::seconds(30);  // then a client is forgotten
};

class WriteWindows {
 public:
  struct Entry {
    std::uint32_t tag = 0;  // seq / kWriteWindow + 1; 0: empty
    wire::Status status = wire::Status::ok;
    std::uint8_t pending = 0;  // 1: being applied in the current batch, status not known yet
    std::uint16_t reserved = 0;
    std::uint64_t hash = 0;  // the key's hash
  };
  static_assert(sizeof(Entry) == 16);

  enum class Verdict : std::uint8_t {
    apply,       // new: apply it, then finish(entry, status)
    replay,      // applied before: answer `status`, do not apply
    superseded,  // a newer write of this client to the same key came first: answer ok, do not
                 // apply (it takes effect just before that one, which overwrote it)
    in_batch,    // a copy is being applied in this batch: answer what that copy gets
    too_old,     // older than the window: refuse, do not apply
    unprotected  // the table is full of clients active in this batch: apply without a window
  };
  struct Check {
    Verdict verdict = Verdict::apply;
    wire::Status status = wire::Status::ok;  // replay
    Entry* entry = nullptr;                  // apply and in_batch
  };

  explicit WriteWindows(WriteWindowConfig cfg = {}) : cfg_(cfg) {}

  // Starts a batch at time now (expires idle clients at most once a second).
  void begin_batch(std::chrono::steady_clock::time_point now);
  Check check(std::uint32_t client, std::uint64_t seq, std::uint64_t hash);
  static void finish(Entry* e, wire::Status st) noexcept {
    e->status = st;
    e->pending = 0;
  }

  std::size_t clients() const noexcept { return clients_.size(); }
  // Bytes held by the windows (entries only).
  std::size_t bytes() const noexcept {
    return clients_.size() * wire::kWriteWindow * sizeof(Entry);
  }

 private:
  struct Client {
    std::uint64_t newest = 0;  // highest sequence number applied
    std::int64_t last_ns = 0;  // batch time of its last write
    std::vector<Entry> ring;   // kWriteWindow entries, indexed by seq % kWriteWindow
  };
  Client* find_or_add(std::uint32_t client);

  WriteWindowConfig cfg_;
  std::unordered_map<std::uint32_t, Client> clients_;
  std::int64_t now_ns_ = 0;
  std::int64_t last_sweep_ns_ = 0;
};

}  // namespace buddy::kv::serving
