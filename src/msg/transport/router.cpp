#include "buddy/msg/transport/router.hpp"

#include <algorithm>
#include <climits>
#include <string>

#include "buddy/msg/transport/error.hpp"
#include "buddy/qp/backoff.hpp"

namespace buddy::msg {

namespace {
constexpr std::size_t min_hop_bytes = 512;  // room for a few small records at any budget
}  // namespace

// Waits for peers are short (a peer's next poll): spin, then yield for a long time (on an idle
// core sched_yield returns at once; oversubscribed it hands the core over), sleep only late.
const qp::BackoffConfig wait_backoff{
    .spins = 64, .yields = 2000, .min_sleep_us = 1, .max_sleep_us = 100};

router::router(MPI_Comm comm, const layout& lay, routing route, std::size_t budget_bytes)
    : pool_(0) {
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  if (lay.size() != size_ || lay.rank() != rank_) {
    throw error("buddy::msg router: layout does not match the communicator");
  }
  const std::vector<int> hops = lay.next_hops(route);
  init(lay.route_table(route), hops, std::max(budget_bytes / hops.size(), min_hop_bytes),
       budget_bytes);
}

router::router(MPI_Comm comm, std::vector<int> next_hop, const std::vector<int>& hops,
               std::size_t hop_bytes, std::size_t max_sends)
    : max_sends_(max_sends), pool_(0) {
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  for (int h : next_hop) {
    if (h < 0 || h >= size_) throw error("buddy::msg router: next hop outside the communicator");
  }
  hop_bytes = std::max(hop_bytes, min_hop_bytes);
  init(std::move(next_hop), hops, hop_bytes, hop_bytes * std::max<std::size_t>(hops.size(), 1));
}

void router::init(std::vector<int> next_hop, const std::vector<int>& hops, std::size_t hop_bytes,
                  std::size_t budget_bytes) {
  next_hop_ = std::move(next_hop);
  hop_bytes_ = std::min<std::size_t>(hop_bytes, INT_MAX / 2);
  // Receives must hold the largest hop buffer of any rank.
  unsigned long long mine = hop_bytes_, largest = 0;
  MPI_Allreduce(&mine, &largest, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm_);
  pool_ = buffer_pool(static_cast<std::size_t>(largest));
  inflight_limit_ = std::max(2 * budget_bytes, 4 * pool_.capacity());

  out_.resize(static_cast<std::size_t>(size_));
  tail_.assign(static_cast<std::size_t>(size_), no_tail);
  runs_.assign(static_cast<std::size_t>(size_), open_run{});
  for (int h : hops) out_[static_cast<std::size_t>(h)] = pool_.get();

  const std::size_t slots = std::clamp<std::size_t>(hops.size(), 2, 8);
  recv_reqs_.assign(slots, MPI_REQUEST_NULL);
  recv_bufs_.resize(slots);
  done_idx_.resize(std::max<std::size_t>(slots, 64));
  done_status_.resize(std::max<std::size_t>(slots, 64));
  for (std::size_t i = 0; i < slots; ++i) post_receive(i);
}

router::~router() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (MPI_Request& r : recv_reqs_) {
    if (r != MPI_REQUEST_NULL) {
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
  }
  // After a barrier every send has been received; otherwise (unwinding after an error) do not
  // wait for peers that may never receive.
  for (MPI_Request& r : send_reqs_) {
    int done = 0;
    MPI_Test(&r, &done, MPI_STATUS_IGNORE);
    if (!done) MPI_Request_free(&r);
  }
  MPI_Comm_free(&comm_);
}

void router::post_receive(std::size_t slot) {
  recv_bufs_[slot] = pool_.get();
  MPI_Irecv(recv_bufs_[slot].data.get(), static_cast<int>(pool_.capacity()), MPI_BYTE,
            MPI_ANY_SOURCE, tag_data, comm_, &recv_reqs_[slot]);
}

std::byte* router::reserve_slow(int dest, std::uint32_t length) {
  const int hop = next_hop_[static_cast<std::size_t>(dest)];
  const std::size_t need = wire::header_bytes + length;
  // Flushing may run handlers (backpressure) that fill this hop's buffer again (and open a run
  // there): re-check.
  for (;;) {
    close_run(static_cast<std::size_t>(hop));
    const buffer& b = out_[static_cast<std::size_t>(hop)];
    if (b.empty() || b.size + need <= hop_bytes_) break;
    flush(hop);
  }
  buffer& b = out_[static_cast<std::size_t>(hop)];
  if (need > hop_bytes_) {
    // A record larger than a buffer travels alone, in a buffer of its exact size; it is sent
    // at the next flush of this hop.
    pool_.put(std::move(b));
    b = buffer_pool::make(need);
  }
  std::byte* p = b.data.get() + b.size;
  tail_[static_cast<std::size_t>(hop)] = b.size;
  b.size += need;
  wire::write_header(p, static_cast<std::uint32_t>(dest), length);
  return p + wire::header_bytes;
}

void router::flush(int hop) {
  close_run(static_cast<std::size_t>(hop));
  buffer& slot = out_[static_cast<std::size_t>(hop)];
  if (slot.empty()) return;
  buffer b = std::move(slot);
  slot = pool_.get();
  tail_[static_cast<std::size_t>(hop)] = no_tail;
  send(hop, std::move(b));
  // Serve what has arrived (and this rank's own buffer) while busy sending: it keeps peers'
  // sends completing and the inbox from growing.
  poll();
  if (drain_ != nullptr && !inbox_.empty()) drain_(drain_ctx_);
}

bool router::flush_all() {
  bool any = false;
  for (int h = 0; h < size_; ++h) {
    if (!out_[static_cast<std::size_t>(h)].empty()) {
      flush(h);
      any = true;
    }
  }
  return any;
}

void router::send(int hop, buffer&& b) {
  if (hop == rank_) {
    ++stats_.buffers_local;
    inbox_.push_back(std::move(b));
    return;
  }
  if (b.size > static_cast<std::size_t>(INT_MAX)) {
    throw error("buddy::msg: a record of " + std::to_string(b.size) +
                " bytes exceeds MPI's 2^31-1 byte message size");
  }
  const bool large = b.size > pool_.capacity();
  const double t0 = now_s();
  MPI_Request req;
  MPI_Isend(b.data.get(), static_cast<int>(b.size), MPI_BYTE, hop, large ? tag_large : tag_data,
            comm_, &req);
  stats_.comm_s += now_s() - t0;
  ++stats_.buffers_flushed;
  stats_.bytes_flushed += b.size;
  if (large) ++stats_.large_sends;
  inflight_bytes_ += b.size;
  send_reqs_.push_back(req);
  send_bufs_.push_back(std::move(b));
  if (over_limit()) wait_for_room();
}

void router::wait_for_room() {
  ++stats_.backpressure_waits;
  qp::Backoff backoff(wait_backoff);
  while (over_limit()) {
    bool progressed = poll();
    if (drain_ != nullptr && !inbox_.empty()) progressed = drain_(drain_ctx_) || progressed;
    if (progressed) {
      backoff.reset();
    } else {
      const double t0 = now_s();
      backoff.pause();
      stats_.comm_s += now_s() - t0;
    }
  }
}

bool router::poll() {
  const double t0 = now_s();
  const bool sent = poll_sends();
  const bool received = poll_receives();
  stats_.comm_s += now_s() - t0;
  return sent || received;
}

bool router::poll_sends() {
  if (send_reqs_.empty()) return false;
  if (done_idx_.size() < send_reqs_.size()) {
    done_idx_.resize(send_reqs_.size());
    done_status_.resize(send_reqs_.size());
  }
  int n = 0;
  MPI_Testsome(static_cast<int>(send_reqs_.size()), send_reqs_.data(), &n, done_idx_.data(),
               MPI_STATUSES_IGNORE);
  if (n <= 0 || n == MPI_UNDEFINED) return false;
  // Completed requests are now MPI_REQUEST_NULL: recycle their buffers and compact.
  std::size_t keep = 0;
  for (std::size_t i = 0; i < send_reqs_.size(); ++i) {
    if (send_reqs_[i] == MPI_REQUEST_NULL) {
      inflight_bytes_ -= send_bufs_[i].size;
      pool_.put(std::move(send_bufs_[i]));
    } else {
      if (keep != i) {
        send_reqs_[keep] = send_reqs_[i];
        send_bufs_[keep] = std::move(send_bufs_[i]);
      }
      ++keep;
    }
  }
  send_reqs_.resize(keep);
  send_bufs_.resize(keep);
  return true;
}

bool router::poll_receives() {
  bool any = false;
  int n = 0;
  MPI_Testsome(static_cast<int>(recv_reqs_.size()), recv_reqs_.data(), &n, done_idx_.data(),
               done_status_.data());
  if (n != MPI_UNDEFINED && n > 0) {
    any = true;
    for (int k = 0; k < n; ++k) {
      const auto slot = static_cast<std::size_t>(done_idx_[static_cast<std::size_t>(k)]);
      int count = 0;
      MPI_Get_count(&done_status_[static_cast<std::size_t>(k)], MPI_BYTE, &count);
      buffer b = std::move(recv_bufs_[slot]);
      b.size = static_cast<std::size_t>(count);
      ++stats_.buffers_received;
      inbox_.push_back(std::move(b));
      post_receive(slot);
    }
  }
  // Single records larger than a receive buffer.
  for (;;) {
    int flag = 0;
    MPI_Message m;
    MPI_Status st;
    MPI_Improbe(MPI_ANY_SOURCE, tag_large, comm_, &flag, &m, &st);
    if (!flag) break;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    buffer b = buffer_pool::make(static_cast<std::size_t>(count));
    MPI_Mrecv(b.data.get(), count, MPI_BYTE, &m, MPI_STATUS_IGNORE);
    b.size = static_cast<std::size_t>(count);
    ++stats_.buffers_received;
    inbox_.push_back(std::move(b));
    any = true;
  }
  return any;
}

bool router::pop_inbox(buffer& out) {
  if (inbox_.empty()) return false;
  out = std::move(inbox_.front());
  inbox_.pop_front();
  return true;
}

bool router::quiet() const {
  if (!send_reqs_.empty() || !inbox_.empty()) return false;
  return std::all_of(out_.begin(), out_.end(), [](const buffer& b) { return b.empty(); });
}

}  // namespace buddy::msg
