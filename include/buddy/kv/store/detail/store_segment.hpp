// A named store's memory: one POSIX shared-memory segment (/dev/shm/NAME) holding every partition
// a store holds, so that the store outlives the process that writes it (buddykv's engine process
// in shrd and engine-only: a restarted engine re-attaches to it). It outlives the process, not
// the machine. The segment is never unlinked here: its owner does that (StoreSegment::unlink).
//
//   [header page: magic, layout version, mode, partitions, held ones, sizes, generation]
//   per held partition: [page: index word][page words, whole pages][arena]
//
// Made, the header is complete (its magic written last, seal()) only once every partition is;
// a segment whose maker died before that holds nothing anybody was told of and is made again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "buddy/kv/store/partition.hpp"

namespace buddy::kv::detail {

class StoreSegment {
 public:
  static constexpr std::uint32_t kVersion = 1;

  struct Layout {
    Mode mode = Mode::store;
    std::uint32_t partitions = 1;     // of the whole store
    std::vector<std::uint32_t> held;  // the ones in this segment (all when empty)
    std::size_t partition_bytes = 0;  // each held partition's budget
  };

  // attach false: makes a new segment (one that exists already is an error). attach true: the
  // segment must exist and hold this layout (else a one-line kv::Error: missing, not a store,
  // another layout version, another layout); its generation goes up by one.
  StoreSegment(std::string name, const Layout& layout, bool attach);
  ~StoreSegment();
  StoreSegment(const StoreSegment&) = delete;
  StoreSegment& operator=(const StoreSegment&) = delete;

  static void unlink(const std::string& name) noexcept;

  // The k-th held partition's memory (attach: rebuild it, when the segment held data).
  PartitionMemory memory(std::size_t k) const noexcept;
  bool attached() const noexcept { return attached_; }  // re-attached to a complete segment
  std::uint64_t generation() const noexcept;
  void seal() noexcept;  // every partition is made: the magic, last
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t arena_bytes_ = 0;
  std::size_t words_bytes_ = 0;
  std::size_t held_ = 0;
  bool attached_ = false;
};

}  // namespace buddy::kv::detail
