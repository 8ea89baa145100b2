// The placements of the six designs: their invariants (one writer per partition, a map that
// agrees with the threads, one PE per queue pair) for many thread counts, and each design's shape.
#include "buddy/kv/serving/placement.hpp"

#include <gtest/gtest.h>

namespace buddy::kv::serving {
namespace {

constexpr Design kAll[] = {Design::cpu_only, Design::engine_only, Design::lat,
                           Design::sav,      Design::dual,        Design::shrd};

TEST(Placement, NamesRoundTrip) {
  for (Design d : kAll) EXPECT_EQ(parse_design(to_string(d)), d);
  EXPECT_FALSE(parse_design("cpu_only"));
  EXPECT_FALSE(parse_design(""));
}

TEST(Placement, EveryShapeKeepsItsInvariants) {
  for (Design d : kAll) {
    for (unsigned h = 1; h <= 3; ++h) {
      for (unsigned e = 1; e <= 3; ++e) {
        for (unsigned s = 0; s <= 2; ++s) {
          for (std::uint32_t ppt = 1; ppt <= 3; ++ppt) {
            PlacementConfig c{d, h, e, s, ppt, {0, 1}, {1}};
            ASSERT_EQ(validate(c), "");
            const Placement p = place(c);
            ASSERT_EQ(p.validate(), "") << to_string(d) << " h" << h << " e" << e << " s" << s;
            EXPECT_EQ(p.partitions, p.port_thread.size() * ppt);
            EXPECT_EQ(digest(p), digest(place(c)));  // deterministic: host and engine agree
            for (const ThreadPlan& t : p.threads) {
              if (t.side == Side::engine) {
                EXPECT_EQ(t.cpu, 1);
              } else {
                EXPECT_TRUE(t.cpu == 0 || t.cpu == 1);
              }
            }
          }
        }
      }
    }
  }
}

TEST(Placement, ShapesOfTheDesigns) {
  const auto shape = [](Design d) { return place(PlacementConfig{d, 2, 3, 1, 2, {}, {}}); };
  {
    const Placement p = shape(Design::cpu_only);
    EXPECT_EQ(p.count(Side::host, Role::full), 2u);
    EXPECT_EQ(p.count(Side::engine), 0u);
    EXPECT_EQ(p.queue_pairs, 0u);
  }
  {
    const Placement p = shape(Design::engine_only);
    EXPECT_EQ(p.count(Side::host), 0u);
    EXPECT_EQ(p.count(Side::engine, Role::full), 3u);
    EXPECT_TRUE(p.partitions_on(Side::host).empty());
  }
  {
    const Placement p = shape(Design::lat);  // 3 CEs, each with its own host PE
    EXPECT_EQ(p.count(Side::engine, Role::ce), 3u);
    EXPECT_EQ(p.count(Side::host, Role::pe), 3u);
    EXPECT_EQ(p.queue_pairs, 3u);
    for (const ThreadPlan& t : p.threads) {
      if (t.role == Role::pe) {
        EXPECT_EQ(t.pairs.size(), 1u);
      }
    }
  }
  {
    const Placement p = shape(Design::sav);  // 3 CEs, one PE owning everything
    EXPECT_EQ(p.count(Side::host, Role::pe), 1u);
    EXPECT_EQ(p.count(Side::host), 1u);
    EXPECT_EQ(p.threads[0].pairs.size(), 3u);
    EXPECT_EQ(p.threads[0].partitions.size(), p.partitions);
  }
  {
    const Placement p = shape(Design::dual);  // 3 CEs -> main PE, 1 spare on its own port
    EXPECT_EQ(p.count(Side::host, Role::pe), 1u);
    EXPECT_EQ(p.count(Side::host, Role::full), 1u);
    EXPECT_EQ(p.port_thread.size(), 4u);
    // The spare's partitions are exactly those the map sends to its port.
    const ThreadPlan& spare = p.threads[1];
    ASSERT_EQ(spare.role, Role::full);
    for (std::uint32_t q : spare.partitions) EXPECT_EQ(p.partition_port[q], spare.port);
    EXPECT_EQ(spare.partitions.size() + p.threads[0].partitions.size(), p.partitions);
  }
  {
    const Placement p = shape(Design::shrd);  // both stores hold a share, no queue pair
    EXPECT_EQ(p.queue_pairs, 0u);
    EXPECT_EQ(p.partitions_on(Side::host).size(), 4u);
    EXPECT_EQ(p.partitions_on(Side::engine).size(), 6u);
  }
}

TEST(Placement, RejectsImpossibleCounts) {
  EXPECT_NE(validate(PlacementConfig{Design::lat, 1, 0, 0, 1, {}, {}}), "");
  EXPECT_NE(validate(PlacementConfig{Design::cpu_only, 0, 1, 0, 1, {}, {}}), "");
  EXPECT_NE(validate(PlacementConfig{Design::shrd, 1, 1, 0, 0, {}, {}}), "");
  EXPECT_NE(validate(PlacementConfig{Design::engine_only, 1, 1, 0, 20000, {}, {}}), "");
}

TEST(Placement, ValidateCatchesAMapThatDisagreesWithItsCores) {
  // The DPU-KV artifact's bug: the map sends a partition to a port whose thread does not own it.
  Placement p = place(PlacementConfig{Design::dual, 1, 1, 1, 2, {}, {}});
  ASSERT_EQ(p.validate(), "");
  p.partition_port[0] = static_cast<std::uint16_t>((p.partition_port[0] + 1) % 2);
  EXPECT_NE(p.validate(), "");
  Placement q = place(PlacementConfig{Design::shrd, 1, 1, 1, 2, {}, {}});
  q.threads[1].partitions.push_back(q.threads[0].partitions[0]);  // two writers
  EXPECT_NE(q.validate(), "");
}

}  // namespace
}  // namespace buddy::kv::serving
