// buddy::msg::comm: fire-and-forget active messages over MPI, inline mode (this rank buffers,
// routes and calls MPI itself). Shape of LLNL's YGM:
//
//   buddy::msg::comm world(&argc, &argv);            // MPI_Init if needed; options from env
//   std::vector<std::uint64_t> counts(n);
//   auto table = world.make_local(counts);           // same order on every rank
//   world.async(owner, [table](std::uint64_t slot) { ++(*table)[slot]; }, slot);
//   world.barrier();                                 // every message (and its offspring) ran
//
// A handler is a trivially copyable function object, called on the destination rank as
// fn(args...) or fn(comm&, args...) (the latter lets it send more messages). It must capture
// values only: a reference or pointer capture ([&], [this], [p = &x]) compiles (C++ cannot
// detect it) but carries a sender-side address to another rank. Use local_ptr instead. Arguments
// are copied by value into the message (archive.hpp lists the supported types). There is no
// ordering guarantee between messages. A handler whose arguments all have one fixed size may
// have a const member prefetch(args...) (same arguments, no comm&): it is a hint, called once
// for each message a few messages before that message runs (the messages of one frame, in
// order), so a handler that reads a random table entry can start the cache miss early
// (__builtin_prefetch). It must not change what the handler computes; if it throws, the
// exception is dropped (the message still runs). barrier(), all_reduce_*() and the destructor are
// collective and must not be called from a handler. After barrier() returns, every message sent
// before any rank entered it has run; ranks that leave first may already send new ones.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "buddy/msg/archive.hpp"
#include "buddy/msg/detail/handler_registry.hpp"
#include "buddy/msg/detail/offload_port.hpp"
#include "buddy/msg/local_ptr.hpp"
#include "buddy/msg/transport/error.hpp"
#include "buddy/msg/transport/options.hpp"
#include "buddy/msg/transport/router.hpp"
#include "buddy/msg/transport/routing.hpp"
#include "buddy/msg/transport/stats.hpp"
#include "buddy/msg/transport/wire.hpp"

