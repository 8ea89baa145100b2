#include "buddy/msg/comm.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "buddy/base/clock.hpp"
#include "buddy/base/reentry_guard.hpp"
#include "buddy/msg/detail/termination.hpp"
#include "buddy/qp/backoff.hpp"

namespace buddy::msg {

namespace {

// Node ids from the machine: the lowest rank sharing memory with each rank.
std::vector<int> real_nodes(MPI_Comm c, int rank, int size) {
  MPI_Comm shared;
  MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &shared);
  int lowest = rank;
  MPI_Allreduce(&rank, &lowest, 1, MPI_INT, MPI_MIN, shared);
  MPI_Comm_free(&shared);
  std::vector<int> node_of(static_cast<std::size_t>(size));
  MPI_Allgather(&lowest, 1, MPI_INT, node_of.data(), 1, MPI_INT, c);
  return node_of;
}

}  // namespace

comm::comm(int* argc, char*** argv, const options& opts) : opts_(opts) {
  opts_.validate();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    MPI_Init(argc, argv);
    owns_mpi_ = true;
  }
  init(MPI_COMM_WORLD);
}

comm::comm(MPI_Comm c, const options& opts) : opts_(opts) {
  opts_.validate();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) throw error("buddy::msg::comm(MPI_Comm): MPI is not initialised");
  init(c);
}

void comm::init(MPI_Comm c) {
  const bool offload = opts_.mode == run_mode::offload;
  if (offload) {
    // The engines share MPI_COMM_WORLD with the app ranks: work on the app ranks only.
    MPI_Comm apps = app_world(opts_);
    int same = MPI_UNEQUAL;
    if (c != MPI_COMM_WORLD) MPI_Comm_compare(c, apps, &same);
    if (c != MPI_COMM_WORLD && same != MPI_IDENT && same != MPI_CONGRUENT) {
      throw error("buddy::msg: offload mode needs a comm on all app ranks (MPI_COMM_WORLD)");
    }
    c = apps;
  }
  MPI_Comm_dup(c, &coll_);
  MPI_Comm_dup(c, &user_comm_);
  MPI_Comm_rank(coll_, &rank_);
  MPI_Comm_size(coll_, &size_);
  if (offload) {
    layout_ = msg::layout(rank_, offload::joined()->app_node);
  } else if (opts_.ranks_per_node > 0) {
    layout_ = msg::layout::consecutive(rank_, size_, opts_.ranks_per_node);
  } else {
    layout_ = msg::layout(rank_, real_nodes(coll_, rank_, size_));
  }

  auto& reg = detail::handler_registry::instance();
  reg.finalize();
  invokers_ = reg.invokers();
  handler_count_ = static_cast<std::uint32_t>(reg.size());

  // Every rank must run the same program with the same configuration.
  const std::array<unsigned long long, 6> mine = {
      reg.table_hash(),
      static_cast<unsigned long long>(opts_.route),
      static_cast<unsigned long long>(opts_.ranks_per_node),
      handler_count_,
      static_cast<unsigned long long>(opts_.mode),
      offload ? static_cast<unsigned long long>(opts_.ring_kb) : 0ull};
  std::array<unsigned long long, 6> lo{}, hi{};
  MPI_Allreduce(mine.data(), lo.data(), 6, MPI_UNSIGNED_LONG_LONG, MPI_MIN, coll_);
  MPI_Allreduce(mine.data(), hi.data(), 6, MPI_UNSIGNED_LONG_LONG, MPI_MAX, coll_);
  if (lo[0] != hi[0] || lo[3] != hi[3]) {
    throw error("buddy::msg: ranks have different handler tables (different binaries?)");
  }
  if (lo[1] != hi[1] || lo[2] != hi[2] || lo[4] != hi[4] || lo[5] != hi[5]) {
    throw error(
        "buddy::msg: ranks disagree on routing, ranks-per-node, mode or ring size (check BUDDY_* "
        "env)");
  }

  if (offload) {
    port_ = std::make_unique<offload_port>(opts_);
    port_->set_drain_hook(&comm::drain, this);
  } else {
    router_ = std::make_unique<router>(coll_, layout_, opts_.route, opts_.buffer_kb * 1024);
    router_->set_drain_hook(&comm::drain, this);
  }
}

