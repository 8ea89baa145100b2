// A handle to an object that lives on every rank (a rank's slice of a distributed table, say),
// small and trivially copyable so it can be captured by a handler or sent as an argument.
// comm::make_local(obj) registers obj; ranks must register their objects in the same order, so
// the same handle names "the same" object everywhere. On the rank that runs a handler,
// p->... or *p reaches that rank's own object (of the comm alive in this process).
#pragma once

#include <cstdint>
#include <string>
#include <typeinfo>
#include <vector>

#include "buddy/msg/error.hpp"

namespace buddy::msg {

class comm;

namespace detail {

struct local_entry {
  void* object;
  const std::type_info* type;
};
// The table of the live comm (set by its constructor, cleared by its destructor).
inline std::vector<local_entry>* active_locals = nullptr;

inline void* local_object(std::uint32_t index, const std::type_info& type) {
  if (active_locals == nullptr || index >= active_locals->size()) [[unlikely]] {
    throw error("buddy::msg: local_ptr " + std::to_string(index) +
                " does not name an object registered with the live comm");
  }
  const local_entry& e = (*active_locals)[index];
  if (e.type != &type && *e.type != type) [[unlikely]] {
    throw error(std::string("buddy::msg: local_ptr used as ") + type.name() +
                " but registered as " + e.type->name());
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