namespace buddy::msg {

// Prints `line` (one line, no newline needed) to stderr and ends every rank of the job
// (MPI_Abort on MPI_COMM_WORLD; plain exit status 1 if MPI is not running).
[[noreturn]] void abort_job(const std::string& line) noexcept;

namespace detail {
template <class Fn, class... Args>
struct handler;
template <class T>
MPI_Datatype mpi_type();
}  // namespace detail

class comm {
 public:
  // Initialises MPI if nobody has (and finalises it in the destructor), on MPI_COMM_WORLD.
  comm(int* argc, char*** argv, const options& opts = options::from_env());
  // On an existing communicator (duplicated; MPI must be initialised).
  explicit comm(MPI_Comm c, const options& opts = options::from_env());
  // Collective: a final barrier, then MPI resources are released. If that barrier fails (a
  // handler throws), the error is printed on one line and the job is aborted (abort_job):
  // returning would leave the other ranks in the barrier forever.
  ~comm();
  comm(const comm&) = delete;
  comm& operator=(const comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const options& config() const { return opts_; }
  const msg::layout& topology() const { return layout_; }

  // Runs fn(args...) (or fn(*this, args...)) on rank dest, later.
  template <class Fn, class... Args>
  void async(int dest, const Fn& fn, const Args&... args);
  // Runs fn on every rank, this one included (one message per rank).
  template <class Fn, class... Args>
  void async_bcast(const Fn& fn, const Args&... args) {
    for (int r = 0; r < size_; ++r) async(r, fn, args...);
  }

  // Returns when every message sent anywhere, including by handlers, has run. Collective.
  void barrier();
  // Processes what has arrived so far (never blocks); true if anything ran or moved. Lets a
  // rank busy with its own work serve others; not needed before barrier(). When a few calls
  // in a row find nothing to do (the rank is idle), it also flushes the half-full send
  // buffers, so `while (!got) world.progress();` waiting for a reply always finishes.
  bool progress();

  // Collective reduction over all ranks. Not a barrier: the value is taken when called, so call
  // barrier() first if it depends on messages. Arriving messages are served while it waits.
  template <class T>
  T all_reduce_sum(T v) {
    all_reduce_raw(&v, detail::mpi_type<T>(), MPI_SUM);
    return v;
  }
  template <class T>
  T all_reduce_min(T v) {
    all_reduce_raw(&v, detail::mpi_type<T>(), MPI_MIN);
    return v;
  }
  template <class T>
  T all_reduce_max(T v) {
    all_reduce_raw(&v, detail::mpi_type<T>(), MPI_MAX);
    return v;
  }

  // Registers obj (which must outlive this comm) and returns its handle; every rank registers
  // its objects in the same order. Not collective: register before any rank may send a message
  // that uses the handle (right after constructing the comm, or follow with barrier()), since a
  // rank serves arriving messages inside async(), barrier() and all_reduce_*().
  template <class T>
  local_ptr<T> make_local(T& obj) {
    locals_.push_back({&obj, &typeid(T)});
    return local_ptr<T>(static_cast<std::uint32_t>(locals_.size() - 1));
  }

  // Forgets the object behind handle (its owner is going away): a message that still uses it
  // throws a one-line error instead of reaching freed memory. The handle's index is not reused.
  template <class T>
  void forget_local(local_ptr<T> handle) {
    if (handle.index() < locals_.size()) locals_[handle.index()].object = nullptr;
  }

  // Hooks for libraries built on comm (msg/containers).
  // True while a handler runs on this rank (a library refuses its collectives there).
  bool in_handler() const { return depth_ > 0; }
  // fn() runs at the start of every barrier() and again before each of its termination rounds
  // (so what a handler put in a library's cache during the barrier is sent too); it may call
  // async(). Returns an id for remove_pre_barrier(). Not from inside a handler.
  std::uint64_t add_pre_barrier(std::function<void()> fn);
  void remove_pre_barrier(std::uint64_t id);
  // While a hold lives, arriving records are still received but no handler runs (neither from
  // async() draining a full buffer nor from progress()): a library can walk its local data while
  // the walk's callback sends messages that would change that data. barrier() and the
  // reductions throw inside a hold.
  class handler_hold {
   public:
    explicit handler_hold(comm& c) : c_(c) { ++c_.hold_; }
    ~handler_hold() { --c_.hold_; }
    handler_hold(const handler_hold&) = delete;
    handler_hold& operator=(const handler_hold&) = delete;

   private:
    comm& c_;
  };

  // This rank's counters; global_stats() is collective and sums them over all ranks.
  stats local_stats() const;
  stats global_stats();

  // A private duplicate of the communicator, free for the application's own MPI calls (in
  // offload mode it holds the app ranks only, never the engines).
  MPI_Comm mpi_comm() const { return user_comm_; }

 private:
  template <class Fn, class... Args>
  friend struct detail::handler;

  template <class Fn, class... Args>
  void async_checked(int dest, const Fn& fn, const Args&... args);

  void init(MPI_Comm c);
  // A new frame for dest holding prefix and room for one record of rec_len bytes; returns where
  // the record goes (the slow path of async: a full buffer, another handler, a long record).
  [[gnu::noinline]] std::byte* new_frame(int dest, const std::byte* prefix, std::size_t prefix_len,
                                         std::size_t rec_len);
  bool process_inbox();
  bool process_inbound();  // offload: runs the records of the inbound ring
  bool flush_sends();      // inline: buffers to MPI; offload: publish the outbound ring
  bool poll_network();     // inline: MPI sends and receives; offload: engine liveness
  void execute(const wire::record& r);
  void run_record(const wire::record& r);  // execute(), keeping a handler's error for later
  void keep_handler_error();               // in a catch block: keeps the first error
  void rethrow_handler_error();
  static double thread_cpu_s();
  void charge_handlers(double t0, double cpu0, double comm_inside);
  static bool drain(void* self);
  void all_reduce_raw(void* inout, MPI_Datatype type, MPI_Op op);
  void all_reduce_rounds(void* inout, MPI_Datatype type, MPI_Op op);
  void barrier_rounds();
  void run_pre_barrier();
  void check_collective(const char* what) const;
  [[noreturn]] void bad_dest(int dest) const;
  [[noreturn]] static void unregistered(bool registered);
  [[noreturn]] static void too_large(std::size_t len);

  options opts_;
  bool owns_mpi_ = false;
  int rank_ = 0;
  int size_ = 0;
  MPI_Comm coll_ = MPI_COMM_NULL;       // termination and reductions
  MPI_Comm user_comm_ = MPI_COMM_NULL;  // handed to the application
  msg::layout layout_{0, {0}};
  std::unique_ptr<router> router_;      // inline mode
  std::unique_ptr<offload_port> port_;  // offload mode
  const detail::invoke_fn* invokers_ = nullptr;
  std::uint32_t handler_count_ = 0;
  std::vector<detail::local_entry> locals_;

  std::uint64_t sent_ = 0;
  std::uint64_t executed_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bytes_executed_ = 0;
  std::uint64_t barriers_ = 0;
  std::uint64_t termination_rounds_ = 0;
  double handler_s_ = 0;
  static constexpr int idle_flush_calls = 4;  // idle progress() calls before a flush
  int idle_calls_ = 0;
  int depth_ = 0;  // > 0 while a handler runs
  int hold_ = 0;   // > 0 while a handler_hold lives
  std::vector<std::pair<std::uint64_t, std::function<void()>>> pre_barrier_;
  std::uint64_t next_hook_ = 1;
  bool in_inbox_ = false;  // process_inbox() is on the stack
  int collective_ = 0;     // > 0 inside barrier() or a reduction: handler errors wait for its end
  std::exception_ptr handler_error_;  // the first error of a handler, not yet rethrown
};

namespace detail {

// Runs a frame's messages (wire.hpp): payload is what follows the handler id (the function
// object's bytes, then one or more records). One call per frame; the loop over its records is
// here, each decoded straight from the buffer into its arguments and run on a fresh copy of the
// function object (as if it had travelled alone). A handler's exception is kept by the comm
// (the first one) and the frame's later messages still run; `ran` counts the messages run.
template <class Fn, class... Args>
struct handler {
  static constexpr std::size_t fn_bytes = std::is_empty_v<Fn> ? 0 : sizeof(Fn);
  // Arguments of one fixed size (all raw, not all empty): records carry no length prefix.
  static constexpr std::size_t fixed_bytes =
      (archive::raw_v<Args> && ...) ? (std::size_t{0} + ... + sizeof(Args)) : 0;

