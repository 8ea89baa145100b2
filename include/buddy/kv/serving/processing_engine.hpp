// The processing engine (PE): runs compact requests against the partitions one thread owns
// (EREW: no other thread touches them). It sees only what it needs (opcode, key hash, key,
// value) and answers a status and, for GET, a copy of the value in a caller's arena: request
// ids, timestamps and addresses stay with the communication engine. Sequenced writes (a client
// id and sequence number in kv::Request) go through the engine's WriteWindows first: applied at
// most once, duplicates answered from the window, too-old ones refused (write_window.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/serving/write_window.hpp"
#include "buddy/kv/store/store.hpp"
#include "buddy/kv/wire/format.hpp"

namespace buddy::kv::serving {

struct PeResult {
  wire::Status status = wire::Status::ok;
  std::uint32_t value_off = 0;  // GET ok: the value is arena[value_off, value_off + value_len)
  std::uint32_t value_len = 0;
};

// Values of one batch of GETs, copied out of the store while the partition is known not to
// change under them.
class ValueArena {
 public:
  void clear() noexcept { bytes_.clear(); }
  std::uint32_t append(std::string_view v) {
    const auto off = static_cast<std::uint32_t>(bytes_.size());
    bytes_.insert(bytes_.end(), v.begin(), v.end());
    return off;
  }
  std::string_view view(std::uint32_t off, std::uint32_t len) const noexcept {
    return {bytes_.data() + off, len};
  }

 private:
  std::vector<char> bytes_;
};

class ProcessingEngine {
 public:
  // owned: the store partitions this engine's thread owns (each held by store).
  ProcessingEngine(Store& store, std::vector<std::uint32_t> owned, WriteWindowConfig windows = {});

  const std::vector<std::uint32_t>& owned() const noexcept { return owned_; }

  // Runs reqs and fills out[i] for reqs[i]; a request of a partition not owned here gets
  // wrong_partition (the communication engine checks ownership first; this guards the store from a
  // CE in another process). Requests of one partition run in their order in reqs, so a GET after
  // a SET of the same key sees it.
  // Sequenced writes are first checked against the window; GETs and unsequenced requests skip it.
  void execute(std::span<const kv::Request> reqs, std::span<PeResult> out, ValueArena& arena);

  // Duplicate sequenced writes answered from the window so far (never applied twice).
  std::uint64_t replayed() const noexcept { return replayed_; }
  // Out-of-order writes not applied because a newer write of the client to the key came first.
  std::uint64_t superseded() const noexcept { return superseded_; }
  const WriteWindows& windows() const noexcept { return windows_; }

 private:
  void execute_all(std::span<const kv::Request> reqs, std::span<PeResult> out, ValueArena& arena);
  void run(Partition& p, std::span<const kv::Request> reqs, std::span<const std::uint32_t> index,
           std::span<PeResult> out, ValueArena& arena);

  Store& store_;
  std::vector<std::uint32_t> owned_;
  std::vector<std::int32_t> local_;  // store partition -> position in owned_, or -1
  // Scratch for batches spanning several partitions: requests grouped by partition.
  std::vector<std::uint32_t> order_;
  std::vector<kv::Request> grouped_;
  std::vector<std::uint32_t> starts_;
  std::vector<std::uint32_t> fill_;
  // Exactly-once: the windows and the scratch of a batch with sequenced writes.
  WriteWindows windows_;
  std::uint64_t replayed_ = 0;
  std::uint64_t superseded_ = 0;
  struct Marked {
    WriteWindows::Entry* entry;
    std::uint32_t index;
  };
  std::vector<Marked> marked_;                                 // applied: record their answers
  std::vector<std::pair<std::uint32_t, std::uint32_t>> dups_;  // (copy, the copy applied)
  std::vector<std::uint32_t> keep_;
  std::vector<kv::Request> kept_;
  std::vector<PeResult> kept_out_;
};

// One batch from a KV queue pair through a processing engine: consumes up to max requests,
// executes them, answers each in order and publishes. Returns how many it served (0: none was
// waiting, or spilled answers still wait for room; the publish moves them on).
std::size_t serve_batch(ProcessingEngine& pe, queue::KvPeEnd& q, std::size_t max,
                        std::vector<PeResult>& results, ValueArena& arena);

}  // namespace buddy::kv::serving
