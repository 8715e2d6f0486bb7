#include "engine/core/json_text.h"

#include <limits>

#include <gtest/gtest.h>

namespace ember::json {
namespace {

TEST(JsonText, QuoteEscapesWhatJsonRequires) {
  EXPECT_EQ(quote("plain"), "\"plain\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  // Other control characters and DEL as \u00xx with lowercase hex.
  EXPECT_EQ(quote(std::string_view("\x01\x1f\x7f\0", 4)), "\"\\u0001\\u001f\\u007f\\u0000\"");
  EXPECT_EQ(quote("/ <tag>"), "\"/ <tag>\"");
}

TEST(JsonText, ValidUtf8PassesThroughAndInvalidBytesBecomeReplacementChars) {
  EXPECT_EQ(quote("h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  EXPECT_EQ(quote("a\xFF" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(quote("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");      // overlong
  EXPECT_EQ(quote("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  EXPECT_EQ(quote("x\xE2\x82"), "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");    // truncated at the end
}

TEST(JsonText, AppendStringAppends) {
  std::string out = "[";
  append_string(out, "a");
  out += ",";
  append_string(out, "");
  EXPECT_EQ(out, "[\"a\",\"\"");
}

TEST(JsonText, NumbersRoundTripAndLookLikePythonFloats) {
  EXPECT_EQ(number(12.0), "12.0");
  EXPECT_EQ(number(0.1), "0.1");
  EXPECT_EQ(number(-2.5), "-2.5");
  EXPECT_EQ(number(1e300), "1e+300");
  EXPECT_EQ(number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(number(std::numeric_limits<double>::quiet_NaN()), "null");
}

TEST(JsonText, CompletePrefixNeverEndsInsideASequence) {
  EXPECT_EQ(utf8_complete_prefix(""), 0u);
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("a\xC3"), 1u);
  EXPECT_EQ(utf8_complete_prefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(utf8_complete_prefix("a\xE2\x82"), 1u);
  EXPECT_EQ(utf8_complete_prefix("a\xF0\x9F\x98"), 1u);
  EXPECT_EQ(utf8_complete_prefix("a\xF0\x9F\x98\x80"), 5u);
  EXPECT_EQ(utf8_complete_prefix("a\xFF"), 2u);  // invalid: passed on for the escaper to repair
}

}  // namespace
}  // namespace ember::json