  // fn.prefetch(args...) on a const copy of the function object: see the contract at the top.
  static constexpr bool has_prefetch = fixed_bytes != 0 && requires(const Fn& f, const Args&... a) {
    f.prefetch(a...);
  };
  static constexpr std::size_t prefetch_ahead = 32;

  static void decode_fixed(const std::byte* p, std::tuple<Args...>& args) {
    std::apply(
        [p](auto&... a) {
          std::size_t off = 0;
          ((std::memcpy(&a, p + off, sizeof(a)), off += sizeof(a)), ...);
        },
        args);
  }

  // A hint: an error in it (a forgotten local_ptr, say) is the record's own, reported when it runs.
  static void prefetch(const std::byte* fn_src, const std::byte* rec) noexcept {
    try {
      alignas(Fn) std::byte storage[sizeof(Fn)];
      const Fn* fn = function_at(storage, fn_src);
      std::tuple<Args...> args;
      decode_fixed(rec, args);
      std::apply([fn](const auto&... a) { fn->prefetch(a...); }, args);
    } catch (...) {
    }
  }

  // A fresh copy of the frame's function object in storage.
  static Fn* function_at(std::byte* storage, const std::byte* fn_src) {
    if constexpr (std::is_empty_v<Fn>) {
      (void)fn_src;
      return ::new (static_cast<void*>(storage)) Fn();
    } else {
      std::memcpy(storage, fn_src, sizeof(Fn));  // trivially copyable: the bytes are the object
      return std::launder(reinterpret_cast<Fn*>(storage));
    }
  }

  static void call(comm& c, const std::byte* fn_src, std::tuple<Args...>& args) {
    alignas(Fn) std::byte storage[sizeof(Fn)];
    Fn* fn = function_at(storage, fn_src);
    std::apply(
        [&](auto&... a) {
          if constexpr (std::is_invocable_v<Fn&, comm&, Args&...>) {
            (*fn)(c, a...);
          } else {
            (void)c;
            (*fn)(a...);
          }
        },
        args);
  }

