// Field tables: one list of names drives summing, JSON, text and packing.
#include "buddy/base/fields.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "buddy/base/shared_words.hpp"

namespace {

using buddy::base::Field;

constexpr std::array<std::string_view, 3> kOps{"get", "set", "del"};
constexpr std::array<std::string_view, 3> kReasons{"", "short", "bad \"kind\""};

struct Sample {
  std::uint64_t hits = 0;
  double busy_s = 0;
  std::array<std::uint64_t, 3> ops{};
  std::array<std::uint64_t, 3> drops{};  // [0] is not a reason: left out
  std::array<std::uint64_t, 2> stage_ns{};
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("hits", s.hits...);
    f(Field("busy_s").fixed(3), s.busy_s...);
    f(Field("ops").each(kOps), s.ops...);
    f(Field("drops").each(kReasons), s.drops...);
    f(Field("stage_ms").per(1e6), s.stage_ns...);
  }
};

Sample sample() {
  Sample s;
  s.hits = 7;
  s.busy_s = 0.5;
  s.ops = {1, 2, 3};
  s.drops = {99, 4, 5};
  s.stage_ns = {1'500'000, 2'000'000};
  return s;
}

struct Words {
  std::uint64_t a = 0, b = 0;
  std::array<std::uint64_t, 4> c{};
  template <class F, class... S>
  static constexpr void fields(F&& f, S&&... s) {
    f("a", s.a...);
    f("b", s.b...);
    f("c", s.c...);
  }
};
static_assert(buddy::base::field_words<Words>() * 8 == sizeof(Words));
static_assert(buddy::base::field_words<Sample>() == 1 + 1 + 3 + 3 + 2);

}  // namespace

TEST(Fields, Json) {
  EXPECT_EQ(buddy::base::json_object(sample()),
            "{\"hits\":7,\"busy_s\":0.500,\"ops\":{\"get\":1,\"set\":2,\"del\":3},"
            "\"drops\":{\"short\":4,\"bad \\\"kind\\\"\":5},\"stage_ms\":[1.5,2]}");
}

TEST(Fields, Add) {
  Sample a = sample();
  buddy::base::add_fields(a, sample());
  EXPECT_EQ(a.hits, 14u);
  EXPECT_DOUBLE_EQ(a.busy_s, 1.0);
  EXPECT_EQ(a.ops, (std::array<std::uint64_t, 3>{2, 4, 6}));
  EXPECT_EQ(a.drops, (std::array<std::uint64_t, 3>{198, 8, 10}));
  EXPECT_EQ(a.stage_ns[1], 4'000'000u);
}

TEST(Fields, Text) {
  EXPECT_EQ(buddy::base::text_fields(sample()),
            "hits=7 busy_s=0.500\nops: get=1 set=2 del=3\ndrops: short=4 bad \"kind\"=5\n"
            "stage_ms: 0=1.5 1=2\n");
}

TEST(Fields, ForEachNumberPacksAndUnpacks) {
  const Sample s = sample();
  std::vector<double> packed;
  buddy::base::for_each_number(s, [&](const auto& v) { packed.push_back(static_cast<double>(v)); });
  EXPECT_EQ(packed, (std::vector<double>{7, 0.5, 1, 2, 3, 99, 4, 5, 1.5e6, 2e6}));
  Sample t;
  std::size_t i = 0;
  buddy::base::for_each_number(
      t, [&](auto& v) { v = static_cast<std::remove_cvref_t<decltype(v)>>(packed[i++]); });
  EXPECT_EQ(buddy::base::json_object(t), buddy::base::json_object(s));
}

TEST(Fields, SharedWordsCopyEveryWord) {
  buddy::base::SharedWords<Words> shared;
  Words w;
  w.a = 1;
  w.b = 2;
  w.c = {3, 4, 5, 6};
  shared.publish(w);
  EXPECT_EQ(buddy::base::json_object(shared.read()), buddy::base::json_object(w));
  EXPECT_EQ(buddy::base::json_object(shared.read()), "{\"a\":1,\"b\":2,\"c\":[3,4,5,6]}");
}
