// A named shared-memory segment holding N queue pairs: the host <-> engine link.
//
// The creator makes it with Segment::create(name, layout) (POSIX shm "/buddy.<name>", mode 0600)
// and removes the name when its Segment is destroyed; another process (the engine, later a DPU)
// joins with Segment::attach(name[, expected layout]). Attaching to a segment of another layout
// version, size or geometry throws Error naming what differs.
//
// Liveness (liveness.hpp): the creator's record is written by create(); one attacher at a time
// holds the attacher's record through seg.claim_attacher(). Attaching without claiming (tools,
// checks for a stale segment) stays possible and changes nothing.
//
// Queue pair i has a request ring (side A -> side B) and a response ring (B -> A). Typed ends:
//   auto host = seg.requester<Req, Resp>(i);    // host.requests.reserve(...),
//   host.responses.peek(...) auto engine = seg.responder<Req, Resp>(i);
// Use qp::Record as the type of a variable-length record ring.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "buddy/qp/fixed_ring.hpp"
#include "buddy/qp/liveness.hpp"
#include "buddy/qp/record_ring.hpp"
#include "buddy/qp/segment_format.hpp"

namespace buddy::qp {

template <class T>
using Producer = std::conditional_t<std::is_same_v<T, Record>, RecordProducer, FixedProducer<T>>;
template <class T>
using Consumer = std::conditional_t<std::is_same_v<T, Record>, RecordConsumer, FixedConsumer<T>>;

template <class Req, class Resp>
struct RequesterEnd {
  Producer<Req> requests;
  Consumer<Resp> responses;
};
template <class Req, class Resp>
struct ResponderEnd {
  Consumer<Req> requests;
  Producer<Resp> responses;
};

struct CreateOptions {
  // If a segment of that name exists and its creator is dead (or it is not a valid segment),
  // replace it; a segment whose creator is alive is never replaced.
  bool replace_stale = true;
  // Fault all pages in at creation (no page faults on the hot path later).
  bool prefault = true;
};

struct AttachOptions {
  // How long to wait for the segment to appear and be initialized by its creator.
  std::chrono::milliseconds wait{0};
};

// Why `name` cannot name a segment (1 to 200 letters, digits, '.', '_' or '-'), or "" if it can:
// what create and attach throw, for tools to check their arguments with.
std::string segment_name_error(std::string_view name);

class Segment {
 public:
  static Segment create(std::string_view name, const SegmentLayout& layout,
                        const CreateOptions& opts = {});
  static Segment attach(std::string_view name, const AttachOptions& opts = {});
  static Segment attach(std::string_view name, const SegmentLayout& expected,
                        const AttachOptions& opts = {});
  // Removes a segment name (no error if it does not exist).
  static void remove(std::string_view name);
  // Removes every segment whose name starts with `prefix` and that nobody can be using: a valid
  // segment whose creator and attacher are both gone (or their pids now run other processes),
  // what a killed creator leaves behind. A segment still being made (not initialized), a foreign
  // file, or one with a live side is left alone. Returns the names removed.
  static std::vector<std::string> remove_stale(std::string_view prefix);
  // Bytes a segment of this layout maps; throws Error if the layout is invalid.
  static std::uint64_t size_for(const SegmentLayout& layout);
  // Throws Error with a one-line reason if the layout is invalid.
  static void validate(const SegmentLayout& layout);

  Segment(Segment&& o) noexcept;
  Segment& operator=(Segment&& o) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  const std::string& name() const { return name_; }
  const SegmentLayout& layout() const { return layout_; }
  std::uint32_t queue_pairs() const { return layout_.queue_pairs; }
  std::uint64_t size_bytes() const { return size_; }
  bool is_owner() const { return owner_; }
  // The build that created the segment: its ISA and page size (docs/protocol.md section 1).
  Isa creator_isa() const;
  std::uint32_t creator_page_size() const;

  // Either side's liveness: who holds it (pid 0: nobody), whether that process still runs (it
  // exists, is no zombie, and started when the record says), and how old its last beat is.
  Holder holder(Side side) const;
  bool alive(Side side) const;
  std::chrono::nanoseconds heartbeat_age(Side side) const;
  // The creator's heartbeat; only on the handle create() returned (Error otherwise).
  void beat();
  // The other side of this handle: the attacher for the creator's, the creator for any other.
  Side peer() const { return owner_ ? Side::attacher : Side::creator; }
  bool peer_alive() const { return alive(peer()); }
  std::chrono::nanoseconds peer_heartbeat_age() const { return heartbeat_age(peer()); }
  // Claims the attacher side for this process (compare-and-swap on its pid): throws
  // AlreadyAttached, one line naming the pid, while another live process (or this one) holds it;
  // replaces a holder that is gone or whose pid now runs another process, and says so in
  // replaced(). The claim is released when it is destroyed (it must not outlive this Segment).
  AttachClaim claim_attacher();

  std::span<std::byte> extra();
  std::span<std::uint8_t, 64> user_header();

  RingHeader* request_ring(std::uint32_t qp) const;
  RingHeader* response_ring(std::uint32_t qp) const;
  static std::byte* ring_data(RingHeader* h) {
    return reinterpret_cast<std::byte*>(h) + sizeof(RingHeader);
  }

  template <class T>
  Producer<T> request_producer(std::uint32_t qp) const {
    return make<Producer<T>, T>(request_ring(qp), "request");
  }
  template <class T>
  Consumer<T> request_consumer(std::uint32_t qp) const {
    return make<Consumer<T>, T>(request_ring(qp), "request");
  }
  template <class T>
  Producer<T> response_producer(std::uint32_t qp) const {
    return make<Producer<T>, T>(response_ring(qp), "response");
  }
  template <class T>
  Consumer<T> response_consumer(std::uint32_t qp) const {
    return make<Consumer<T>, T>(response_ring(qp), "response");
  }
  template <class Req, class Resp>
  RequesterEnd<Req, Resp> requester(std::uint32_t qp) const {
    return {request_producer<Req>(qp), response_consumer<Resp>(qp)};
  }
  template <class Req, class Resp>
  ResponderEnd<Req, Resp> responder(std::uint32_t qp) const {
    return {request_consumer<Req>(qp), response_producer<Resp>(qp)};
  }

 private:
  Segment() = default;
  SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base_); }
  LivenessRecord& record(Side side) const {
    return side == Side::creator ? header()->creator : header()->attacher;
  }
  void check_ring_type(const RingHeader* h, RingKind kind, std::size_t entry_bytes,
                       const char* which) const;
  template <class End, class T>
  End make(RingHeader* h, const char* which) const {
    if constexpr (std::is_same_v<T, Record>) {
      check_ring_type(h, RingKind::records, 0, which);
    } else {
      check_ring_type(h, RingKind::fixed, sizeof(T), which);
    }
    return End(h, ring_data(h));
  }
  void unmap() noexcept;
  static std::uint64_t size_for_unchecked(const SegmentLayout& layout);

  std::string name_;
  std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
  SegmentLayout layout_{};
  bool owner_ = false;
};

}  // namespace buddy::qp
