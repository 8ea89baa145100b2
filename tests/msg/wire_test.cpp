// Record framing: headers are written byte for byte as documented, and every kind of corrupt
// buffer is refused with buddy::msg::error before its record reaches the callback.
#include "buddy/msg/transport/wire.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

namespace buddy::msg::wire {
namespace {

std::vector<std::byte> records(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& rs) {
  std::vector<std::byte> out;
  for (auto [dest, len] : rs) {
    const std::size_t at = out.size();
    out.resize(at + header_bytes + len, std::byte{0x5a});
    write_header(out.data() + at, dest, len);
  }
  return out;
}

TEST(Wire, HeaderLayoutIsDestThenLength) {
  std::byte h[header_bytes];
  write_header(h, 3, 0x01020304);
  std::uint32_t dest, len;
  std::memcpy(&dest, h, 4);
  std::memcpy(&len, h + 4, 4);
  EXPECT_EQ(dest, 3u);
  EXPECT_EQ(len, 0x01020304u);
}

// comm::async refuses records above max_payload; the router sends a record in one MPI message
// (int count), so the largest accepted record must still fit one.
TEST(Wire, LargestRecordFitsOneMpiMessage) {
  EXPECT_LE(header_bytes + max_payload, static_cast<std::size_t>(INT_MAX));
  EXPECT_EQ(header_bytes + max_payload, static_cast<std::size_t>(INT_MAX));
}

TEST(Wire, WalksEveryRecord) {
  const auto buf = records({{0, 12}, {3, 0}, {1, 100}});
  std::vector<std::pair<std::uint32_t, std::uint32_t>> seen;
  for_each_record(buf.data(), buf.size(), 4, [&](const record& r) {
    seen.emplace_back(r.dest, r.length);
    EXPECT_EQ(static_cast<std::uint8_t>(r.length ? r.payload[0] : std::byte{0x5a}), 0x5a);
  });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(0u, 12u));
  EXPECT_EQ(seen[1], std::make_pair(3u, 0u));
  EXPECT_EQ(seen[2], std::make_pair(1u, 100u));
  int calls = 0;
  for_each_record(buf.data(), 0, 4, [&](const record&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(Wire, VarintRoundTripsAndRefusesCutOrOverlongInput) {
  for (std::uint32_t v : {0u, 1u, 127u, 128u, 300u, 16383u, 16384u, 0x0FFFFFFFu, 0xFFFFFFFFu}) {
    std::byte b[5];
    std::byte* end = put_varint(b, v);
    ASSERT_EQ(static_cast<std::size_t>(end - b), varint_bytes(v)) << v;
    std::uint32_t back = 0;
    EXPECT_EQ(get_varint(b, end, back), end) << v;
    EXPECT_EQ(back, v);
    if (end - b > 1) {
      EXPECT_EQ(get_varint(b, end - 1, back), nullptr) << v;  // cut short
    }
  }
  EXPECT_EQ(varint_bytes(127), 1u);
  EXPECT_EQ(varint_bytes(128), 2u);
  std::uint32_t v = 0;
  const std::byte six[6] = {std::byte{0x80}, std::byte{0x80}, std::byte{0x80},
                            std::byte{0x80}, std::byte{0x80}, std::byte{0x01}};
  EXPECT_EQ(get_varint(six, six + 6, v), nullptr);  // more than 5 bytes
  const std::byte big[5] = {std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                            std::byte{0x1F}};
  EXPECT_EQ(get_varint(big, big + 5, v), nullptr);  // more than 32 bits
  EXPECT_EQ(get_varint(six, six, v), nullptr);      // empty
}

TEST(Wire, CorruptBuffersThrow) {
  auto good = records({{1, 4}, {2, 4}});
  // Destination out of range.
  auto bad_dest = good;
  const std::uint32_t nine = 9;
  std::memcpy(bad_dest.data() + 12, &nine, 4);
  EXPECT_THROW(for_each_record(bad_dest.data(), bad_dest.size(), 4, [](const record&) {}), error);
  // Length past the end.
  auto bad_len = good;
  const std::uint32_t big = 1000;
  std::memcpy(bad_len.data() + 16, &big, 4);
  EXPECT_THROW(for_each_record(bad_len.data(), bad_len.size(), 4, [](const record&) {}), error);
  // A truncated header at the end.
  for (std::size_t cut = 1; cut < header_bytes; ++cut) {
    EXPECT_THROW(for_each_record(good.data(), 12 + cut, 4, [](const record&) {}), error);
  }
  // The valid prefix is still delivered before the error.
  int before = 0;
  EXPECT_THROW(
      for_each_record(bad_dest.data(), bad_dest.size(), 4, [&](const record&) { ++before; }),
      error);
  EXPECT_EQ(before, 1);
}

}  // namespace
}  // namespace buddy::msg::wire
