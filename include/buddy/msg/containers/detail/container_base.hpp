// What every container shares: its state lives behind a local_ptr registered with the comm (so
// handlers reach the owner's copy), construction and destruction are collective, collectives
// refuse to run inside a handler, and a user's function is called with or without the comm.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "buddy/msg/comm.hpp"

namespace buddy::msg::containers::detail {

// fn(c, args...) if fn takes the comm first, else fn(args...).
template <class Fn, class... Args>
decltype(auto) invoke_user(comm& c, const Fn& fn, Args&&... args) {
  if constexpr (std::is_invocable_v<const Fn&, comm&, Args&&...>) {
    return fn(c, std::forward<Args>(args)...);
  } else {
    (void)c;
    return fn(std::forward<Args>(args)...);
  }
}

// The same rules as comm::async, with the container's name in the message.
template <class Fn>
constexpr void check_function() {
  static_assert(std::is_trivially_copyable_v<Fn>,
                "buddy::msg::containers: a function sent to another rank (async_visit, "
                "async_reduce, async_contains, ...) must be trivially copyable: a lambda "
                "capturing nothing, or only trivially copyable values by copy (local_ptr, "
                "integers); it runs on the key's owner");
}

// Derived (CRTP) gives local_for_all(fn), local_size() and a private local_clear() (with
// `friend base`); the collectives for_all, size and clear built on them live here, once.
template <class State, class Derived>
class container_base {
 public:
  container_base(const container_base&) = delete;
  container_base& operator=(const container_base&) = delete;

  comm& world() const { return c_; }

  // Collective: a barrier (every earlier operation has run), then fn over this rank's items.
  template <class Fn>
  void for_all(const Fn& fn) {
    collective("for_all");
    c_.barrier();
    self().local_for_all(fn);
  }
  // Collective: the number of items (keys) on all ranks.
  std::uint64_t size() {
    collective("size");
    c_.barrier();
    return c_.all_reduce_sum(static_cast<std::uint64_t>(self().local_size()));
  }
  // Collective: removes every item (array: every value back to the default).
  void clear() {
    collective("clear");
    c_.barrier();
    self().local_clear();
    c_.barrier();  // nobody inserts before every rank has cleared
  }
  // This rank's state, for code outside handlers (tests, the app's own reads).
  State& local_state() { return *s_; }
  const State& local_state() const { return *s_; }

 protected:
  // Collective: every rank constructs its containers in the same order.
  template <class... A>
  container_base(comm& c, const char* name, A&&... a)
      : c_(c), name_(name), s_(std::make_unique<State>(std::forward<A>(a)...)) {
    collective("constructor");
    h_ = c_.make_local(*s_);
    c_.barrier();  // every rank has registered before any message uses the handle
  }
  // Collective (a barrier, so nothing still in flight reaches the freed state), except while
  // unwinding after an error.
  ~container_base() {
    if (std::uncaught_exceptions() == 0 && !c_.in_handler()) {
      try {
        c_.barrier();
      } catch (const std::exception& e) {
        abort_job(std::string("buddy::msg::containers::") + name_ + ": rank " +
                  std::to_string(c_.rank()) + ": " + e.what());
      }
    }
    c_.forget_local(h_);
  }

  void collective(const char* what) const {
    if (c_.in_handler()) {
      throw error(std::string("buddy::msg::containers::") + name_ + "::" + what +
                  " is collective and was called from inside a handler");
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw error(std::string("buddy::msg::containers::") + name_ + "::" + what);
  }

  Derived& self() { return static_cast<Derived&>(*this); }

  comm& c_;
  const char* name_;
  std::unique_ptr<State> s_;
  local_ptr<State> h_;
};

}  // namespace buddy::msg::containers::detail
