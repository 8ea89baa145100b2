// Field tables: a statistics struct names each field once, in one static member function that
// hands every field, with its name, to a visitor, for one or more instances at a time:
//
//   struct Tally {
//     std::uint64_t hits = 0;
//     double busy_s = 0;
//     std::array<std::uint64_t, 3> ops{};
//     template <class F, class... S>
//     static constexpr void fields(F&& f, S&&... s) {
//       f("hits", s.hits...);
//       f(base::Field("busy_s").fixed(3), s.busy_s...);
//       f(base::Field("ops").each(kOpNames), s.ops...);   // a nested object {"get":..,..}
//       f(base::Field("stage_ms").per(1e6), s.stage_ns...);  // shown in ms, kept in ns
//     }
//   };
//
// From that one list: add_fields (a += b, field by field), write_fields (JSON members),
// text_fields (name=value text; write_field and text_field for one field), for_each_number (every
// number in order, e.g. to reduce them over MPI) and field_words (how many 64-bit words the table
// covers, so a static_assert catches a member missing from it). Fields are unsigned integers,
// doubles, or std::arrays of them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "buddy/base/json.hpp"

namespace buddy::base {

// How a field is named and shown.
struct Field {
  std::string_view key;                       // JSON key and text label
  std::span<const std::string_view> names{};  // arrays: element i is member names[i] ("": left out)
  double unit = 0;                            // != 0: shown as the value / unit, a double
  int digits = -1;                            // doubles: digits after the point (-1: shortest)

  constexpr Field(const char* k) : key(k) {}  // NOLINT(google-explicit-constructor): f("name", ..)
  constexpr Field(std::string_view k) : key(k) {}
  constexpr Field each(std::span<const std::string_view> n) const {
    Field f = *this;
    f.names = n;
    return f;
  }
  constexpr Field per(double u) const {  // e.g. per(1e6): nanoseconds shown as milliseconds
    Field f = *this;
    f.unit = u;
    return f;
  }
  constexpr Field fixed(int d) const {
    Field f = *this;
    f.digits = d;
    return f;
  }
};

// The names of an enum's values 0..N-1, from its to_string().
template <class E, std::size_t N>
constexpr std::array<std::string_view, N> enum_names() {
  std::array<std::string_view, N> a{};
  for (std::size_t i = 0; i < N; ++i) a[i] = to_string(static_cast<E>(i));
  return a;
}

namespace detail {
template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
constexpr void add(T& a, const T& b) {
  if constexpr (is_std_array<T>::value) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  } else {
    a += b;
  }
}

template <class T>
constexpr std::size_t words(const T& x) {
  if constexpr (is_std_array<T>::value) {
    return x.size() * sizeof(typename T::value_type) / 8;
  } else {
    return sizeof(T) / 8;
  }
}

template <class T>
void write_number(json::Writer& w, const Field& f, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    const double d = f.unit != 0 ? v / f.unit : v;
    f.digits >= 0 ? w.value(json::Fixed{d, f.digits}) : w.value(d);
  } else if (f.unit != 0) {
    const double d = static_cast<double>(v) / f.unit;
    f.digits >= 0 ? w.value(json::Fixed{d, f.digits}) : w.value(d);
  } else {
    w.value(v);
  }
}

// A number as text written the way JSON shows it.
template <class T>
std::string number_text(const Field& f, T v) {
  json::Writer w;
  write_number(w, f, v);
  return w.take();
}
}  // namespace detail

// One field as a member of the object w is writing: a number, or an array as a nested object
// (with names) or a JSON array (without).
template <class T>
void write_field(json::Writer& w, const Field& f, const T& x) {
  w.key(f.key);
  if constexpr (detail::is_std_array<T>::value) {
    if (f.names.empty()) {
      w.begin_array();
      for (const auto& v : x) detail::write_number(w, f, v);
      w.end_array();
    } else {
      w.begin_object();
      for (std::size_t i = 0; i < x.size() && i < f.names.size(); ++i) {
        if (f.names[i].empty()) continue;
        w.key(f.names[i]);
        detail::write_number(w, f, x[i]);
      }
      w.end_object();
    }
  } else {
    detail::write_number(w, f, x);
  }
}

// One field as text: "key=value", or for an array "key: name=value name=value ...".
template <class T>
std::string text_field(const Field& f, const T& x) {
  std::string s(f.key);
  if constexpr (detail::is_std_array<T>::value) {
    s += ':';
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::string_view n = i < f.names.size() ? f.names[i] : std::string_view{};
      if (!f.names.empty() && n.empty()) continue;
      s += ' ';
      s += f.names.empty() ? std::to_string(i) : std::string(n);
      s += '=';
      s += detail::number_text(f, x[i]);
    }
  } else {
    s += '=';
    s += detail::number_text(f, x);
  }
  return s;
}

// a += b, field by field (arrays element by element).
template <class S>
constexpr void add_fields(S& a, const S& b) {
  S::fields([](const Field&, auto& x, const auto& y) { detail::add(x, y); }, a, b);
}

// Every field of s as members of the object w is writing.
template <class S>
void write_fields(json::Writer& w, const S& s) {
  S::fields([&w](const Field& f, const auto& x) { write_field(w, f, x); }, s);
}

// s as one JSON object.
template <class S>
std::string json_object(const S& s) {
  json::Writer w;
  w.begin_object();
  write_fields(w, s);
  w.end_object();
  return w.take();
}

// s as text: the scalar fields as "name=value" separated by spaces on the first line, then one
// line per array field, "name: element=value ...". Lines end with '\n'.
template <class S>
std::string text_fields(const S& s) {
  std::string scalars, arrays;
  S::fields(
      [&](const Field& f, const auto& x) {
        if constexpr (detail::is_std_array<std::remove_cvref_t<decltype(x)>>::value) {
          arrays += text_field(f, x);
          arrays += '\n';
        } else {
          if (!scalars.empty()) scalars += ' ';
          scalars += text_field(f, x);
        }
      },
      s);
  return scalars.empty() ? arrays : scalars + "\n" + arrays;
}

// Calls f(value) for every number of s in table order (arrays element by element), with a
// mutable reference when s is mutable: to pack the fields for a reduction and unpack them.
template <class S, class F>
constexpr void for_each_number(S& s, F&& f) {
  std::remove_const_t<S>::fields(
      [&f](const Field&, auto& x) {
        using T = std::remove_cvref_t<decltype(x)>;
        if constexpr (detail::is_std_array<T>::value) {
          for (auto& v : x) f(v);
        } else {
          f(x);
        }
      },
      s);
}

// How many 64-bit words the table of S covers: equal to sizeof(S) / 8 when it names every member
// of a struct of 64-bit fields.
template <class S>
constexpr std::size_t field_words() {
  S s{};
  std::size_t n = 0;
  S::fields([&n](const Field&, const auto& x) { n += detail::words(x); }, s);
  return n;
}

}  // namespace buddy::base