comm::~comm() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // Unwinding after an error: the other ranks may never reach a barrier or MPI_Finalize, so
  // neither happens here; the caller reports the error and aborts the job.
  const bool unwinding = std::uncaught_exceptions() > 0;
  if (!finalized) {
    if (!unwinding) {
      try {
        barrier();
      } catch (const std::exception& e) {
        // A destructor must not throw, and returning would leave the other ranks waiting in
        // this barrier forever: report the error on one line and end the whole job.
        std::string line = "buddy::msg: rank ";
        line += std::to_string(rank_);
        line += ": ";
        const std::string what = e.what();
        const std::string prefix = "buddy::msg: ";
        line += what.compare(0, prefix.size(), prefix) == 0 ? what.substr(prefix.size()) : what;
        abort_job(line);
      } catch (...) {
        std::string line = "buddy::msg: rank ";
        line += std::to_string(rank_);
        line += ": unknown exception in the final barrier of ~comm";
        abort_job(line);
      }
    }
    router_.reset();
    port_.reset();
    MPI_Comm_free(&coll_);
    MPI_Comm_free(&user_comm_);
  }
  if (owns_mpi_ && !finalized && !unwinding) MPI_Finalize();
}

void abort_job(const std::string& line) noexcept {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

void comm::bad_dest(int dest) const {
  throw error("buddy::msg::async: destination rank " + std::to_string(dest) + " is outside [0, " +
              std::to_string(size_) + ")");
}

void comm::unregistered(bool registered) {
  throw error(std::string("buddy::msg::async: handler ") +
              (registered ? "registered after the comm was created (loaded late?)"
                          : "was never registered") +
              "; create the comm after all code is loaded");
}

void comm::too_large(std::size_t len) {
  std::string m = "buddy::msg::async: a message of ";
  m += std::to_string(len);
  m += " bytes exceeds the record limit of ";
  m += std::to_string(wire::max_payload);
  m += " bytes (with its frame header, one MPI message of at most 2^31-1 bytes)";
  throw error(m);
}

std::byte* comm::new_frame(int dest, const std::byte* prefix, std::size_t prefix_len,
                           std::size_t rec_len) {
  const std::size_t len = prefix_len + rec_len;
  if (len > wire::max_payload) [[unlikely]] {  // header + len must fit one MPI message
    too_large(len);
  }
  std::byte* p =
      port_ ? port_->reserve(static_cast<std::uint32_t>(dest), static_cast<std::uint32_t>(len))
            : router_->reserve(dest, static_cast<std::uint32_t>(len));
  std::memcpy(p, prefix, prefix_len);
  return p + prefix_len;
}

namespace {
[[noreturn, gnu::noinline, gnu::cold]] void no_handler_id(std::uint32_t length) {
  throw error("corrupt message: a record of " + std::to_string(length) +
              " bytes has no handler id");
}
[[noreturn, gnu::noinline, gnu::cold]] void bad_handler_id(std::uint32_t id, std::uint32_t n) {
  throw error("corrupt message: handler id " + std::to_string(id) + " but only " +
              std::to_string(n) + " handlers exist");
}
}  // namespace

void comm::execute(const wire::record& r) {
  if (r.length < wire::handler_id_bytes) [[unlikely]] {
    no_handler_id(r.length);
  }
  std::uint32_t id;
  std::memcpy(&id, r.payload, wire::handler_id_bytes);
  if (id >= handler_count_) [[unlikely]] {
    bad_handler_id(id, handler_count_);
  }
  // local_ptr resolves through the comm running the handler (restored even if it throws).
  // The depth, the local table and the counters are restored / updated even if the handler
  // throws: the exception reaches the caller of async/progress/barrier, and the comm stays
  // usable (a thrown message counts as executed, so later barriers still terminate).
  // A frame whose decoding fails before any message ran counts as one executed message.
  struct handler_scope {
    comm& c;
    std::uint32_t length;
    std::uint64_t ran = 0;
    const std::vector<detail::local_entry>* saved = detail::current_locals;
    ~handler_scope() {
      detail::current_locals = saved;
      --c.depth_;
      c.executed_ += ran == 0 ? 1 : ran;
      c.bytes_executed_ += wire::header_bytes + length;
    }
  } scope{*this, r.length};
  detail::current_locals = &locals_;
  ++depth_;
  invokers_[id](this, r.payload + wire::handler_id_bytes, r.length - wire::handler_id_bytes,
                scope.ran);
}

bool comm::process_inbox() {
  if (port_) return process_inbound();
  const base::reentry_guard guard(in_inbox_);
  if (!guard.entered()) return false;
  bool any = false;
  buffer b;
  const auto me = static_cast<std::uint32_t>(rank_);
  while (router_->pop_inbox(b)) {
    any = true;
    const double t0 = now_s(), cpu0 = thread_cpu_s();
    const double comm0 = router_->counters().comm_s;
    wire::for_each_record(b.data.get(), b.size, static_cast<std::uint32_t>(size_),
                          [&](const wire::record& r) {
                            if (r.dest == me) {
                              run_record(r);
                            } else {
                              router_->forward(r);
                            }
                          });
    router_->recycle(std::move(b));
    charge_handlers(t0, cpu0, router_->counters().comm_s - comm0);
  }
  if (collective_ == 0) rethrow_handler_error();
  return any;
}

bool comm::process_inbound() {
  const base::reentry_guard guard(in_inbox_);
  if (!guard.entered()) return false;
  qp::RecordConsumer& in = port_->inbound();
  // A record counts as consumed even if its handler throws (it was executed).
  struct consume_guard {
    qp::RecordConsumer& in;
    bool armed = true;
    ~consume_guard() {
      if (armed) {
        in.pop();
        in.publish();
      }
    }
  };
  if (!in.front()) return false;  // nothing arrived: no clock read
  const auto me = static_cast<std::uint32_t>(rank_);
  const double t0 = now_s(), cpu0 = thread_cpu_s();
  const double comm0 = port_->counters().comm_s;
  std::size_t n = 0;
  for (; n < 65536; ++n) {
    const auto rec = in.front();
    if (!rec) break;
    consume_guard g{in};
    wire::for_each_record(rec->data(), rec->size(), static_cast<std::uint32_t>(size_),
                          [&](const wire::record& r) {
                            if (r.dest != me) [[unlikely]] {
                              throw error("corrupt message: rank " + std::to_string(rank_) +
                                          " received a record for rank " + std::to_string(r.dest) +
                                          " from its engine");
                            }
                            run_record(r);
                          });
    g.armed = false;
    in.pop();
  }
  if (n == 0) return false;
  in.publish();
  ++port_->counters().buffers_received;
  charge_handlers(t0, cpu0, port_->counters().comm_s - comm0);
  if (collective_ == 0) rethrow_handler_error();
  return true;
}

double comm::thread_cpu_s() {
  return static_cast<double>(base::thread_cpu_ns()) * 1e-9;
}

// handler_s: the inbox loop's wall time less the communication inside it (comm_s: a handler's
// sends that flush, poll or wait for room), but never more than the CPU this thread got in the
// loop: a rank descheduled inside a handler, on a loaded machine, would otherwise charge its
// wait there and push the apps' "CPU - handler - compute" to zero.
void comm::charge_handlers(double t0, double cpu0, double comm_inside) {
  const double wall = (now_s() - t0) - comm_inside;
  const double cpu = thread_cpu_s() - cpu0;
  const double spent = wall < cpu ? wall : cpu;
  if (spent > 0) handler_s_ += spent;
}

void comm::run_record(const wire::record& r) {
  try {
    execute(r);
  } catch (...) {
    if (!handler_error_) handler_error_ = std::current_exception();
  }
}

void comm::keep_handler_error() {
  if (!handler_error_) handler_error_ = std::current_exception();
}

void comm::rethrow_handler_error() {
  if (handler_error_) {
    std::exception_ptr e = std::move(handler_error_);
    handler_error_ = nullptr;
    std::rethrow_exception(e);
  }
}

bool comm::flush_sends() {
  return port_ ? port_->publish() : router_->flush_all();
}

bool comm::poll_network() {
  if (!port_) return router_->poll();
  return false;
}

bool comm::drain(void* self) {
  auto* c = static_cast<comm*>(self);
  // Inside a handler, only receive (the router already did): running handlers here would nest
  // without bound.
  if (c->depth_ > 0 || c->hold_ > 0) return false;
  return c->process_inbox();
}

bool comm::progress() {
  if (depth_ > 0 || in_inbox_ || hold_ > 0) return false;
  bool any = poll_network();
  any = process_inbox() || any;
  if (any) {
    idle_calls_ = 0;
    return true;
  }
  // Idle: nothing arrived and nothing ran. After a few such calls in a row, send what is
  // buffered, so a rank waiting for a reply (while (!got) progress();) is never stuck behind
  // its own half-full buffers or its peers'.
  if (++idle_calls_ >= idle_flush_calls) {
    idle_calls_ = 0;
    if (flush_sends()) return true;
    if (port_) port_->check_engine();
  }
  // Offload: what this rank waits for needs the engine's turn on the cpu (cheap on an idle core).
  if (port_) std::this_thread::yield();
  return false;
}

// barrier() and the reductions run to their end even when a handler fails on the way (leaving
// early would leave this rank's share of the collective missing, and the ranks out of step);
// the first handler error is rethrown when they return.
struct comm_collective_scope {
  int& depth;
  explicit comm_collective_scope(int& d) : depth(d) { ++depth; }
  ~comm_collective_scope() { --depth; }
};

void comm::check_collective(const char* what) const {
  if (depth_ > 0 || in_inbox_) {
    throw error(std::string("buddy::msg: ") + what + " called from inside a handler");
  }
  if (hold_ > 0) {
    throw error(std::string("buddy::msg: ") + what +
                " called inside a handler_hold (a container's for_all callback?)");
  }
}

std::uint64_t comm::add_pre_barrier(std::function<void()> fn) {
  pre_barrier_.emplace_back(next_hook_, std::move(fn));
  return next_hook_++;
}

void comm::remove_pre_barrier(std::uint64_t id) {
  for (auto it = pre_barrier_.begin(); it != pre_barrier_.end(); ++it) {
    if (it->first == id) {
      pre_barrier_.erase(it);
      return;
    }
  }
}

void comm::run_pre_barrier() {
  // By index: a hook may (indirectly) add or remove hooks.
  for (std::size_t i = 0; i < pre_barrier_.size(); ++i) pre_barrier_[i].second();
}

void comm::barrier() {
  check_collective("barrier()");
  {
    comm_collective_scope scope(collective_);
    barrier_rounds();
  }
  rethrow_handler_error();
}

void comm::barrier_rounds() {
  ++barriers_;
  termination_rounds rounds;
  std::array<unsigned long long, 2> snap{}, sum{};
  MPI_Request req = MPI_REQUEST_NULL;
  qp::Backoff backoff(port_ ? offload_wait_backoff : wait_backoff);
  stats& counters = port_ ? port_->counters() : router_->counters();
  for (;;) {
    flush_sends();
    bool worked = poll_network();
    worked = process_inbox() || worked;
    if (req == MPI_REQUEST_NULL) {
      run_pre_barrier();  // libraries send what they hold back (before the counts are taken)
      flush_sends();      // what the handlers and the hooks just sent
      snap = {sent_, executed_};
      MPI_Iallreduce(snap.data(), sum.data(), 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, coll_, &req);
    } else {
      int done = 0;
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (done) {
        if (rounds.finished({sum[0], sum[1]})) break;
        worked = true;
      }
    }
    if (worked) {
      backoff.reset();
    } else {
      const double t0 = now_s();
      if (port_) port_->check_engine();
      backoff.pause();
      counters.comm_s += now_s() - t0;
    }
  }
  termination_rounds_ += rounds.rounds();
}

void comm::all_reduce_raw(void* inout, MPI_Datatype type, MPI_Op op) {
  check_collective("all_reduce");
  {
    comm_collective_scope scope(collective_);
    all_reduce_rounds(inout, type, op);
  }
  rethrow_handler_error();
}

void comm::all_reduce_rounds(void* inout, MPI_Datatype type, MPI_Op op) {
  MPI_Request req;
  MPI_Iallreduce(MPI_IN_PLACE, inout, 1, type, op, coll_, &req);
  qp::Backoff backoff(port_ ? offload_wait_backoff : wait_backoff);
  for (;;) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    flush_sends();
    if (progress()) {
      backoff.reset();
    } else {
      if (port_) port_->check_engine();
      backoff.pause();
    }
  }
}

