// The memcached parser and writers: every command's shape, the errors memcached 1.6 answers
// (byte for byte, as checked against memcached 1.6.18), the limits, and partial input.
#include "buddy/kv/wire/memcached.hpp"

#include <gtest/gtest.h>

#include <string>

#include "buddy/kv/wire/memcached_item.hpp"

namespace {

using namespace buddy::kv::wire::mc;
using Kind = Result::Kind;

struct Parsed {
  Result r;
  Command c;
};

Parsed p(std::string_view s, Limits lim = {}) {
  Parsed out;
  out.r = parse(s, lim, out.c);
  return out;
}

TEST(Memcached, GetManyKeys) {
  auto x = p("get a bb  ccc\r\nrest");
  ASSERT_EQ(x.r.kind, Kind::command);
  EXPECT_EQ(x.c.op, Op::get);
  EXPECT_EQ(x.r.consumed, 15u);
  ASSERT_EQ(x.c.keys.size(), 3u);
  EXPECT_EQ(x.c.keys[2], "ccc");
  x = p("gets k\n");  // a bare \n ends a line too
  EXPECT_EQ(x.c.op, Op::gets);
  EXPECT_EQ(x.r.consumed, 7u);
  x = p("gat 100 a b\r\n");
  EXPECT_EQ(x.c.op, Op::gat);
  EXPECT_EQ(x.c.exptime, 100);
  EXPECT_EQ(x.c.keys.size(), 2u);
}

TEST(Memcached, StorageCommands) {
  auto x = p("set k 5 -1 3 noreply\r\nabc\r\n");
  ASSERT_EQ(x.r.kind, Kind::command);
  EXPECT_EQ(x.c.key(), "k");
  EXPECT_EQ(x.c.flags, 5u);
  EXPECT_EQ(x.c.exptime, -1);
  EXPECT_EQ(x.c.data, "abc");
  EXPECT_TRUE(x.c.noreply);
  EXPECT_EQ(x.r.consumed, 27u);
  x = p("cas k 0 0 1 77\r\nz\r\n");
  EXPECT_EQ(x.c.op, Op::cas);
  EXPECT_EQ(x.c.cas, 77u);
  EXPECT_FALSE(x.c.noreply);
  for (auto s : {"add", "replace", "append", "prepend"}) {
    x = p(std::string(s) + " k 0 0 0\r\n\r\n");
    EXPECT_EQ(x.r.kind, Kind::command) << s;
    EXPECT_EQ(x.c.data, "");
  }
}

TEST(Memcached, PartialInputNeedsMore) {
  const std::string full = "set k 0 0 5\r\nhello\r\n";
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto x = p(std::string_view(full).substr(0, n));
    EXPECT_EQ(x.r.kind, Kind::need_more) << n;
    EXPECT_EQ(x.r.consumed, 0u);
  }
  EXPECT_EQ(p(full).r.kind, Kind::command);
}

