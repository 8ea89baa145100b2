// One JSON writer for every JSON the project prints or sends: STATS, the --json lines of tools,
// apps and benchmarks. Compact output (no spaces), members in the order they are written.
//
//   base::json::Writer w;
//   w.begin_object().member("design", "sav").member("requests", 12u);
//   w.key("ops").begin_object().member("get", 10u).end_object();
//   w.member("cpu_s", base::json::Fixed{0.25, 3}).end_object();
//   w.str();   // {"design":"sav","requests":12,"ops":{"get":10},"cpu_s":0.250}
//
// Strings (keys and values) are escaped in full: '"' and '\' with a backslash, every control
// character (U+0000..U+001F) as \u00XX; all other bytes, UTF-8 sequences included, are copied as
// they are (the writer does not check that they are valid UTF-8).
// Numbers: integers exactly; doubles either shortest round-trip (std::to_chars: the fewest
// digits that read back as the same double, e.g. 0.1, 1e-05, 12345.678) or, with Fixed, a fixed
// number of digits after the point ("%.*f"), for figures whose precision is a choice. NaN and
// infinities, which JSON cannot express, are written as null.
// Misuse (a value where a key is due, a key outside an object, closing what is not open, more
// than 64 levels) throws std::logic_error: it is a bug in the caller, never a property of data.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace buddy::base::json {

// A double with `digits` digits after the point (0..17).
struct Fixed {
  double value = 0;
  int digits = 6;
};

class Writer {
 public:
  Writer() = default;
  explicit Writer(std::size_t reserve) { out_.reserve(reserve); }

  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);  // in an object, before each value

  Writer& value(std::string_view s);
  Writer& value(const char* s) { return value(std::string_view(s)); }
  Writer& value(const std::string& s) { return value(std::string_view(s)); }
  Writer& value(bool b);
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) Writer& value(T v) {
    if constexpr (std::is_signed_v<T>) {
      return signed_value(static_cast<std::int64_t>(v));
    } else {
      return unsigned_value(static_cast<std::uint64_t>(v));
    }
  }
  Writer& value(double v);  // shortest round-trip; NaN, inf: null
  Writer& value(Fixed f);   // fixed digits; NaN, inf: null
  Writer& null();
  // A JSON value produced elsewhere (e.g. by another Writer), inserted as it is.
  Writer& raw(std::string_view json);

  template <class T>
  Writer& member(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  Writer& raw_member(std::string_view k, std::string_view json) {
    key(k);
    return raw(json);
  }

  // Every object and array closed (and something written).
  bool complete() const noexcept { return depth_ == 0 && !out_.empty(); }
  std::size_t size() const noexcept { return out_.size(); }
  const std::string& str() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

 private:
  void before_value();
  Writer& signed_value(std::int64_t v);
  Writer& unsigned_value(std::uint64_t v);
  void open(char c, bool object);
  void close(char c, bool object);

  std::string out_;
  std::uint64_t objects_ = 0;  // bit d set: nesting level d is an object (else an array)
  unsigned depth_ = 0;
  bool comma_ = false;      // the next member or element needs a ',' first
  bool after_key_ = false;  // a key was written, its value is due
};

// s as a JSON string, quotes included ("a\"b").
std::string quote(std::string_view s);
// Appends s escaped (without the quotes) to out.
void escape_to(std::string& out, std::string_view s);

}  // namespace buddy::base::json
