// The JSON writer: escaping, nesting and commas, numbers, misuse.
#include "buddy/base/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

using buddy::base::json::Fixed;
using buddy::base::json::quote;
using buddy::base::json::Writer;

TEST(Json, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(quote("plain"), "\"plain\"");
  EXPECT_EQ(quote("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(quote("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(quote("line\nnext\ttab\r"), "\"line\\u000anext\\u0009tab\\u000d\"");
  EXPECT_EQ(quote(std::string("nul\0byte", 8)), "\"nul\\u0000byte\"");
  EXPECT_EQ(quote("\x1f\x7f"), "\"\\u001f\x7f\"");  // DEL needs no escape
  EXPECT_EQ(quote("/"), "\"/\"");
  // UTF-8 is kept byte for byte.
  EXPECT_EQ(quote("h\xc3\xa9llo \xe2\x82\xac"), "\"h\xc3\xa9llo \xe2\x82\xac\"");
}

TEST(Json, EscapesKeysToo) {
  Writer w;
  w.begin_object().member("we\"ird\x01key", 1).end_object();
  EXPECT_EQ(w.str(), "{\"we\\\"ird\\u0001key\":1}");
}

TEST(Json, NestsWithCommasInTheRightPlaces) {
  Writer w;
  w.begin_object();
  w.member("a", 1);
  w.key("o").begin_object().member("x", "y").key("e").begin_object().end_object().end_object();
  w.key("l").begin_array().value(1).value(true).null().begin_array().end_array();
  w.begin_object().member("k", false).end_object().end_array();
  w.raw_member("r", "[1,2]");
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(w.str(),
            "{\"a\":1,\"o\":{\"x\":\"y\",\"e\":{}},\"l\":[1,true,null,[],{\"k\":false}],"
            "\"r\":[1,2]}");
}

TEST(Json, Integers) {
  Writer w;
  w.begin_array().value(0).value(-1).value(std::numeric_limits<std::int64_t>::min());
  w.value(std::numeric_limits<std::uint64_t>::max()).value(std::uint16_t{65535}).end_array();
  EXPECT_EQ(w.str(), "[0,-1,-9223372036854775808,18446744073709551615,65535]");
}

TEST(Json, DoublesShortestRoundTripOrFixed) {
  Writer w;
  w.begin_array().value(0.1).value(1.0).value(-2.5).value(1e-5).value(1.0 / 3).value(1e300);
  w.value(Fixed{0.25, 3}).value(Fixed{2.0 / 3, 4}).value(Fixed{12.5, 0}).value(Fixed{-0.0001, 2});
  w.end_array();
  EXPECT_EQ(w.str(), "[0.1,1,-2.5,1e-05,0.3333333333333333,1e+300,0.250,0.6667,12,-0.00]");
}

TEST(Json, NonFiniteDoublesAreNull) {
  Writer w;
  const double inf = std::numeric_limits<double>::infinity();
  w.begin_array().value(std::nan("")).value(inf).value(-inf).value(Fixed{inf, 2});
  w.value(Fixed{std::nan(""), 1}).end_array();
  EXPECT_EQ(w.str(), "[null,null,null,null,null]");
}

TEST(Json, TopLevelScalarsAndTake) {
  Writer w;
  w.value("x");
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(w.take(), "\"x\"");
}

TEST(Json, MisuseThrows) {
  {
    Writer w;
    w.begin_object();
    EXPECT_THROW(w.value(1), std::logic_error);  // no key
  }
  {
    Writer w;
    w.begin_array();
    EXPECT_THROW(w.key("k"), std::logic_error);  // key in an array
    EXPECT_THROW(w.end_object(), std::logic_error);
  }
  {
    Writer w;
    w.begin_object().key("k");
    EXPECT_THROW(w.key("k2"), std::logic_error);
    EXPECT_THROW(w.end_object(), std::logic_error);  // key without value
  }
  {
    Writer w;
    w.value(1);
    EXPECT_THROW(w.value(2), std::logic_error);  // two top-level values
    EXPECT_THROW(w.end_array(), std::logic_error);
  }
  {
    Writer w;
    for (int i = 0; i < 64; ++i) w.begin_array();
    EXPECT_THROW(w.begin_array(), std::logic_error);
  }
  {
    Writer w;
    w.begin_array();
    EXPECT_THROW(w.value(Fixed{1.0, 18}), std::logic_error);
    EXPECT_FALSE(w.complete());
  }
}
