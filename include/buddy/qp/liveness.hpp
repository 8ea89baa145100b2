// Liveness of the two sides of a segment (docs/protocol.md section 1): the creator, and at most
// one attacher at a time. Each side has a LivenessRecord in the segment header: the holder's pid,
// the start time of that process (so a pid the kernel has since given to another process is not
// taken for the holder) and a heartbeat the holder renews.
//
//   Segment seg = Segment::attach(name);
//   AttachClaim claim = seg.claim_attacher();  // AlreadyAttached if another live process has it
//   if (claim.replaced().pid != 0) ...         // a dead or pid-reused attacher was replaced
//   claim.beat();                              // the attacher's heartbeat
//   claim.peer_alive(), claim.peer_heartbeat_age()   // the creator's liveness
// The creator's handle beats with seg.beat() and asks after the attacher with seg.peer_alive().
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "buddy/qp/segment_format.hpp"

namespace buddy::qp {

enum class Side : std::uint8_t { creator, attacher };
const char* to_string(Side s) noexcept;

// A process as a liveness record names it.
struct Holder {
  std::int64_t pid = 0;          // 0: nobody
  std::uint64_t start_time = 0;  // /proc/<pid>/stat field 22; 0: unknown
  bool operator==(const Holder&) const = default;
};

enum class ProcessState : std::uint8_t {
  alive,
  gone,        // no such process, or a zombie (it has exited, its parent has not reaped it yet)
  pid_reused,  // the pid runs, but a process started at another time than recorded
};
const char* to_string(ProcessState s) noexcept;

// The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22); 0 if it
// cannot be read (no such process, no /proc).
std::uint64_t process_start_time(std::int64_t pid) noexcept;
// The calling process.
Holder this_process() noexcept;
// Whether the process a record names still runs. Without /proc only the pid is checked.
ProcessState check_process(const Holder& h) noexcept;

// One record, read or renewed (what Segment and AttachClaim use).
Holder holder_of(const LivenessRecord& r) noexcept;  // pid 0 while nobody holds it
bool holder_alive(const LivenessRecord& r) noexcept;
std::chrono::nanoseconds heartbeat_age(const LivenessRecord& r) noexcept;  // now - last beat
void beat(LivenessRecord& r, std::uint64_t monotonic_ns) noexcept;

// What a claim found in the attacher record and replaced.
struct Replaced {
  std::int64_t pid = 0;     // 0: the record was free
  bool pid_reused = false;  // the pid runs, but as another process (else: the pid is gone)
};

// The attacher side of a segment, held by this process (Segment::claim_attacher) until the claim
// is released or destroyed. It points into the segment's mapping: it must not outlive the
// Segment it came from.
class AttachClaim {
 public:
  AttachClaim() = default;  // holds nothing
  AttachClaim(AttachClaim&& o) noexcept;
  AttachClaim& operator=(AttachClaim&& o) noexcept;
  AttachClaim(const AttachClaim&) = delete;
  AttachClaim& operator=(const AttachClaim&) = delete;
  ~AttachClaim() { release(); }

  bool held() const noexcept { return mine_ != nullptr; }
  const Replaced& replaced() const noexcept { return replaced_; }

  // The attacher's heartbeat: now, or a given CLOCK_MONOTONIC time (e.g. the oldest of several
  // threads' beats, so the heartbeat stops when any of them hangs).
  void beat() noexcept;
  void beat(std::uint64_t monotonic_ns) noexcept;
  // The creator's liveness.
  bool peer_alive() const noexcept;
  std::chrono::nanoseconds peer_heartbeat_age() const noexcept;

  // Frees the attacher record if this process still holds it (idempotent).
  void release() noexcept;

 private:
  friend class Segment;
  // Claims `mine` by compare-and-swap; throws AlreadyAttached naming the live holder.
  static AttachClaim take(LivenessRecord& mine, const LivenessRecord& creator,
                          const std::string& segment);
  AttachClaim(LivenessRecord* mine, const LivenessRecord* peer, std::int64_t pid, Replaced r)
      : mine_(mine), peer_(peer), pid_(pid), replaced_(r) {}

  LivenessRecord* mine_ = nullptr;
  const LivenessRecord* peer_ = nullptr;
  std::int64_t pid_ = 0;
  Replaced replaced_;
};

}  // namespace buddy::qp
