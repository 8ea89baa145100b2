#include "buddy/kv/registry/json_value.hpp"

#include <charconv>

namespace buddy::kv::registry {

namespace {

constexpr int kMaxDepth = 32;

struct Reader {
  std::string_view s;
  std::size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool string(std::string& out) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) return false;
      c = s[i++];
      switch (c) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          unsigned cp = 0;
          if (i + 4 > s.size()) return false;
          const auto r = std::from_chars(s.data() + i, s.data() + i + 4, cp, 16);
          if (r.ptr != s.data() + i + 4) return false;
          i += 4;
          if (cp < 0x80) {  // what the registry writes; others as UTF-8
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          }
          break;
        }
        default:
          out += c;  // " \ /
      }
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  }
  bool value(JsonValue& v, int depth) {
    if (depth > kMaxDepth) return false;
    ws();
    if (i >= s.size()) return false;
    const char c = s[i];
    if (c == '{') {
      v.kind = JsonValue::Kind::object;
      ++i;
      ws();
      if (i < s.size() && s[i] == '}') return ++i, true;
      for (;;) {
        ws();
        std::string k;
        if (!string(k)) return false;
        ws();
        if (i >= s.size() || s[i++] != ':') return false;
        JsonValue m;
        if (!value(m, depth + 1)) return false;
        v.members[k] = std::move(m);
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}') return ++i, true;
        return false;
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Kind::array;
      ++i;
      ws();
      if (i < s.size() && s[i] == ']') return ++i, true;
      for (;;) {
        JsonValue m;
        if (!value(m, depth + 1)) return false;
        v.items.push_back(std::move(m));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']') return ++i, true;
        return false;
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::string;
      return string(v.str);
    }
    if (lit("true")) return v.kind = JsonValue::Kind::boolean, v.b = true, true;
    if (lit("false")) return v.kind = JsonValue::Kind::boolean, true;
    if (lit("null")) return true;
    const std::size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '-' ||
                            s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E')) {
      ++i;
    }
    if (i == start) return false;
    v.kind = JsonValue::Kind::number;
    v.str = std::string(s.substr(start, i - start));
    return true;
  }
};

int b64(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

const JsonValue* JsonValue::get(std::string_view k) const {
  const auto it = members.find(k);
  return it != members.end() ? &it->second : nullptr;
}

std::optional<std::int64_t> JsonValue::integer() const {
  if (kind != Kind::number && kind != Kind::string) return std::nullopt;
  std::int64_t v = 0;
  const auto r = std::from_chars(str.data(), str.data() + str.size(), v);
  if (r.ec != std::errc{} || r.ptr != str.data() + str.size()) return std::nullopt;
  return v;
}

std::optional<JsonValue> parse_json(std::string_view text) {
  Reader r{text};
  JsonValue v;
  if (!r.value(v, 0)) return std::nullopt;
  r.ws();
  if (r.i != text.size()) return std::nullopt;
  return v;
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    unsigned v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      int d = 0;
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
      } else if (pad > 0 || (d = b64(c)) < 0) {
        return std::nullopt;
      }
      v = v << 6 | static_cast<unsigned>(d);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

}  // namespace buddy::kv::registry
