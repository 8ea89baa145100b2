// A handle to an object that lives on every rank (a rank's slice of a distributed table, say),
// small and trivially copyable so it can be captured by a handler or sent as an argument.
// comm::make_local(obj) registers obj; ranks must register their objects in the same order, so
// the same handle names "the same" object everywhere. On the rank that runs a handler,
// p->... or *p reaches that rank's own object, registered with the comm that delivered the
// message (handles are per comm: with two comms, index 0 of each names different objects).
// Only inside a handler: elsewhere use the object itself.
#pragma once

#include <cstdint>
#include <string>
#include <typeinfo>
#include <vector>

#include "buddy/msg/transport/error.hpp"

namespace buddy::msg {

class comm;

namespace detail {

struct local_entry {
  void* object;
  const std::type_info* type;
};
// The table of the comm whose handler is running on this thread (set by comm::execute for the
// duration of the handler and restored afterwards), so that with several comms each handle
// reaches the object registered with the comm that delivered the message.
inline thread_local const std::vector<local_entry>* current_locals = nullptr;

[[noreturn, gnu::noinline, gnu::cold]] inline void bad_local(std::uint32_t index) {
  if (current_locals == nullptr) {
    throw error("buddy::msg: local_ptr " + std::to_string(index) +
                " dereferenced outside a handler (use the object itself there)");
  }
  throw error("buddy::msg: local_ptr " + std::to_string(index) +
              " does not name an object registered with the comm running the handler");
}

[[noreturn, gnu::noinline, gnu::cold]] inline void forgotten_local(std::uint32_t index) {
  throw error("buddy::msg: local_ptr " + std::to_string(index) +
              " names an object that was destroyed (forget_local)");
}
[[noreturn, gnu::noinline, gnu::cold]] inline void wrong_local_type(const std::type_info& used,
                                                                    const std::type_info& reg) {
  throw error(std::string("buddy::msg: local_ptr used as ") + used.name() + " but registered as " +
              reg.name());
}
// Small enough to inline into every handler (each dereference of a local_ptr runs it): the
// errors are out of line.
inline void* local_object(std::uint32_t index, const std::type_info& type) {
  const std::vector<local_entry>* table = current_locals;
  if (table == nullptr || index >= table->size()) [[unlikely]] {
    bad_local(index);
  }
  const local_entry& e = (*table)[index];
  if (e.object == nullptr) [[unlikely]] {
    forgotten_local(index);
  }
  if (e.type != &type && *e.type != type) [[unlikely]] {
    wrong_local_type(type, *e.type);
  }
  return e.object;
}

}  // namespace detail

template <class T>
class local_ptr {
 public:
  local_ptr() = default;

  T* get() const { return static_cast<T*>(detail::local_object(index_, typeid(T))); }
  T& operator*() const { return *get(); }
  T* operator->() const { return get(); }
  std::uint32_t index() const { return index_; }
  explicit operator bool() const { return index_ != invalid; }

 private:
  friend class comm;
  static constexpr std::uint32_t invalid = 0xFFFFFFFFu;
  explicit local_ptr(std::uint32_t index) : index_(index) {}
  std::uint32_t index_ = invalid;
};

}  // namespace buddy::msg