stats comm::local_stats() const {
  stats s = port_ ? port_->counters() : router_->counters();
  s.msgs_sent = sent_;
  s.bytes_sent = bytes_sent_;
  s.msgs_executed = executed_;
  s.bytes_executed = bytes_executed_;
  s.barriers = barriers_;
  s.termination_rounds = termination_rounds_;
  s.handler_s = handler_s_;
  return s;
}

stats comm::global_stats() {
  barrier();  // first: messages sent just before the call are counted as executed too
  const stats s = local_stats();
  // Every field summed over ranks: the integers in one reduction, the doubles in another.
  std::vector<unsigned long long> u;
  std::vector<double> d;
  base::for_each_number(s, [&](const auto& v) {
    if constexpr (std::is_floating_point_v<std::remove_cvref_t<decltype(v)>>) {
      d.push_back(v);
    } else {
      u.push_back(v);
    }
  });
  MPI_Allreduce(MPI_IN_PLACE, u.data(), static_cast<int>(u.size()), MPI_UNSIGNED_LONG_LONG, MPI_SUM,
                coll_);
  MPI_Allreduce(MPI_IN_PLACE, d.data(), static_cast<int>(d.size()), MPI_DOUBLE, MPI_SUM, coll_);
  stats g;
  std::size_t ui = 0, di = 0;
  base::for_each_number(g, [&](auto& v) {
    if constexpr (std::is_floating_point_v<std::remove_cvref_t<decltype(v)>>) {
      v = d[di++];
    } else {
      v = u[ui++];
    }
  });
  return g;
}

}  // namespace buddy::msg
