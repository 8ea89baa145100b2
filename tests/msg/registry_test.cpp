// Handler ids: every handler type used with async() is registered before main, ids are dense
// and follow the sorted (hash, name) order, and the table hash depends only on the names.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "buddy/msg/comm.hpp"

namespace buddy::msg {
namespace {

// Instantiates (never runs) async() for a few handler types so they are registered.
[[maybe_unused]] void instantiate(comm& c) {
  c.async(0, []() {});
  c.async(
      0, [](int) {}, 2);
  c.async(
      0, [](int) {}, 1);  // same signature, different closure type: a different handler
  c.async(
      0, [](comm&, std::string) {}, std::string("x"));
}

TEST(Registry, HandlersAreRegisteredBeforeMainWithDenseSortedIds) {
  auto& reg = detail::handler_registry::instance();
  reg.finalize();
  ASSERT_GE(reg.size(), 4u);
  std::set<std::string> names;
  std::uint64_t prev_hash = 0;
  for (std::uint32_t id = 0; id < reg.size(); ++id) {
    const std::string& n = reg.name(id);
    names.insert(n);
    const std::uint64_t h = detail::fnv1a(n.data(), n.size());
    EXPECT_LE(prev_hash, h) << "ids must follow the hash order";
    prev_hash = h;
    EXPECT_NE(reg.invokers()[id], nullptr);
  }
  EXPECT_EQ(names.size(), reg.size()) << "distinct closure types must have distinct names";
  const std::uint64_t before = reg.table_hash();
  reg.finalize();  // idempotent
  EXPECT_EQ(reg.table_hash(), before);
}

TEST(Registry, IdsMatchTheTypesThatRegistered) {
  auto& reg = detail::handler_registry::instance();
  reg.finalize();
  using H = detail::handler<decltype([](double) {}), double>;
  // A type only named here (never passed to async) is registered too once its id is used.
  EXPECT_TRUE(detail::handler_id<H>::registered);
  reg.finalize();
  const std::uint32_t id = detail::handler_id<H>::value;
  ASSERT_LT(id, reg.size());
  EXPECT_EQ(reg.name(id), detail::stable_name<H>());
}

}  // namespace
}  // namespace buddy::msg
