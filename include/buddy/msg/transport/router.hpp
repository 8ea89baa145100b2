// The messaging core below comm: per-next-hop send buffers, flushing with non-blocking MPI,
// pre-posted receives, an inbox of received buffers, relaying, backpressure and counters.
// It knows records only as [dest][length][opaque payload] (wire.hpp) and never runs handlers,
// so a relaying rank and the offload engine (issue 7) reuse it unchanged: they link buddy::qp
// and MPI only.
//
// Sizes: the budget (options::buffer_kb) is split evenly between this rank's next hops; each
// hop's buffer is flushed when the next record would overflow it. Receives are posted for the
// largest hop buffer of any rank (agreed at construction). A record larger than that travels
// alone as a "large" message (probed, received at its exact size). In-flight send bytes are
// capped at twice the budget: past that, a send waits, polling receives and calling the drain
// hook (comm runs handlers there when it is not itself inside one) instead of growing memory.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include "buddy/msg/transport/buffers.hpp"
#include "buddy/msg/transport/options.hpp"
#include "buddy/msg/transport/routing.hpp"
#include "buddy/msg/transport/stats.hpp"
#include "buddy/msg/transport/wire.hpp"
#include "buddy/qp/backoff.hpp"

namespace buddy::msg {

// How every buddy::msg wait backs off (router backpressure, barrier, reductions).
extern const qp::BackoffConfig wait_backoff;

class router {
 public:
  // Collective over comm (duplicated inside). Throws buddy::msg::error on bad sizes.
  router(MPI_Comm comm, const layout& lay, routing route, std::size_t budget_bytes);
  // The general form (the offload engine's): destination ids are anything in
  // [0, next_hop.size()), next_hop[d] is the comm rank a record for d goes to, hops lists the
  // distinct next hops; each hop buffer holds hop_bytes; at most max_sends sends are in flight
  // (0: only the byte cap of 2 x all hop buffers applies). Collective over comm.
  router(MPI_Comm comm, std::vector<int> next_hop, const std::vector<int>& hops,
         std::size_t hop_bytes, std::size_t max_sends);
  ~router();
  router(const router&) = delete;
  router& operator=(const router&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  std::size_t hop_bytes() const { return hop_bytes_; }
  std::size_t recv_bytes() const { return pool_.capacity(); }
  const std::vector<int>& route_table() const { return next_hop_; }

  // Space for one record of `length` payload bytes bound for rank `dest` (already checked to be
  // in range); its header is written, the caller writes the payload at the returned pointer.
  std::byte* reserve(int dest, std::uint32_t length) {
    const std::size_t need = wire::header_bytes + length;
    const auto hop = static_cast<std::size_t>(next_hop_[static_cast<std::size_t>(dest)]);
    if (runs_[hop].cur != nullptr) close_run(hop);
    buffer& b = out_[hop];
    if (b.size + need > hop_bytes_) [[unlikely]] {
      return reserve_slow(dest, length);
    }
    std::byte* p = b.data.get() + b.size;
    tail_[hop] = b.size;
    b.size += need;
    wire::write_header(p, static_cast<std::uint32_t>(dest), length);
    return p + wire::header_bytes;
  }
  // Grows the frame at the tail of dest's hop buffer by `extra` payload bytes and returns where
  // they go, if that frame is for dest, its payload starts with prefix (handler id and function
  // object: wire.hpp), it stays within wire::max_run_bytes and the buffer has room; else nullptr
  // (the caller then reserve()s a new frame). The first append to a frame opens a run on its hop
  // (where it ends, how far it may grow); the next ones are a pointer bump after one room check,
  // one destination check and the prefix compare, and the frame's length and the buffer's size
  // are written once, when the run is closed (a new frame, a flush).
  template <std::size_t N>
  std::byte* extend(int dest, std::uint32_t extra, const std::byte (&prefix)[N]) {
    const auto hop = static_cast<std::size_t>(next_hop_[static_cast<std::size_t>(dest)]);
    open_run& r = runs_[hop];
    if (r.cur != nullptr && r.dest == dest && static_cast<std::size_t>(r.lim - r.cur) >= extra &&
        wire::same_bytes<N>(r.frame + wire::header_bytes, prefix)) [[likely]] {
      std::byte* p = r.cur;
      r.cur += extra;
      return p;
    }
    return extend_slow(hop, dest, extra, prefix);
  }

  // Copies a record that is not for this rank on towards its destination.
  void forward(const wire::record& r) {
    std::byte* p = reserve(static_cast<int>(r.dest), r.length);
    std::memcpy(p, r.payload, r.length);
    ++stats_.msgs_relayed;
    stats_.bytes_relayed += wire::header_bytes + r.length;
  }

  // Hands every non-empty buffer to MPI (this rank's own buffer goes straight to the inbox);
  // true if there was anything to flush.
  bool flush_all();
  // Tests sends and receives without blocking; received buffers join the inbox. True if
  // anything completed.
  bool poll();
  // The oldest received buffer, if any; give it back with recycle() when done.
  bool pop_inbox(buffer& out);
  void recycle(buffer&& b) { pool_.put(std::move(b)); }
  bool inbox_empty() const { return inbox_.empty(); }
  // True when nothing this rank sent is still in flight and nothing is buffered.
  bool quiet() const;

  // Called while a send waits for in-flight buffers (backpressure); may process the inbox and
  // returns true if it did anything.
  using drain_hook = bool (*)(void* ctx);
  void set_drain_hook(drain_hook hook, void* ctx) {
    drain_ = hook;
    drain_ctx_ = ctx;
  }

  stats& counters() { return stats_; }
  const stats& counters() const { return stats_; }
  MPI_Comm mpi_comm() const { return comm_; }

 private:
  static constexpr int tag_data = 1;
  static constexpr int tag_large = 2;

  void init(std::vector<int> next_hop, const std::vector<int>& hops, std::size_t hop_bytes,
            std::size_t budget_bytes);
  bool over_limit() const {
    return inflight_bytes_ > inflight_limit_ ||
           (max_sends_ != 0 && send_reqs_.size() >= max_sends_);
  }
  std::byte* reserve_slow(int dest, std::uint32_t length);
  template <std::size_t N>
  std::byte* extend_slow(std::size_t hop, int dest, std::uint32_t extra,
                         const std::byte (&prefix)[N]) {
    close_run(hop);
    const std::size_t t = tail_[hop];
    buffer& b = out_[hop];
    if (t == no_tail || b.size + extra > hop_bytes_ ||
        !wire::frame_takes(b.data.get() + t, static_cast<std::uint32_t>(dest), extra, prefix)) {
      return nullptr;
    }
    // frame_takes and the room check: the run can take this record, so lim >= cur + extra.
    open_run& r = runs_[hop];
    r.frame = b.data.get() + t;
    r.cur = b.data.get() + b.size;
    r.lim = std::min(r.frame + wire::header_bytes + wire::max_run_bytes, b.data.get() + hop_bytes_);
    r.dest = dest;
    std::byte* p = r.cur;
    r.cur += extra;
    return p;
  }
  // Writes an open run's growth into its frame's length and its buffer's size, and closes it.
  void close_run(std::size_t hop) {
    open_run& r = runs_[hop];
    if (r.cur == nullptr) return;
    buffer& b = out_[hop];
    const auto grown = static_cast<std::size_t>(r.cur - (b.data.get() + b.size));
    b.size += grown;
    wire::grow_frame(r.frame, static_cast<std::uint32_t>(grown));
    r = open_run{};
  }
  void flush(int hop);
  void send(int hop, buffer&& b);
  void wait_for_room();
  bool poll_sends();
  bool poll_receives();
  void post_receive(std::size_t slot);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 0;
  std::size_t hop_bytes_ = 0;
  std::size_t inflight_limit_ = 0;
  std::size_t max_sends_ = 0;
  std::vector<int> next_hop_;  // final destination -> next hop
  std::vector<buffer> out_;    // one per rank (only next hops are allocated)
  // Per hop: offset of the last frame in out_[hop] (it ends at out_[hop].size), or no_tail.
  static constexpr std::size_t no_tail = ~std::size_t{0};
  std::vector<std::size_t> tail_;
  // Per hop: the run being appended to (extend), if any. While open, its frame's length and the
  // hop buffer's size lag by cur - (data + size) bytes; every other use of the buffer closes it
  // first (reserve, flush). An open run means a non-empty buffer, so empty() stays true to it.
  struct open_run {
    std::byte* frame = nullptr;  // the frame's header (the hop buffer's last frame)
    std::byte* cur = nullptr;    // where the next record goes; nullptr: no open run
    std::byte* lim = nullptr;    // min(frame's max_run_bytes end, the buffer's hop_bytes end)
    int dest = -1;
  };
  std::vector<open_run> runs_;
  buffer_pool pool_;

  std::vector<MPI_Request> send_reqs_;
  std::vector<buffer> send_bufs_;
  std::size_t inflight_bytes_ = 0;

  std::vector<MPI_Request> recv_reqs_;
  std::vector<buffer> recv_bufs_;
  std::vector<int> done_idx_;
  std::vector<MPI_Status> done_status_;

  std::deque<buffer> inbox_;
  drain_hook drain_ = nullptr;
  void* drain_ctx_ = nullptr;
  stats stats_;
};

// Wall-clock seconds since an arbitrary epoch (steady).
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace buddy::msg
