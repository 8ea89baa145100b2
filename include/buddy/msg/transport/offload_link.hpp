// What app ranks and buddy-engine processes share in offload mode, without handler tables (so
// the engine links it): the MPMD job they form together, the segment of each app rank and the
// control block inside it.
//
// Job: buddy-run starts app ranks and engines in one MPI_COMM_WORLD (mpirun ... : ...). Every
// process calls join() once; it splits the world into the app ranks and the engines (each gets
// its own communicator, so app ranks only ever see app ranks) and agrees on who serves whom.
// App rank r of node n is served by engine (local index of r mod engines on n) of node n.
//
// Segment of app rank r ("<prefix>.r<r>", created by the rank): `channels` queue pairs, one per
// comm alive at once; request ring = outbound records (rank -> engine), response ring = inbound
// records (engine -> rank). Each ring record's payload is a chunk of wire records (wire.hpp):
// dest, length, payload, back to back, exactly as an MPI buffer would carry them. The engine
// claims the segment's attacher side (qp liveness: its pid, start time and heartbeat) and beats
// it; the rank, the creator, watches it.
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "buddy/msg/transport/options.hpp"
#include "buddy/qp/segment.hpp"

namespace buddy::msg::offload {

inline constexpr std::uint32_t channels = 2;  // comms of one process alive at the same time
// Ring records ("chunks") of the offload rings carry wire records back to back, up to this many
// payload bytes each (a larger wire record gets a chunk of its own): written with a
// qp::BatchWriter of this record cap.
inline constexpr std::size_t chunk_bytes = 4096;

// In the segment's 64-byte user header.
struct control {
  std::atomic<std::uint32_t> app_done;  // 1: the rank entered MPI_Finalize
  std::atomic<std::uint32_t> engine_index;
};
static_assert(sizeof(control) <= 64);

control& control_of(qp::Segment& s);
qp::SegmentLayout segment_layout(std::size_t ring_kb);

struct job {
  bool is_engine = false;
  MPI_Comm group = MPI_COMM_NULL;  // the app ranks, or the engines
  int group_rank = 0;
  int app_count = 0;
  int engine_count = 0;
  std::vector<int> app_node;     // app rank -> node (dense, 0..)
  std::vector<int> engine_node;  // engine -> node
  std::vector<int> engine_of;    // app rank -> engine serving it
  std::vector<long> app_pid;     // app rank -> pid
  std::vector<int> engine_pid;   // engine -> pid
  std::string prefix;            // segment names: prefix + ".r" + app rank

  std::string segment_name(int app_rank) const;
};

// Collective over MPI_COMM_WORLD the first time (every process of the job must call it, app
// ranks with engine = false); later calls return the same job. Throws buddy::msg::error with
// one line (the same on every process) if the job cannot work: no engine, a node without one,
// disagreeing settings.
const job& join(bool engine, const options& opts);
// The job if join() has run in this process, else nullptr.
const job* joined();

}  // namespace buddy::msg::offload