  static void invoke(void* ctx, const std::byte* payload, std::size_t length, std::uint64_t& ran) {
    comm& c = *static_cast<comm*>(ctx);
    if (length < fn_bytes) [[unlikely]] {
      throw error("corrupt message: a frame of " + std::to_string(length) +
                  " bytes is too short for its function object");
    }
    const std::byte* p = payload + fn_bytes;
    const std::byte* const end = payload + length;
    if (p == end) [[unlikely]] {
      throw error("corrupt message: a frame holds no message");
    }
    if constexpr (fixed_bytes != 0) {
      if (static_cast<std::size_t>(end - p) % fixed_bytes != 0) [[unlikely]] {
        throw error("corrupt message: a frame's " + std::to_string(end - p) +
                    " bytes are not a whole number of " + std::to_string(fixed_bytes) +
                    "-byte messages");
      }
      // A handler with a prefetch member sees each record's arguments prefetch_ahead records
      // before it runs (the frame's function object), so the misses of a run overlap.
      [[maybe_unused]] const std::byte* ahead = p;
      if constexpr (has_prefetch) {
        for (std::size_t k = 0; k < prefetch_ahead && ahead != end; ++k, ahead += fixed_bytes) {
          prefetch(payload, ahead);
        }
      }
      // Every record of the frame runs (a handler's error is kept, the loop goes on): counted
      // once here, not in memory per record.
      ran += static_cast<std::size_t>(end - p) / fixed_bytes;
      for (; p != end; p += fixed_bytes) {
        if constexpr (has_prefetch) {
          if (ahead != end) {
            prefetch(payload, ahead);
            ahead += fixed_bytes;
          }
        }
        try {
          std::tuple<Args...> args;
          decode_fixed(p, args);
          call(c, payload, args);
        } catch (...) {
          c.keep_handler_error();
        }
      }
    } else {
      while (p != end) {
        std::uint32_t n = 0;
        const std::byte* body = wire::get_varint(p, end, n);
        if (body == nullptr || n > static_cast<std::size_t>(end - body)) [[unlikely]] {
          throw error("corrupt message: a record length runs past the end of its frame");
        }
        p = body + n;
        ++ran;
        try {
          archive::reader in(body, n);
          std::tuple<Args...> args;
          std::apply([&in](auto&... a) { (archive::read(in, a), ...); }, args);
          if (!in.done()) {
            throw error("corrupt message: " + std::to_string(in.remaining()) +
                        " bytes left over after the handler's arguments");
          }
          call(c, payload, args);
        } catch (...) {
          c.keep_handler_error();
        }
      }
    }
  }
};

template <class T>
MPI_Datatype mpi_type() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, int>)
    return MPI_INT;
  else if constexpr (std::is_same_v<U, unsigned>)
    return MPI_UNSIGNED;
  else if constexpr (std::is_same_v<U, long>)
    return MPI_LONG;
  else if constexpr (std::is_same_v<U, unsigned long>)
    return MPI_UNSIGNED_LONG;
  else if constexpr (std::is_same_v<U, long long>)
    return MPI_LONG_LONG;
  else if constexpr (std::is_same_v<U, unsigned long long>)
    return MPI_UNSIGNED_LONG_LONG;
  else if constexpr (std::is_same_v<U, short>)
    return MPI_SHORT;
  else if constexpr (std::is_same_v<U, unsigned short>)
    return MPI_UNSIGNED_SHORT;
  else if constexpr (std::is_same_v<U, signed char>)
    return MPI_SIGNED_CHAR;
  else if constexpr (std::is_same_v<U, unsigned char>)
    return MPI_UNSIGNED_CHAR;
  else if constexpr (std::is_same_v<U, float>)
    return MPI_FLOAT;
  else if constexpr (std::is_same_v<U, double>)
    return MPI_DOUBLE;
  else if constexpr (std::is_same_v<U, long double>)
    return MPI_LONG_DOUBLE;
  else
    static_assert(sizeof(U) == 0, "buddy::msg: all_reduce_* takes an arithmetic type");
}

}  // namespace detail

namespace detail {

template <class T>
inline constexpr bool is_char_array_v =
    std::is_array_v<T>&& std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>;

// String literals (char[N]) travel as std::string: one handler for every length, not one per N.
template <class T>
decltype(auto) decay_arg(const T& a) {
  if constexpr (is_char_array_v<T>) {
    return std::string(a, ::strnlen(a, std::extent_v<T>));
  } else {
    return (a);
  }
}

}  // namespace detail

