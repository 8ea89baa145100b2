// Round trips of every supported argument kind, exact encoded sizes, and corrupt payloads that
// must throw buddy::msg::error (never read out of bounds).
#include "buddy/msg/archive.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace buddy::msg::archive {
namespace {

struct pod {
  std::uint32_t a;
  double b;
  friend bool operator==(const pod&, const pod&) = default;
};

template <class T>
std::vector<std::byte> encode(const T& v) {
  std::vector<std::byte> out(size_of(v));
  std::byte* p = out.data();
  write(p, v);
  EXPECT_EQ(p, out.data() + out.size()) << "write() must fill exactly size_of() bytes";
  return out;
}

template <class T>
T decode(const std::vector<std::byte>& bytes) {
  reader r(bytes.data(), bytes.size());
  T v{};
  read(r, v);
  EXPECT_TRUE(r.done());
  return v;
}

template <class T>
void round_trip(const T& v) {
  EXPECT_EQ(decode<T>(encode(v)), v);
}

TEST(Archive, RoundTripsEverySupportedKind) {
  round_trip(std::uint64_t{0x0123456789abcdefull});
  round_trip(-3.5);
  round_trip(pod{7, 2.5});
  round_trip(std::string{});
  round_trip(std::string("hello"));
  round_trip(std::string(100000, 'x'));
  round_trip(std::vector<int>{});
  round_trip(std::vector<int>{1, 2, 3});
  round_trip(std::vector<pod>{{1, 1.0}, {2, 2.0}});
  round_trip(std::vector<std::string>{"a", "", "ccc"});
  round_trip(std::vector<std::vector<int>>{{1}, {}, {2, 3}});
  round_trip(std::array<int, 3>{4, 5, 6});
  round_trip(std::array<std::string, 2>{"x", "yz"});
  round_trip(std::pair<int, std::string>{3, "three"});
  round_trip(std::tuple<char, std::vector<double>, std::string>{'c', {1.0, 2.0}, "t"});
  round_trip(std::vector<std::pair<std::string, std::uint64_t>>{{"k", 1}, {"", 2}});
}

TEST(Archive, EncodedSizesAreDocumented) {
  EXPECT_EQ(size_of(std::uint64_t{1}), 8u);
  EXPECT_EQ(size_of(std::string("abc")), 4u + 3u);
  EXPECT_EQ(size_of(std::vector<std::uint32_t>(5)), 4u + 20u);
  EXPECT_EQ(size_of(std::array<std::uint16_t, 3>{}), 6u);
  EXPECT_EQ(size_of(std::pair<std::uint8_t, std::string>{1, "ab"}), 1u + 4u + 2u);
  const auto bytes = encode(std::string("hi"));
  ASSERT_EQ(bytes.size(), 6u);
  std::uint32_t count;
  std::memcpy(&count, bytes.data(), 4);
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(static_cast<char>(bytes[4]), 'h');
}

TEST(Archive, SupportedTraitRejectsPointersAndViews) {
  static_assert(serializable_v<int>);
  static_assert(serializable_v<std::vector<std::pair<int, std::string>>>);
  static_assert(!serializable_v<int*>);
  static_assert(!serializable_v<const char*>);
  static_assert(!serializable_v<std::string_view>);
  static_assert(!serializable_v<std::vector<int*>>);
  static_assert(!serializable_v<std::vector<bool>>);
  static_assert(!serializable_v<std::tuple<int, std::string_view>>);
  SUCCEED();
}

TEST(Archive, TruncatedPayloadThrows) {
  auto bytes = encode(std::vector<std::uint64_t>{1, 2, 3});
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    reader r(bytes.data(), cut);
    std::vector<std::uint64_t> v;
    EXPECT_THROW(read(r, v), error) << "cut at " << cut;
  }
}

TEST(Archive, HugeCountIsRejectedBeforeAllocating) {
  std::vector<std::byte> bytes(8);
  const std::uint32_t huge = 0xFFFFFFF0u;
  std::memcpy(bytes.data(), &huge, 4);
  {
    reader r(bytes.data(), bytes.size());
    std::vector<std::uint64_t> v;
    EXPECT_THROW(read(r, v), error);
  }
  {
    reader r(bytes.data(), bytes.size());
    std::string s;
    EXPECT_THROW(read(r, s), error);
  }
  {
    reader r(bytes.data(), bytes.size());
    std::vector<std::string> vs;  // each string takes at least its 4-byte count
    EXPECT_THROW(read(r, vs), error);
  }
}

}  // namespace
}  // namespace buddy::msg::archive
