// Prints one JSON object with every kind of value the writer makes, for json_roundtrip.py,
// which reads it with python3's json module and checks each value.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "buddy/base/json.hpp"

int main() {
  using buddy::base::json::Fixed;
  buddy::base::json::Writer w;
  std::string every_control;
  for (int c = 0; c < 0x20; ++c) every_control += static_cast<char>(c);
  w.begin_object();
  w.member("controls", every_control);
  w.member("quote\"and\\backslash", "\"\\/");
  w.member("utf8", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  w.member("u64_max", std::numeric_limits<std::uint64_t>::max());
  w.member("i64_min", std::numeric_limits<std::int64_t>::min());
  w.key("doubles").begin_array();
  for (double d : {0.1, 1.0 / 3, 1e-300, 1.7976931348623157e308, -2.5e-7, 123456789.125}) {
    w.value(d);
  }
  w.end_array();
  w.member("fixed", Fixed{3.14159, 2});
  w.member("nan", std::nan(""));
  w.member("inf", std::numeric_limits<double>::infinity());
  w.key("nested").begin_object().key("a").begin_array().begin_object().end_object();
  w.value(false).end_array().end_object();
  w.end_object();
  std::printf("%s\n", w.str().c_str());
}
