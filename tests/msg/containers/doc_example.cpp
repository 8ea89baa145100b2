// The example of docs/containers.md, verbatim (the test containers_doc_example_in_sync checks).
#include <cstdint>
#include <cstdio>
#include <string>

#include "buddy/msg/containers/containers.hpp"

namespace mc = buddy::msg::containers;

int main(int argc, char** argv) {
  buddy::msg::comm world(&argc, &argv);  // inline or offload, from BUDDY_* / buddy-run
  mc::counting_set<std::string> words(world);
  mc::map<std::uint64_t, std::uint64_t> sums(world);
  mc::disjoint_set<std::uint64_t> groups(world);

  const char* text[] = {"the", "cat", "and", "the", "dog", "and", "the", "bird"};
  for (const char* w : text) words.async_insert(w);  // every rank counts the same text
  for (std::uint64_t i = 0; i < 100; ++i) {
    sums.async_reduce(i % 10, i, [](std::uint64_t a, std::uint64_t b) { return a + b; });
    groups.async_union(i, i % 10 == 0 ? i : i - 1);  // 10 chains: 0-9, 10-19, ...
  }
  world.barrier();  // every insert, reduce and union has run

  const auto top = words.topk(2);  // collective: the same answer on every rank
  const std::uint64_t keys = sums.size();
  const std::uint64_t sets = groups.num_sets();
  if (world.rank() == 0) {
    std::printf("top: %s %llu, %s %llu, %llu sums, %llu sets\n", top[0].first.c_str(),
                static_cast<unsigned long long>(top[0].second), top[1].first.c_str(),
                static_cast<unsigned long long>(top[1].second),
                static_cast<unsigned long long>(keys), static_cast<unsigned long long>(sets));
  }
  const bool ok = top[0].first == "the" &&
                  top[0].second == 3 * static_cast<std::uint64_t>(world.size()) && keys == 10 &&
                  sets == 10;
  return ok ? 0 : 1;
}
