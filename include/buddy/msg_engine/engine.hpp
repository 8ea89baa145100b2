// buddy-engine: the offload engine of buddy::msg. It serves the app ranks assigned to it by the
// job (msg::offload::join): drains their outbound rings, delivers records for ranks it serves
// straight into their inbound rings, aggregates the others per next-hop engine in buffers of
// `buffer_kb` and exchanges them with the other engines over MPI (msg::router over the engines'
// communicator: at most `max_sends` sends in flight, routing none/nr/nlnr among engines), and
// scatters received records into inbound rings (holding back what a full ring cannot take).
// Payloads are opaque bytes: it never links handler tables. It claims the attacher side of every
// segment it serves (qp liveness: one engine per rank), renews its heartbeat there, and aborts
// the job if one of its ranks dies without finishing.
//
// Threads (`threads` > 1): the lanes (served rank x channel) are split between the threads
// (shard.hpp); the thread that called run() — the one that initialised MPI — is the only one
// that calls MPI (router, receives, the final barrier among engines, MPI_THREAD_FUNNELED is
// enough) and serves its own share of lanes; the others only drain and deliver rings, handing
// off-node records to it and records for each other's lanes through SPSC handoff queues.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "buddy/base/fields.hpp"
#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/msg/transport/options.hpp"
#include "buddy/msg/transport/router.hpp"
#include "buddy/msg_engine/detail/delivery.hpp"
#include "buddy/msg_engine/detail/handoff.hpp"
#include "buddy/msg_engine/detail/shard.hpp"
#include "buddy/qp/segment.hpp"

namespace buddy::msg_engine {

struct engine_options {
  std::size_t buffer_kb = 64;  // aggregation granularity: bytes of one buffer per next hop
  std::size_t max_sends = 8;   // pipelining: MPI sends in flight at most
  int threads = 1;             // engine threads (at most one per lane is used)
  msg::options msg;            // routing among engines, nodes, ring size, timeout
};

struct engine_stats {
  std::uint64_t records_in = 0;  // records taken from outbound rings
  std::uint64_t bytes_in = 0;
  std::uint64_t records_local = 0;   // of those, delivered ring to ring
  std::uint64_t records_remote = 0;  // of those, sent towards another engine
  std::uint64_t records_from_mpi = 0;
  std::uint64_t records_delivered = 0;
  std::uint64_t records_held = 0;  // deliveries that waited for a full inbound ring
  std::uint64_t max_held_bytes = 0;
  std::uint64_t records_handed = 0;       // passed between threads of this engine
  std::uint64_t max_waiting_batches = 0;  // handoff batches kept back by a full queue
  double cpu_s = 0;
  double wall_s = 0;
  std::vector<double> thread_cpu_s;  // per thread (thread 0 does MPI)
  msg::stats net;                    // the router's: MPI buffers, bytes, relays, waits

  // The field table (base/fields.hpp) of the JSON line, which names the router's figures its
  // own way; the line adds "threads" and "thread_cpu_s" after these.
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f(base::Field("cpu_s").fixed(4), s.cpu_s...);
    f(base::Field("wall_s").fixed(4), s.wall_s...);
    f("records_in", s.records_in...);
    f("bytes_in", s.bytes_in...);
    f("records_local", s.records_local...);
    f("records_remote", s.records_remote...);
    f("records_from_mpi", s.records_from_mpi...);
    f("records_delivered", s.records_delivered...);
    f("records_held", s.records_held...);
    f("max_held_bytes", s.max_held_bytes...);
    f("mpi_buffers_sent", s.net.buffers_flushed...);
    f("mpi_bytes_sent", s.net.bytes_flushed...);
    f("mpi_buffers_received", s.net.buffers_received...);
    f("records_relayed", s.net.msgs_relayed...);
    f("send_waits", s.net.backpressure_waits...);
    f("records_handed", s.records_handed...);
    f("max_waiting_batches", s.max_waiting_batches...);
  }

  // One JSON object on one line: {"engine","node","ranks", the fields, "threads",
  // "thread_cpu_s":[..]}.
  std::string json(int engine, int node, int ranks) const;
};

class engine {
 public:
  // Attaches to the segments of its ranks (waiting for them) and sets up MPI among engines.
  engine(const msg::offload::job& job, const engine_options& opts);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Serves until every app rank of the job has finished; throws on corrupt input.
  void run();
  engine_stats stats() const;
  int ranks_served() const { return static_cast<int>(served_.size()); }
  int threads() const { return static_cast<int>(shards_.size()); }

 private:
  struct served {
    served(int r, qp::Segment s) : rank(r), seg(std::move(s)) {}
    int rank = 0;
    qp::Segment seg;
    qp::AttachClaim claim;  // the segment's attacher side, beaten by beat(); before seg dies
    msg::offload::control* ctl = nullptr;
    std::array<qp::RecordConsumer, msg::offload::channels> out;
    std::array<detail::delivery, msg::offload::channels> in;
  };

  static bool drain(void* self);
  static void to_router(void* self, std::uint32_t dest, std::uint32_t length,
                        const std::byte* payload);
  bool process_inbox();
  void beat(bool force);
  void check_ranks();
  void check_workers();
  bool all_done() const;
  void worker(std::size_t index);
  void stop_workers();

  const msg::offload::job& job_;
  engine_options opts_;
  std::vector<std::unique_ptr<served>> served_;
  detail::lane_map map_;
  std::vector<std::unique_ptr<detail::shard>> shards_;      // shards_[0] runs on the MPI thread
  std::vector<std::unique_ptr<detail::handoff>> handoffs_;  // [from * threads + to]
  std::vector<std::thread> workers_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> thread_beat_;  // per thread, by the thread
  std::atomic<bool> stop_{false};
  std::atomic<bool> worker_failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr worker_error_;
  std::unique_ptr<msg::router> router_;
  std::uint64_t last_beat_ns_ = 0;
  std::uint64_t next_check_ns_ = 0;
  bool in_inbox_ = false;
  engine_stats stats_;
};

}  // namespace buddy::msg_engine