template <class Fn, class... Args>
void comm::async(int dest, const Fn& fn, const Args&... args) {
  if constexpr ((detail::is_char_array_v<Args> || ...)) {
    async(dest, fn, detail::decay_arg(args)...);
  } else {
    constexpr bool fn_ok = std::is_trivially_copyable_v<Fn> &&
                           (!std::is_empty_v<Fn> || std::is_default_constructible_v<Fn>);
    constexpr bool args_ok = (archive::serializable_v<Args> && ...);
    constexpr bool default_ok = (std::is_default_constructible_v<Args> && ...);
    constexpr bool call_ok =
        std::is_invocable_v<Fn&, comm&, Args&...> || std::is_invocable_v<Fn&, Args&...>;
    static_assert(std::is_trivially_copyable_v<Fn>,
                  "buddy::msg::async: the handler must be a trivially copyable function object "
                  "(a lambda capturing nothing, or only trivially copyable values by copy)");
    static_assert(!std::is_empty_v<Fn> || std::is_default_constructible_v<Fn>,
                  "buddy::msg::async: an empty handler type must be default constructible");
    static_assert(args_ok,
                  "buddy::msg::async: an argument type cannot be sent; use trivially copyable "
                  "types (no pointers or views), std::string, std::vector/std::array of those, or "
                  "std::pair/std::tuple of those");
    static_assert(default_ok,
                  "buddy::msg::async: every argument type must be default constructible (the "
                  "receiver decodes into a default-constructed value): add a default constructor, "
                  "e.g. T() = default;");
    static_assert(call_ok,
                  "buddy::msg::async: fn cannot be called as fn(args...) or fn(comm&, args...) "
                  "(string literals arrive as std::string)");
    // After a failed check, stop here: instantiating the handler would only add pages of
    // errors about std::tuple below the readable message above.
    if constexpr (fn_ok && args_ok && default_ok && call_ok) {
      async_checked(dest, fn, args...);
    }
  }
}

template <class Fn, class... Args>
void comm::async_checked(int dest, const Fn& fn, const Args&... args) {
  using H = detail::handler<Fn, Args...>;
  if (static_cast<unsigned>(dest) >= static_cast<unsigned>(size_)) [[unlikely]] {
    bad_dest(dest);
  }
  const std::uint32_t id = detail::handler_id<H>::value;
  if (id == detail::unassigned_id) [[unlikely]] {
    unregistered(detail::handler_id<H>::registered);
  }
  constexpr std::size_t fn_len = H::fn_bytes;
  const std::size_t args_len = (std::size_t{0} + ... + archive::size_of(args));
  if (args_len > wire::max_payload) [[unlikely]] {
    too_large(args_len);
  }
  // A record: the arguments, after their varint length unless they have one fixed size.
  const std::size_t rec_len =
      H::fixed_bytes != 0 ? args_len
                          : wire::varint_bytes(static_cast<std::uint32_t>(args_len)) + args_len;
  // The frame's prefix: handler id and function object. Appended to the frame at the tail of
  // dest's buffer when that frame has the same prefix, else a new frame.
  std::byte prefix[wire::handler_id_bytes + fn_len];
  std::memcpy(prefix, &id, wire::handler_id_bytes);
  if constexpr (fn_len != 0) std::memcpy(prefix + wire::handler_id_bytes, &fn, fn_len);
  std::byte* p = nullptr;
  std::size_t wire_len = rec_len;
  if (rec_len <= wire::max_run_bytes) [[likely]] {
    const auto extra = static_cast<std::uint32_t>(rec_len);
    p = port_ ? port_->extend(static_cast<std::uint32_t>(dest), extra, prefix)
              : router_->extend(dest, extra, prefix);
  }
  if (p == nullptr) [[unlikely]] {
    // Out of line: the append loop above keeps its few values in registers.
    p = new_frame(dest, prefix, sizeof prefix, rec_len);
    wire_len = wire::header_bytes + sizeof prefix + rec_len;
  }
  if constexpr (H::fixed_bytes == 0) p = wire::put_varint(p, static_cast<std::uint32_t>(args_len));
  (archive::write(p, args), ...);
  ++sent_;
  bytes_sent_ += wire_len;
}

}  // namespace buddy::msg
