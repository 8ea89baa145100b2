#include "buddy/kv/wire/memcached.hpp"

#include <charconv>
#include <limits>

namespace buddy::kv::wire::mc {

namespace {

constexpr std::string_view kErrorLine = "ERROR\r\n";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk\r\n";
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
constexpr std::string_view kInvalidFlag = "CLIENT_ERROR invalid flag\r\n";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument\r\n";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument\r\n";
constexpr std::string_view kBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long\r\n";
constexpr std::string_view kBadMsMode = "CLIENT_ERROR invalid mode for ms M token\r\n";
constexpr std::string_view kBadMaMode = "CLIENT_ERROR invalid mode for ma M token\r\n";

Result fail(std::size_t consumed, Error e, std::string_view reply, std::size_t swallow = 0) {
  Result r;
  r.kind = Result::Kind::error;
  r.consumed = consumed;
  r.swallow = swallow;
  r.error = e;
  r.reply = reply;
  return r;
}

Result done(std::size_t consumed) {
  Result r;
  r.kind = Result::Kind::command;
  r.consumed = consumed;
  return r;
}

// Splits on spaces (runs of them count as one), at most max tokens; false if there are more.
bool tokenize(std::string_view line, std::vector<std::string_view>& out, std::size_t max) {
  out.clear();
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (out.size() == max) return false;
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return true;
}

bool parse_u32(std::string_view s, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (!parse_u64(s, v) || v > std::numeric_limits<std::uint32_t>::max()) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

struct Table {
  std::string_view name;
  Op op;
};
constexpr std::array<Table, kOps> kTable{{{"get", Op::get},
                                          {"gets", Op::gets},
                                          {"gat", Op::gat},
                                          {"gats", Op::gats},
                                          {"set", Op::set},
                                          {"add", Op::add},
                                          {"replace", Op::replace},
                                          {"append", Op::append},
                                          {"prepend", Op::prepend},
                                          {"cas", Op::cas},
                                          {"delete", Op::del},
                                          {"incr", Op::incr},
                                          {"decr", Op::decr},
                                          {"touch", Op::touch},
                                          {"version", Op::version},
                                          {"stats", Op::stats},
                                          {"quit", Op::quit},
                                          {"flush_all", Op::flush_all},
                                          {"verbosity", Op::verbosity},
                                          {"mg", Op::mg},
                                          {"ms", Op::ms},
                                          {"md", Op::md},
                                          {"ma", Op::ma},
                                          {"mn", Op::mn}}};

bool is_storage(Op op) {
  return op == Op::set || op == Op::add || op == Op::replace || op == Op::append ||
         op == Op::prepend || op == Op::cas;
}

// The data block of a storage command whose line took `line_end` bytes: need_more, too large
// (swallowed), a bad chunk, or the command.
Result data_block(std::string_view buf, std::size_t line_end, std::size_t vlen, const Limits& lim,
                  Command& cmd) {
  if (vlen > lim.max_value) {
    Result r = fail(line_end, Error::too_large, kTooLarge, vlen + 2);
    r.invalidate = true;
    return r;
  }
  if (buf.size() - line_end < vlen + 2) return Result{};  // need_more
  cmd.data = buf.substr(line_end, vlen);
  if (buf[line_end + vlen] != '\r' || buf[line_end + vlen + 1] != '\n')
    return fail(line_end + vlen + 2, Error::bad_data_chunk, kBadChunk);
  return done(line_end + vlen + 2);
}

Result parse_meta_flags(const std::vector<std::string_view>& t, std::size_t first, Op op,
                        std::size_t consumed, Command& cmd, std::size_t swallow) {
  Meta& m = cmd.meta;
  for (std::size_t i = first; i < t.size(); ++i) {
    const char f = t[i][0];
    const std::string_view arg = t[i].substr(1);
    bool ok = true;
    auto ret = [&] {
      if (m.nret < m.ret.size()) m.ret[m.nret++] = f;
    };
    switch (f) {
      case 'q':
        m.q = true;
        break;
      case 'k':
        ret();
        break;
      case 'O':
        if (arg.size() > kMaxOpaque)
          return fail(consumed, Error::invalid_flag, kOpaqueTooLong, swallow);
        m.opaque = arg;
        ret();
        break;
      case 'v':
        ok = op == Op::mg || op == Op::ma;
        m.v = true;
        break;
      case 'c':
        ok = op != Op::md;
        ret();
        break;
      case 'f':
      case 's':
        ok = op == Op::mg;
        ret();
        break;
      case 't':
        ok = op == Op::mg || op == Op::ma;
        ret();
        break;
      case 'T':
        ok = op != Op::md && parse_i64(arg, m.ttl);
        m.has_ttl = true;
        break;
      case 'C':
        ok = op != Op::mg && parse_u64(arg, m.compare);
        m.has_cas = true;
        break;
      case 'F':
        ok = op == Op::ms && parse_u32(arg, m.flags);
        if (op == Op::ms && !ok) return fail(consumed, Error::bad_format, kBadFormat, swallow);
        m.has_flags = true;
        break;
      case 'N':
        ok = op == Op::ma && parse_i64(arg, m.vivify);
        m.has_vivify = true;
        break;
      case 'J':
        ok = op == Op::ma && parse_u64(arg, m.initial);
        break;
      case 'D':
        ok = op == Op::ma && parse_u64(arg, m.delta);
        break;
      case 'M': {
        if (op != Op::ms && op != Op::ma) {
          ok = false;
          break;
        }
        const char c = arg.empty() ? 0 : arg[0];
        if (op == Op::ms) {
          switch (c) {
            case 'S':
            case 's':
              m.mode = 'S';
              break;
            case 'E':
            case 'e':
              m.mode = 'E';
              break;
            case 'A':
            case 'a':
              m.mode = 'A';
              break;
            case 'P':
            case 'p':
              m.mode = 'P';
              break;
            case 'R':
            case 'r':
              m.mode = 'R';
              break;
            default:
              return fail(consumed, Error::invalid_flag, kBadMsMode, swallow);
          }
        } else {
          switch (c) {
            case 'I':
            case 'i':
            case '+':
              m.mode = 'I';
              break;
            case 'D':
            case 'd':
            case '-':
              m.mode = 'D';
              break;
            default:
              return fail(consumed, Error::invalid_flag, kBadMaMode, swallow);
          }
        }
        break;
      }
      default:
        ok = false;
    }
    if (!ok) return fail(consumed, Error::invalid_flag, kInvalidFlag, swallow);
  }
  return done(consumed);
}

}  // namespace

namespace {
// The whole of s as a decimal T (no sign for unsigned, '-' only for signed), at most 20 chars.
template <class T>
bool parse_decimal(std::string_view s, T& out) noexcept {
  if (s.empty() || s.size() > 20 || s[0] == '+') return false;
  T v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return false;
  out = v;
  return true;
}
}  // namespace

bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  return parse_decimal(s, out);
}

bool parse_i64(std::string_view s, std::int64_t& out) noexcept {
  return parse_decimal(s, out);
}

bool parse_counter(std::string_view v, std::uint64_t& out) noexcept {
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  std::size_t i = 0;
  while (i < v.size() && space(v[i])) ++i;
  std::size_t j = i;
  while (j < v.size() && v[j] >= '0' && v[j] <= '9') ++j;
  if (j == i || (j < v.size() && !space(v[j]))) return false;
  std::uint64_t n = 0;
  const auto [p, ec] = std::from_chars(v.data() + i, v.data() + j, n);
  if (ec != std::errc{} || p != v.data() + j) return false;
  out = n;
  return true;
}

std::string counter_value(std::uint64_t v, std::size_t old_len) {
  std::string s = std::to_string(v);
  if (s.size() < old_len) s.append(old_len - s.size(), ' ');
  return s;
}

bool reads_only(const Command& c) noexcept {
  switch (c.op) {
    case Op::get:
    case Op::gets:
      return true;
    case Op::mg:
      return !c.meta.has_ttl;
    default:
      return false;
  }
}

Result parse(std::string_view buf, const Limits& lim, Command& cmd) {
  const std::size_t nl = buf.find('\n');
  if (nl == std::string_view::npos) {
    if (buf.size() > lim.max_line) {
      Result r;
      r.kind = Result::Kind::close;
      r.error = Error::line_too_long;
      return r;
    }
    return Result{};
  }
  if (nl > lim.max_line) {
    Result r;
    r.kind = Result::Kind::close;
    r.error = Error::line_too_long;
    return r;
  }
  std::string_view line = buf.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t end = nl + 1;

  cmd.keys.clear();
  cmd.flags = 0;
  cmd.exptime = 0;
  cmd.cas = 0;
  cmd.delta = 0;
  cmd.data = {};
  cmd.noreply = false;
  cmd.meta = Meta{};

  // The command name first, to know whether the line may hold many keys.
  std::vector<std::string_view>& t = cmd.keys;  // tokens, then rewritten to the keys
  std::size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  std::size_t j = i;
  while (j < line.size() && line[j] != ' ') ++j;
  const std::string_view name = line.substr(i, j - i);
  const Table* entry = nullptr;
  for (const Table& e : kTable)
    if (e.name == name) entry = &e;
  if (entry == nullptr) return fail(end, Error::unknown_command, kErrorLine);
  cmd.op = entry->op;
  const Op op = cmd.op;
  const bool many = op == Op::get || op == Op::gets || op == Op::gat || op == Op::gats;
  if (!tokenize(line.substr(j), t, many ? line.size() : kMaxTokens - 1))
    return fail(end, Error::unknown_command, kErrorLine);
  const std::size_t n = t.size();  // tokens after the name

  auto key_ok = [](std::string_view k) { return k.size() <= kMaxKey; };
  auto noreply_at = [&](std::size_t k) { return n > k && t[k] == "noreply"; };

  switch (op) {
    case Op::get:
    case Op::gets: {
      if (n == 0) return fail(end, Error::unknown_command, kErrorLine);
      for (auto k : t)
        if (!key_ok(k)) return fail(end, Error::key_too_long, kBadFormat);
      return done(end);
    }
    case Op::gat:
    case Op::gats: {
      if (n < 2) return fail(end, Error::unknown_command, kErrorLine);
      if (!parse_i64(t[0], cmd.exptime)) return fail(end, Error::bad_number, kBadExptime);
      t.erase(t.begin());
      for (auto k : t)
        if (!key_ok(k)) return fail(end, Error::key_too_long, kBadFormat);
      return done(end);
    }
    case Op::set:
    case Op::add:
    case Op::replace:
    case Op::append:
    case Op::prepend:
    case Op::cas: {
      const std::size_t need = op == Op::cas ? 5 : 4;
      if (n != need && n != need + 1) return fail(end, Error::unknown_command, kErrorLine);
      if (!key_ok(t[0])) return fail(end, Error::key_too_long, kBadFormat);
      std::int64_t vlen = 0;
      if (!parse_u32(t[1], cmd.flags) || !parse_i64(t[2], cmd.exptime) || !parse_i64(t[3], vlen) ||
          vlen < 0 || vlen > std::numeric_limits<std::int32_t>::max() - 2)
        return fail(end, Error::bad_format, kBadFormat);
      if (op == Op::cas && !parse_u64(t[4], cmd.cas))
        return fail(end, Error::bad_format, kBadFormat);
      cmd.noreply = noreply_at(need);
      t.resize(1);
      return data_block(buf, end, static_cast<std::size_t>(vlen), lim, cmd);
    }
    case Op::del: {
      if (n < 1 || n > 3) return fail(end, Error::unknown_command, kErrorLine);
      if (!key_ok(t[0])) return fail(end, Error::key_too_long, kBadFormat);
      const bool valid = n == 1 || (n == 2 && (t[1] == "0" || t[1] == "noreply")) ||
                         (n == 3 && t[1] == "0" && t[2] == "noreply");
      if (!valid) return fail(end, Error::bad_format, kBadDelete);
      cmd.noreply = t[n - 1] == "noreply";
      t.resize(1);
      return done(end);
    }
    case Op::incr:
    case Op::decr: {
      if (n != 2 && n != 3) return fail(end, Error::unknown_command, kErrorLine);
      if (!key_ok(t[0])) return fail(end, Error::key_too_long, kBadFormat);
      if (!parse_u64(t[1], cmd.delta)) return fail(end, Error::bad_number, kBadDelta);
      cmd.noreply = noreply_at(2);
      t.resize(1);
      return done(end);
    }
    case Op::touch: {
      if (n != 2 && n != 3) return fail(end, Error::unknown_command, kErrorLine);
      if (!key_ok(t[0])) return fail(end, Error::key_too_long, kBadFormat);
      if (!parse_i64(t[1], cmd.exptime)) return fail(end, Error::bad_number, kBadExptime);
      cmd.noreply = noreply_at(2);
      t.resize(1);
      return done(end);
    }
    case Op::version:
    case Op::mn:
    case Op::quit:
      t.clear();
      if (op == Op::quit) {
        Result r = done(end);
        r.kind = Result::Kind::close;
        return r;
      }
      return done(end);
    case Op::stats:
      if (n != 0) return fail(end, Error::unknown_command, kErrorLine);
      return done(end);
    case Op::flush_all: {
      if (n > 2) return fail(end, Error::unknown_command, kErrorLine);
      cmd.noreply = n > 0 && t[n - 1] == "noreply";
      const std::size_t args = n - (cmd.noreply ? 1 : 0);
      if (args == 1 && !parse_i64(t[0], cmd.exptime))
        return fail(end, Error::bad_number, kBadExptime);
      if (args > 1) return fail(end, Error::unknown_command, kErrorLine);
      t.clear();
      return done(end);
    }
    case Op::verbosity: {
      if (n != 1 && n != 2) return fail(end, Error::unknown_command, kErrorLine);
      std::uint32_t level = 0;
      if (!parse_u32(t[0], level)) return fail(end, Error::bad_format, kBadFormat);
      cmd.noreply = noreply_at(1);
      t.clear();
      return done(end);
    }
    case Op::mg:
    case Op::md:
    case Op::ma: {
      if (n == 0)
        return fail(end, op == Op::mg ? Error::unknown_command : Error::bad_format,
                    op == Op::mg ? kErrorLine : kBadFormat);
      if (!key_ok(t[0])) return fail(end, Error::key_too_long, kBadFormat);
      const std::vector<std::string_view> all = t;
      t.resize(1);
      return parse_meta_flags(all, 1, op, end, cmd, 0);
    }
    case Op::ms: {
      if (n < 2) return fail(end, Error::bad_format, kBadFormat);
      if (!key_ok(t[0])) return fail(end, Error::key_too_long, kBadFormat);
      std::int64_t vlen = 0;
      if (!parse_i64(t[1], vlen) || vlen < 0 || vlen > std::numeric_limits<std::int32_t>::max() - 2)
        return fail(end, Error::bad_format, kBadFormat);
      const auto v = static_cast<std::size_t>(vlen);
      const std::vector<std::string_view> all = t;
      t.resize(1);
      if (v > lim.max_value) {
        Result r = fail(end, Error::too_large, kTooLarge, v + 2);
        r.invalidate = true;
        return r;
      }
      Result r = parse_meta_flags(all, 2, op, end, cmd, v + 2);
      if (r.kind != Result::Kind::command) return r;
      cmd.meta.mode = cmd.meta.mode == 0 ? 'S' : cmd.meta.mode;
      return data_block(buf, end, v, lim, cmd);
    }
  }
  (void)is_storage;
  return fail(end, Error::unknown_command, kErrorLine);
}

void write_line(std::string& out, std::string_view line) {
  out.append(line);
  out.append("\r\n");
}

void write_value(std::string& out, std::string_view key, std::uint32_t flags,
                 std::string_view data) {
  out.append("VALUE ");
  out.append(key);
  out.push_back(' ');
  out.append(std::to_string(flags));
  out.push_back(' ');
  out.append(std::to_string(data.size()));
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
}

void write_value_cas(std::string& out, std::string_view key, std::uint32_t flags,
                     std::string_view data, std::uint64_t cas) {
  out.append("VALUE ");
  out.append(key);
  out.push_back(' ');
  out.append(std::to_string(flags));
  out.push_back(' ');
  out.append(std::to_string(data.size()));
  out.push_back(' ');
  out.append(std::to_string(cas));
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
}

void write_meta(std::string& out, std::string_view code, const Meta& m, const ItemInfo& it,
                std::string_view data) {
  const bool va = code == "VA";
  const bool hit = va || code == "HD";
  out.append(code);
  if (va) {
    out.push_back(' ');
    out.append(std::to_string(data.size()));
  }
  for (std::size_t i = 0; i < m.nret; ++i) {
    const char f = m.ret[i];
    if (!hit && f != 'k' && f != 'O') continue;
    out.push_back(' ');
    out.push_back(f);
    switch (f) {
      case 'k':
        out.append(it.key);
        break;
      case 'O':
        out.append(m.opaque);
        break;
      case 'c':
        out.append(std::to_string(it.cas));
        break;
      case 'f':
        out.append(std::to_string(it.flags));
        break;
      case 's':
        out.append(std::to_string(it.size));
        break;
      case 't':
        out.append(std::to_string(it.ttl));
        break;
      default:
        break;
    }
  }
  out.append("\r\n");
  if (va) {
    out.append(data);
    out.append("\r\n");
  }
}

}  // namespace buddy::kv::wire::mc
