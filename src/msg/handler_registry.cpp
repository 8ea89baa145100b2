#include "buddy/msg/detail/handler_registry.hpp"

#include <algorithm>
#include <cstring>

namespace buddy::msg::detail {

std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

handler_registry& handler_registry::instance() {
  static handler_registry r;
  return r;
}

bool handler_registry::add(const char* name, invoke_fn fn, std::uint32_t* id_slot) {
  entry e{name, fnv1a(name, std::strlen(name)), fn, id_slot};
  entries_.push_back(std::move(e));
  dirty_ = true;
  return true;
}

void handler_registry::finalize() {
  if (!dirty_) return;
  std::stable_sort(entries_.begin(), entries_.end(), [](const entry& a, const entry& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return a.name < b.name;
  });
  invokers_.clear();
  std::uint64_t h = fnv1a("buddy::msg handlers", 19);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    *entries_[i].id_slot = static_cast<std::uint32_t>(i);
    invokers_.push_back(entries_[i].fn);
    h = fnv1a(entries_[i].name.data(), entries_[i].name.size() + 1, h);  // with the NUL
  }
  table_hash_ = h;
  dirty_ = false;
}

}  // namespace buddy::msg::detail
