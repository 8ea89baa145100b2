// The engine plan: made once from the server's configuration parts, read back by the engine as
// the same parts (no field copied by hand anywhere else), and refused by attach() when its
// placement digest is not this build's.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "buddy/kv/engine/engine_block.hpp"

namespace buddy::kv::engine {
namespace {

using namespace serving;

TEST(EnginePlan, ReadsBackWhatItWasMadeFrom) {
  PlacementConfig pc{Design::dual, 3, 2, 1, 4, {0, 1}, {1, 0, 1}};
  StoreSettings st;
  st.mode = kv::Mode::cache;
  st.memory_bytes = std::size_t{3} << 30;
  st.expected_items = 123456;
  WorkerConfig w;
  w.burst = 17;
  w.spins = 9;
  w.wait = std::chrono::microseconds(250);
  w.pipeline = 3;
  w.pe_batch = 99;
  const std::vector<std::uint16_t> ports{7001, 7002};
  const EnginePlan plan = EnginePlan::make(pc, st, w, 9000, "10.1.2.3", ports);

  const PlacementConfig back = plan.config();
  EXPECT_EQ(back.design, pc.design);
  EXPECT_EQ(back.host_threads, pc.host_threads);
  EXPECT_EQ(back.engine_threads, pc.engine_threads);
  EXPECT_EQ(back.spare_threads, pc.spare_threads);
  EXPECT_EQ(back.partitions_per_thread, pc.partitions_per_thread);
  EXPECT_EQ(back.engine_cpus, pc.engine_cpus);
  EXPECT_TRUE(back.host_cpus.empty());  // not the engine's business
  const StoreSettings sb = plan.store();
  EXPECT_EQ(sb.mode, st.mode);
  EXPECT_EQ(sb.memory_bytes, st.memory_bytes);
  EXPECT_EQ(sb.expected_items, st.expected_items);
  const WorkerConfig wb = plan.worker();
  EXPECT_EQ(wb.burst, w.burst);
  EXPECT_EQ(wb.spins, w.spins);
  EXPECT_EQ(wb.wait, w.wait);
  EXPECT_EQ(wb.pipeline, w.pipeline);
  EXPECT_EQ(wb.pe_batch, w.pe_batch);
  EXPECT_EQ(plan.max_datagram, 9000u);
  EXPECT_EQ(plan.bind_address(), "10.1.2.3");
  EXPECT_EQ(plan.ports[0], 7001);
  EXPECT_EQ(plan.ports[1], 7002);
  EXPECT_EQ(plan.ports[2], 0);
  EXPECT_EQ(plan.placement_digest, digest(place(pc)));
}

TEST(EnginePlan, WhatDoesNotFitIsRefused) {
  const PlacementConfig pc{Design::sav, 1, 1, 0, 1, {}, {}};
  EXPECT_THROW(EnginePlan::make(pc, {}, {}, 1472, std::string(64, '1'), {}), std::invalid_argument);
  PlacementConfig many = pc;
  many.engine_cpus.assign(kMaxEngineCpus + 1, 0);
  EXPECT_THROW(EnginePlan::make(many, {}, {}, 1472, "127.0.0.1", {}), std::invalid_argument);
  const std::vector<std::uint16_t> ports(kMaxEngineThreads + 1, 0);
  EXPECT_THROW(EnginePlan::make(pc, {}, {}, 1472, "127.0.0.1", ports), std::invalid_argument);
}

TEST(EngineBlock, AttachChecksThePlacementDigest) {
  std::vector<std::byte> area(sizeof(EngineBlock) + 64);
  void* p = area.data() + (64 - reinterpret_cast<std::uintptr_t>(area.data()) % 64) % 64;
  const EnginePlan plan =
      EnginePlan::make(PlacementConfig{Design::lat, 1, 2, 0, 2, {}, {}}, {}, {}, 1472, "", {});
  EngineBlock* b = EngineBlock::create(p, sizeof(EngineBlock), plan);
  EXPECT_EQ(EngineBlock::attach(p, sizeof(EngineBlock)), b);
  b->plan.placement_digest ^= 1;
  try {
    EngineBlock::attach(p, sizeof(EngineBlock));
    FAIL() << "attached a plan of another placement";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("placement differs"), std::string::npos) << e.what();
  }
  b->~EngineBlock();
}

}  // namespace
}  // namespace buddy::kv::engine