TEST(Memcached, ErrorsAsMemcached) {
  auto err = [](std::string_view s) { return std::string(p(s).r.reply); };
  EXPECT_EQ(err("foo\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("get\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("get\ta\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("set a 0 0\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("set k 0 0 1 2 3\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("set a x 0 3\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("set a 0 0 -1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("set a -1 0 1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("cas k 0 0 1 abc\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("incr n x\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_EQ(err("incr n -1\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_EQ(err("touch k\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("delete\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("delete a 5\r\n"),
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  EXPECT_EQ(err("flush_all x\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(err("verbosity\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("verbosity x\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("mg\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("mx k\r\n"), "ERROR\r\n");
  EXPECT_EQ(err("ms x\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("ms x abc\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(err("mg k zz\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(err("mg k v E55\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(err("ma k MX\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
  EXPECT_EQ(err("mg k O" + std::string(33, 'o') + "\r\n"),
            "CLIENT_ERROR opaque token too long\r\n");
  // Bad lines take only the line: the data that follows is read as the next command (as in
  // memcached), except after ms, whose data block is discarded.
  auto x = p("set a x 0 3\r\nabc\r\n");
  EXPECT_EQ(x.r.consumed, 13u);
  EXPECT_EQ(x.r.swallow, 0u);
  x = p("ms k 2 Z\r\nhi\r\n");
  EXPECT_EQ(x.r.reply, "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(x.r.consumed, 10u);
  EXPECT_EQ(x.r.swallow, 4u);
}

TEST(Memcached, KeyLimit) {
  const std::string k250(250, 'k'), k251(251, 'k');
  EXPECT_EQ(p("get " + k250 + "\r\n").r.kind, Kind::command);
  auto x = p("get a " + k251 + "\r\n");
  EXPECT_EQ(x.r.error, Error::key_too_long);
  EXPECT_EQ(x.r.reply, "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(p("set " + k251 + " 0 0 1\r\nx\r\n").r.error, Error::key_too_long);
  EXPECT_EQ(p("mg " + k251 + " v\r\n").r.error, Error::key_too_long);
}

TEST(Memcached, DataChunkAndTooLarge) {
  auto x = p("set a 0 0 3\r\nabcd\r\nget a\r\n");
  EXPECT_EQ(x.r.error, Error::bad_data_chunk);
  EXPECT_EQ(x.r.reply, "CLIENT_ERROR bad data chunk\r\n");
  EXPECT_EQ(x.r.consumed, 18u);  // line + 3 + 2: the "\n" left over reads as an empty line
  Limits lim;
  lim.max_value = 10;
  x = p("set a 0 0 2000000000\r\n", lim);  // the data is not awaited: it is discarded as it comes
  EXPECT_EQ(x.r.error, Error::too_large);
  EXPECT_EQ(x.r.reply, "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(x.r.swallow, 2000000002u);
  EXPECT_TRUE(x.r.invalidate);
  EXPECT_EQ(x.c.key(), "a");
  x = p("ms a 11 T0\r\n", lim);
  EXPECT_EQ(x.r.error, Error::too_large);
  EXPECT_EQ(x.r.swallow, 13u);
}

TEST(Memcached, LineLimit) {
  Limits lim;
  lim.max_line = 100;
  EXPECT_EQ(p(std::string(100, 'x'), lim).r.kind, Kind::need_more);
  EXPECT_EQ(p(std::string(101, 'x'), lim).r.kind, Kind::close);
  EXPECT_EQ(p(std::string(101, 'x'), lim).r.error, Error::line_too_long);
  EXPECT_EQ(p("get " + std::string(200, 'a') + "\r\n", lim).r.kind, Kind::close);
}

TEST(Memcached, OtherTextCommands) {
  auto x = p("delete a 0 noreply\r\n");
  EXPECT_EQ(x.c.op, Op::del);
  EXPECT_TRUE(x.c.noreply);
  x = p("incr n 18446744073709551615\r\n");
  EXPECT_EQ(x.c.delta, 18446744073709551615ull);
  EXPECT_EQ(p("incr n 18446744073709551616\r\n").r.error, Error::bad_number);
  x = p("touch k -1 noreply\r\n");
  EXPECT_EQ(x.c.exptime, -1);
  EXPECT_TRUE(x.c.noreply);
  x = p("flush_all 10 noreply\r\n");
  EXPECT_EQ(x.c.exptime, 10);
  EXPECT_TRUE(x.c.noreply);
  EXPECT_EQ(p("quit\r\n").r.kind, Kind::close);
  EXPECT_EQ(p("version\r\n").c.op, Op::version);
  EXPECT_EQ(p("stats\r\n").c.op, Op::stats);
  EXPECT_EQ(p("mn\r\n").c.op, Op::mn);
}

TEST(Memcached, MetaFlags) {
  auto x = p("mg k v f t c s k O123 q T30\r\n");
  ASSERT_EQ(x.r.kind, Kind::command);
  const Meta& m = x.c.meta;
  EXPECT_TRUE(m.v);
  EXPECT_TRUE(m.q);
  EXPECT_TRUE(m.has_ttl);
  EXPECT_EQ(m.ttl, 30);
  EXPECT_EQ(std::string(m.ret.data(), m.nret), "ftcskO");
  EXPECT_EQ(m.opaque, "123");
  EXPECT_FALSE(reads_only(x.c));
  EXPECT_TRUE(reads_only(p("mg k v\r\n").c));
  x = p("ms k 2 F7 T-1 C99 MA c\r\nhi\r\n");
  ASSERT_EQ(x.r.kind, Kind::command);
  EXPECT_EQ(x.c.meta.flags, 7u);
  EXPECT_EQ(x.c.meta.ttl, -1);
  EXPECT_EQ(x.c.meta.compare, 99u);
  EXPECT_EQ(x.c.meta.mode, 'A');
  EXPECT_EQ(x.c.data, "hi");
  EXPECT_EQ(p("ms k 2\r\nhi\r\n").c.meta.mode, 'S');
  x = p("ma n N0 J5 D10 M- v\r\n");
  EXPECT_EQ(x.c.meta.mode, 'D');
  EXPECT_EQ(x.c.meta.initial, 5u);
  EXPECT_EQ(x.c.meta.delta, 10u);
  EXPECT_TRUE(x.c.meta.has_vivify);
  EXPECT_EQ(p("md k C1 q k O3\r\n").c.meta.compare, 1u);
  EXPECT_EQ(p("md k v\r\n").r.error, Error::invalid_flag);
}

TEST(Memcached, Writers) {
  std::string out;
  write_value(out, "k", 3, "hi");
  write_value_cas(out, "k", 3, "hi", 13);
  write_line(out, "END");
  EXPECT_EQ(out, "VALUE k 3 2\r\nhi\r\nVALUE k 3 2 13\r\nhi\r\nEND\r\n");
  Command c;
  parse("mg k v f t c s k\r\n", {}, c);
  ItemInfo it{"k", 3, 13, -1, 2};
  out.clear();
  write_meta(out, "VA", c.meta, it, "hi");
  EXPECT_EQ(out, "VA 2 f3 t-1 c13 s2 kk\r\nhi\r\n");
  parse("mg k v O9 k c\r\n", {}, c);
  out.clear();
  write_meta(out, "EN", c.meta, it);  // a miss echoes only O and k
  EXPECT_EQ(out, "EN O9 kk\r\n");
}

TEST(Memcached, Counters) {
  std::uint64_t v = 0;
  EXPECT_TRUE(parse_counter("12", v));
  EXPECT_EQ(v, 12u);
  EXPECT_TRUE(parse_counter(" 12", v));
  EXPECT_TRUE(parse_counter("12 ", v));
  EXPECT_TRUE(parse_counter("0000000000000000000012", v));
  EXPECT_EQ(v, 12u);
  EXPECT_FALSE(parse_counter("hi", v));
  EXPECT_FALSE(parse_counter("", v));
  EXPECT_FALSE(parse_counter("1x", v));
  EXPECT_FALSE(parse_counter("18446744073709551616", v));
  EXPECT_EQ(counter_value(8, 3), "8  ");
  EXPECT_EQ(counter_value(100, 2), "100");
}

TEST(Memcached, ItemHeader) {
  ItemHeader h;
  h.flags = 7;
  h.cas = 99;
  h.exptime = 1234;
  h.epoch = 2;
  const std::string v = encode_item(h, "data");
  EXPECT_EQ(v.size(), kItemHeader + 4);
  EXPECT_EQ(v.substr(0, 4), "BKMC");
  std::string_view d;
  const ItemHeader back = decode_item(v, d);
  EXPECT_FALSE(back.native);
  EXPECT_EQ(back.flags, 7u);
  EXPECT_EQ(back.cas, 99u);
  EXPECT_EQ(back.exptime, 1234u);
  EXPECT_EQ(back.epoch, 2u);
  EXPECT_EQ(d, "data");
  EXPECT_TRUE(decode_item("plain value from a native client", d).native);
  EXPECT_EQ(d, "plain value from a native client");
  EXPECT_EQ(absolute_exptime(0, 1000), 0u);
  EXPECT_EQ(absolute_exptime(-1, 1000), 1u);
  EXPECT_EQ(absolute_exptime(10, 1000), 1010u);
  EXPECT_EQ(absolute_exptime(2592001, 1000), 2592001u);  // over 30 days: absolute
  EXPECT_EQ(absolute_exptime(500, 100000000), 100000500u);
}

// A TTL of n lives at least n whole seconds: set at second 1000 with TTL 1, it is still live at
// second 1001 (which may be a millisecond later) and gone at 1002. Already-expired (1) and never
// (0) keep their meaning.
TEST(MemcachedItem, ATtlLivesAtLeastItsSeconds) {
  const std::uint32_t at = absolute_exptime(1, 1000);
  EXPECT_FALSE(past_due(at, 1000));
  EXPECT_FALSE(past_due(at, 1001));
  EXPECT_TRUE(past_due(at, 1002));
  EXPECT_TRUE(past_due(absolute_exptime(-1, 1000), 1000));
  EXPECT_TRUE(past_due(absolute_exptime(2592001, 2592100), 2592100));  // absolute, in the past
  EXPECT_FALSE(past_due(absolute_exptime(0, 1000), 1u << 30));
}

}  // namespace
