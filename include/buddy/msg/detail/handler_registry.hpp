// Stable handler ids. Every (function object type, argument types) pair that the program ever
// passes to async() instantiates handler_id<H>, whose static initialisation (before main)
// registers H's name and invoker here. finalize() (called by each comm constructor) sorts the
// table by (64-bit FNV-1a hash of the name, name) and hands every entry its index as its id,
// so every rank running the same binary numbers the handlers identically, whatever order the
// static initialisers ran in. Names are the mangled type names (typeid(H).name(), unique per
// closure type, lambdas included); equal names (possible only for types in anonymous namespaces
// of different translation units) keep their registration order, which is the same in every
// process of one binary. comm checks at startup that every rank has the same table hash.
// Only ids travel on the wire, never code addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <typeinfo>
#include <vector>

namespace buddy::msg::detail {

// Runs a frame's messages (the payload after the handler id, wire.hpp); ctx is the receiving
// comm; adds the number of messages run to `ran`.
using invoke_fn = void (*)(void* ctx, const std::byte* payload, std::size_t length,
                           std::uint64_t& ran);

inline constexpr std::uint32_t unassigned_id = 0xFFFFFFFFu;

class handler_registry {
 public:
  static handler_registry& instance();

  // Static-initialisation time: remembers the handler; returns true.
  bool add(const char* name, invoke_fn fn, std::uint32_t* id_slot);
  // Assigns ids (idempotent; re-run if handlers were added since).
  void finalize();

  std::size_t size() const { return invokers_.size(); }
  const invoke_fn* invokers() const { return invokers_.data(); }
  // Hash over the sorted names: equal on every rank of the same program.
  std::uint64_t table_hash() const { return table_hash_; }
  const std::string& name(std::uint32_t id) const { return entries_[id].name; }

 private:
  struct entry {
    std::string name;
    std::uint64_t hash;
    invoke_fn fn;
    std::uint32_t* id_slot;
  };
  std::vector<entry> entries_;
  std::vector<invoke_fn> invokers_;
  std::uint64_t table_hash_ = 0;
  bool dirty_ = false;
};

std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull);

template <class H>
const char* stable_name() {
#if defined(__GXX_RTTI) || defined(__cpp_rtti)
  return typeid(H).name();
#else
  return __PRETTY_FUNCTION__;
#endif
}

template <class H>
struct handler_id {
  static inline std::uint32_t value = unassigned_id;
  static inline const bool registered =
      handler_registry::instance().add(stable_name<H>(), &H::invoke, &value);
};

}  // namespace buddy::msg::detail
