// Must not compile: a visitor capturing a std::string (not trivially copyable, so its bytes
// cannot travel to the key's owner). The error must be the containers' readable static_assert.
#include <cstdint>
#include <string>

#include "buddy/msg/containers/map.hpp"

void visit(buddy::msg::containers::map<std::uint64_t, std::uint64_t>& m) {
  const std::string name = "counter";
  m.async_visit(std::uint64_t{1},
                [name](const std::uint64_t&, std::uint64_t& v) { v += name.size(); });
}
