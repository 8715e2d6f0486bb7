#include "engine/serve/text_stream.h"

#include <gtest/gtest.h>

namespace ember {
namespace {

TEST(StopMatcher, HoldsBackPossibleStopPrefixAndCutsAtTheStop) {
  StopMatcher m({"STOP", "\n\n"});
  auto a = m.push("Hel");
  EXPECT_EQ(a.text, "Hel");
  auto b = m.push("lo ST");  // "ST" may start "STOP": held
  EXPECT_EQ(b.text, "lo ");
  EXPECT_FALSE(b.stopped);
  auto c = m.push("OP more");
  EXPECT_TRUE(c.stopped);
  EXPECT_EQ(c.text, "");
  StopMatcher n({"STOP"});
  EXPECT_EQ(n.push("a ST").text, "a ");
  EXPECT_EQ(n.push("ART").text, "START");  // not a stop after all: released
  EXPECT_EQ(n.push("x S").text, "x ");
  EXPECT_EQ(n.flush(), "S");  // end of completion: the held text is the client's
}

TEST(StopMatcher, EarliestStopWins) {
  StopMatcher m({"cd", "b"});
  auto r = m.push("abcd");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");
}

TEST(StopMatcher, IncludeStopKeepsTheMatchedStringAndPrefersTheLongestAtOnePlace) {
  StopMatcher m({"ab", "abc"}, /*include_stop=*/true);
  auto o = m.push("xxabcd");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.text, "xxabc");
  StopMatcher cut({"ab", "abc"});
  EXPECT_EQ(cut.push("xxabcd").text, "xx");
}

TEST(Utf8, DetectsIncompleteTails) {
  EXPECT_FALSE(ends_incomplete_utf8("abc"));
  EXPECT_FALSE(ends_incomplete_utf8("\xC3\xA9"));   // é
  EXPECT_TRUE(ends_incomplete_utf8("a\xC3"));
  EXPECT_TRUE(ends_incomplete_utf8("a\xE2\x82"));   // first 2 bytes of €
  EXPECT_FALSE(ends_incomplete_utf8("a\xE2\x82\xAC"));
  EXPECT_TRUE(ends_incomplete_utf8("a\xF0\x9F\x98"));
  EXPECT_TRUE(ends_incomplete_utf8("x\xEF\xBF\xBD"));  // U+FFFD
}

// Ids are bytes: a multi-byte character spans tokens, and decode of a partial one shows U+FFFD
// the way real tokenizers do.
class ByteCodec : public TextCodec {
 public:
  std::vector<int32_t> encode_chat(const std::vector<ChatMessage>& m) override {
    std::vector<int32_t> ids;
    for (auto& x : m)
      for (unsigned char c : x.content) ids.push_back(c);
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) override {
    std::string s;
    for (int32_t i : ids) s += char(i);
    if (ends_incomplete_utf8(s)) {
      while (!s.empty() && (uint8_t(s.back()) & 0x80)) s.pop_back();
      s += "\xEF\xBF\xBD";
    }
    return s;
  }
};

TEST(TextStream, StreamsWholeCharactersAndMatchesFullDecode) {
  ByteCodec codec;
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80!";
  std::vector<int32_t> prompt = {'>', ' '};
  TextStream ts(codec, prompt, {});
  std::string out;
  for (unsigned char c : text) {
    auto o = ts.push(c);
    EXPECT_FALSE(ends_incomplete_utf8(o.text)) << "emitted half a character";
    out += o.text;
  }
  out += ts.flush();
  EXPECT_EQ(out, text);
}

TEST(TextStream, StopStringAcrossTokensIsNotEmitted) {
  ByteCodec codec;
  TextStream ts(codec, {}, {"END"});
  std::string out;
  bool stopped = false;
  for (char c : std::string("abc EN")) out += ts.push(c).text;
  EXPECT_EQ(out, "abc ");
  auto o = ts.push('D');
  stopped = o.stopped;
  out += o.text;
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out + ts.flush(), "abc ");
}

}  // namespace
}  // namespace ember
