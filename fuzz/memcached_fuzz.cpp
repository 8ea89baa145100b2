// libFuzzer target for the memcached parser (kv/wire/memcached.hpp, docs/memcached.md). Each
// input is read as a connection's byte stream, command after command, as the front end reads it.
// Checked:
//   - every result consumes at least one byte or asks for more, and never more than it has;
//   - every key and data view lies inside the input, keys are 1..250 bytes;
//   - need_more is only answered while the line (and its data block) is still incomplete, and a
//     prefix of the input never parses as a different command than the whole;
//   - errors carry a reply line ending in \r\n, and the writers accept whatever was parsed.
// Any violation aborts, so libFuzzer reports it as a crash with the input saved.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "buddy/kv/wire/memcached.hpp"

namespace {

using namespace buddy::kv::wire::mc;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "memcached fuzz: %s\n", what);
    std::abort();
  }
}

bool inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  Limits lim;
  lim.max_line = 512;
  lim.max_value = 1024;
  Command cmd, again;
  std::string out;
  std::size_t pos = 0;
  while (pos < all.size()) {
    const std::string_view buf = all.substr(pos);
    const Result r = parse(buf, lim, cmd);
    if (r.kind == Result::Kind::need_more) {
      check(r.consumed == 0, "need_more consumed bytes");
      check(buf.size() <= lim.max_line + 1 + lim.max_value + 2, "need_more past the limits");
      break;
    }
    check(r.consumed <= buf.size(), "consumed more than the buffer");
    if (r.kind == Result::Kind::close && r.error == Error::line_too_long) break;
    check(r.consumed > 0, "consumed nothing");
    if (r.kind == Result::Kind::error) {
      check(r.reply.size() >= 2 && r.reply.substr(r.reply.size() - 2) == "\r\n",
            "error reply without \\r\\n");
      check(r.error != Error::none, "error without a reason");
    } else {
      for (auto k : cmd.keys) {
        check(inside(k, buf), "key outside the buffer");
        check(!k.empty() && k.size() <= kMaxKey, "bad key length");
      }
      check(inside(cmd.data, buf), "data outside the buffer");
      check(cmd.data.size() <= lim.max_value, "data over the limit");
      // The same bytes, cut to exactly what was consumed, parse the same way.
      const Result r2 = parse(buf.substr(0, r.consumed), lim, again);
      check(r2.kind == r.kind && r2.consumed == r.consumed && again.op == cmd.op &&
                again.keys == cmd.keys && again.data == cmd.data,
            "the consumed bytes alone parse differently");
      // One byte fewer is never a complete command.
      const Result r3 = parse(buf.substr(0, r.consumed - 1), lim, again);
      check(r3.kind == Result::Kind::need_more || r3.consumed < r.consumed,
            "a prefix parsed as the whole command");
      out.clear();
      ItemInfo it{cmd.key(), cmd.flags, cmd.cas, cmd.exptime, cmd.data.size()};
      write_meta(out, "VA", cmd.meta, it, cmd.data);
      write_meta(out, "EN", cmd.meta, it);
      write_value_cas(out, cmd.key(), cmd.flags, cmd.data, cmd.cas);
      check(!out.empty() && out.back() == '\n', "writer output does not end a line");
    }
    if (r.kind == Result::Kind::close) break;
    pos += r.consumed;
    if (r.swallow > 0) pos += r.swallow < all.size() - pos ? r.swallow : all.size() - pos;
  }
  return 0;
}
