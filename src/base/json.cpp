#include "buddy/base/json.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace buddy::base::json {

namespace {
constexpr unsigned kMaxDepth = 64;

[[noreturn]] void misuse(const char* what) {
  throw std::logic_error(std::string("json::Writer: ") + what);
}

bool needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}
}  // namespace

void escape_to(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c)) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      const char u[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      out.append(u, sizeof u);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  escape_to(out, s);
  out += '"';
  return out;
}

void Writer::before_value() {
  if (depth_ > 0) {
    const bool in_object = (objects_ >> (depth_ - 1)) & 1;
    if (in_object && !after_key_) misuse("a value in an object needs a key first");
  } else if (!out_.empty()) {
    misuse("a second top-level value");
  }
  if (comma_ && !after_key_) out_ += ',';
  after_key_ = false;
  comma_ = true;
}

void Writer::open(char c, bool object) {
  before_value();
  if (depth_ == kMaxDepth) misuse("more than 64 levels");
  if (object) {
    objects_ |= std::uint64_t{1} << depth_;
  } else {
    objects_ &= ~(std::uint64_t{1} << depth_);
  }
  ++depth_;
  out_ += c;
  comma_ = false;
}

void Writer::close(char c, bool object) {
  if (depth_ == 0 || static_cast<bool>((objects_ >> (depth_ - 1)) & 1) != object) {
    misuse(object ? "end_object() without an open object" : "end_array() without an open array");
  }
  if (after_key_) misuse("a key without a value");
  --depth_;
  out_ += c;
  comma_ = true;
}

Writer& Writer::begin_object() {
  open('{', true);
  return *this;
}
Writer& Writer::end_object() {
  close('}', true);
  return *this;
}
Writer& Writer::begin_array() {
  open('[', false);
  return *this;
}
Writer& Writer::end_array() {
  close(']', false);
  return *this;
}

Writer& Writer::key(std::string_view k) {
  if (depth_ == 0 || ((objects_ >> (depth_ - 1)) & 1) == 0) misuse("a key outside an object");
  if (after_key_) misuse("two keys in a row");
  if (comma_) out_ += ',';
  out_ += '"';
  escape_to(out_, k);
  out_ += "\":";
  after_key_ = true;
  return *this;
}

Writer& Writer::value(std::string_view s) {
  before_value();
  out_ += '"';
  escape_to(out_, s);
  out_ += '"';
  return *this;
}

Writer& Writer::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

Writer& Writer::null() {
  before_value();
  out_ += "null";
  return *this;
}

Writer& Writer::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

Writer& Writer::signed_value(std::int64_t v) {
  before_value();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

Writer& Writer::unsigned_value(std::uint64_t v) {
  before_value();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

Writer& Writer::value(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  char buf[32];  // the shortest round-trip form of any double fits in 24 characters
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

Writer& Writer::value(Fixed f) {
  if (!std::isfinite(f.value)) return null();
  if (f.digits < 0 || f.digits > 17) misuse("Fixed digits outside 0..17");
  char buf[352];  // DBL_MAX has 309 digits before the point
  const auto r = std::to_chars(buf, buf + sizeof buf, f.value, std::chars_format::fixed, f.digits);
  if (r.ec != std::errc()) misuse("Fixed value does not fit");
  before_value();
  out_.append(buf, r.ptr);
  return *this;
}

}  // namespace buddy::base::json
