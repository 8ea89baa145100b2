// The app rank's end of offload mode: one outbound and one inbound record ring (a channel of
// this process's segment) per comm. async() writes its wire record straight into the outbound
// ring (no intermediate buffer): into an open ring record of up to offload::chunk_bytes (a
// "chunk", a qp::BatchWriter record), so that one ring record carries many wire records, exactly
// like an MPI buffer. A chunk becomes visible to the engine when it is full or on publish(). The
// comm runs handlers from the inbound ring. Waits (full outbound ring) check the engine's liveness
// (the segment's attacher side: its process and heartbeat) and throw a one-line
// buddy::msg::error if it stopped.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/msg/transport/options.hpp"
#include "buddy/msg/transport/stats.hpp"
#include "buddy/msg/transport/wire.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/batch_writer.hpp"
#include "buddy/qp/record_ring.hpp"

namespace buddy::msg {

// How an offload rank waits for its engine (full outbound ring, barrier, reductions).
extern const qp::BackoffConfig offload_wait_backoff;

// The app ranks' communicator: MPI_COMM_WORLD in inline mode; in offload mode the app ranks of
// the job (collective over MPI_COMM_WORLD on first use: creates this rank's segment and joins
// the engines). Use it instead of MPI_COMM_WORLD for the application's own MPI calls.
MPI_Comm app_world(const options& opts);

class offload_port {
 public:
  // Claims a free channel of this rank's segment (creating it and joining the job on first
  // use) and waits until its engine has attached. Throws buddy::msg::error on failure.
  explicit offload_port(const options& opts);
  ~offload_port();
  offload_port(const offload_port&) = delete;
  offload_port& operator=(const offload_port&) = delete;

  std::uint32_t channel() const { return channel_; }
  // Largest payload a record may carry (half the ring, minus the headers).
  std::uint64_t max_payload() const { return max_payload_; }

  // Space for one record of `length` payload bytes to `dest`; the header is written, the
  // payload goes at the returned pointer. Waits (running the drain hook) while the ring is full.
  std::byte* reserve(std::uint32_t dest, std::uint32_t length) {
    if (length > max_payload_) [[unlikely]] {
      too_large(length);
    }
    std::byte* p = out_.try_append(wire::header_bytes + length);
    if (p == nullptr) [[unlikely]] {
      return reserve_slow(dest, length);
    }
    tail_ = p;
    wire::write_header(p, dest, length);
    return p + wire::header_bytes;
  }
  // Grows the last frame of the open chunk by `extra` payload bytes and returns where they go,
  // if it is for dest, its payload starts with prefix and the chunk has room; else nullptr
  // (reserve() a new frame). Never waits.
  template <std::size_t N>
  std::byte* extend(std::uint32_t dest, std::uint32_t extra, const std::byte (&prefix)[N]) {
    if (tail_ == nullptr || !wire::frame_takes(tail_, dest, extra, prefix)) {
      return nullptr;
    }
    std::byte* p = out_.try_append(extra);
    if (p == nullptr) return nullptr;
    wire::grow_frame(tail_, extra);
    return p;
  }
  // Makes the records written so far visible to the engine; true if there were any.
  bool publish();

  qp::RecordConsumer& inbound() { return in_; }

  // Throws if the engine stopped (no heartbeat for the timeout, or its process is gone).
  void check_engine();

  using drain_hook = bool (*)(void* ctx);
  void set_drain_hook(drain_hook hook, void* ctx) {
    drain_ = hook;
    drain_ctx_ = ctx;
  }
  stats& counters() { return stats_; }
  const stats& counters() const { return stats_; }

 private:
  std::byte* reserve_slow(std::uint32_t dest, std::uint32_t length);
  bool close_chunk();  // commits the open chunk (if it holds anything); true if it did
  [[noreturn]] void too_large(std::uint64_t length) const;

  qp::BatchWriter out_;        // the outbound ring, written in chunks
  std::byte* tail_ = nullptr;  // the open chunk's last frame (it ends where the chunk does)
  qp::RecordConsumer in_;
  const qp::Segment* seg_ = nullptr;  // this rank's; the engine holds its attacher side
  std::int64_t engine_pid_ = 0;       // as the engine's claim named it
  std::uint32_t channel_ = 0;
  std::uint64_t max_payload_ = 0;
  std::uint64_t timeout_ns_ = 0;
  std::uint64_t next_pid_check_ns_ = 0;
  int rank_ = 0;
  drain_hook drain_ = nullptr;
  void* drain_ctx_ = nullptr;
  stats stats_;
};

}  // namespace buddy::msg
