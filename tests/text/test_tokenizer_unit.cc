// Small in-memory tokenizers pin down the rules: merge order by rank, byte fallback and unk,
// Split behaviours, added-token stripping, and long words.
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/text/pretokenizer.h"
#include "engine/text/tokenizer.h"

namespace ember {
namespace {

using Ids = std::vector<int32_t>;

std::string bpe_json(const std::string& merges, const std::string& extra = "") {
  return R"({"model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
    "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "abc": 6, "<0x7A>": 7, "<0xC3>": 8},
    "merges": )" + merges + "}" + extra + "}";
}

TEST(Bpe, LowestRankMergesFirst) {
  const Tokenizer bc_first = Tokenizer::from_json(bpe_json(R"(["b c", "a b", "a bc"])"));
  EXPECT_EQ(bc_first.encode("abc"), Ids{6});
  EXPECT_EQ(bc_first.encode("abab"), (Ids{4, 4}));
  const Tokenizer no_abc = Tokenizer::from_json(bpe_json(R"(["b c", "a b"])"));
  EXPECT_EQ(no_abc.encode("abc"), (Ids{1, 5}));
  const Tokenizer ab_first = Tokenizer::from_json(bpe_json(R"([["a", "b"], ["b", "c"]])"));
  EXPECT_EQ(ab_first.encode("abc"), (Ids{4, 3}));
}

TEST(Bpe, ByteFallbackThenUnk) {
  const Tokenizer tok = Tokenizer::from_json(bpe_json("[]"));
  EXPECT_EQ(tok.encode("z"), Ids{7});  // <0x7A>
  // "é" is C3 A9: <0xA9> is missing, so the whole character is unknown; unknowns fuse.
  EXPECT_EQ(tok.encode("aéé"), (Ids{1, 0}));
}

TEST(Bpe, LongWordIsLinearithmic) {
  const Tokenizer tok = Tokenizer::from_json(bpe_json(R"(["a b", "b c", "ab c"])"));
  std::string s;
  for (int i = 0; i < 200000; ++i) s += "abc";
  const Ids ids = tok.encode(s);
  ASSERT_EQ(ids.size(), 200000u);
  EXPECT_EQ(ids.front(), 6);
  EXPECT_EQ(ids.back(), 6);
}

TEST(Bpe, MergeOfUnknownTokenIsAnError) {
  EXPECT_THROW(Tokenizer::from_json(bpe_json(R"(["a q"])")), Error);
}

TEST(AddedTokens, LstripRstripAndParseSpecial) {
  const std::string extra = R"(, "added_tokens": [
    {"id": 9, "content": "<m>", "special": true, "lstrip": true, "rstrip": true, "single_word": false, "normalized": false},
    {"id": 10, "content": "<n>", "special": false, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false}])";
  const Tokenizer tok = Tokenizer::from_json(bpe_json("[]", extra));
  EXPECT_EQ(tok.encode("a <m> b", {.parse_special = true}), (Ids{1, 9, 2}));
  EXPECT_EQ(tok.encode("a<n>b"), (Ids{1, 10, 2}));  // not special: always matched
  EXPECT_EQ(tok.encode("<m>"), (Ids{0}));            // special, not parsed: plain text
  EXPECT_EQ(tok.decode(Ids{1, 9, 2}, {.skip_special = true}), "ab");
  EXPECT_TRUE(tok.is_special(9));
  EXPECT_FALSE(tok.is_special(10));
}

std::vector<std::string> split(const char* behavior, std::string_view text) {
  text::PreTokenizer pt;
  text::PreTokenizerStep st;
  st.kind = text::PreTokenizerStep::Kind::Split;
  st.regex = std::make_shared<text::Regex>("-", "test");
  const std::string b = behavior;
  st.behavior = b == "Removed" ? text::SplitBehavior::Removed
              : b == "Isolated" ? text::SplitBehavior::Isolated
              : b == "MergedWithPrevious" ? text::SplitBehavior::MergedWithPrevious
              : b == "MergedWithNext" ? text::SplitBehavior::MergedWithNext
                                      : text::SplitBehavior::Contiguous;
  pt.add(st);
  std::vector<text::Piece> pieces;
  std::deque<std::string> arena;
  pt.run({text, true}, pieces, arena);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.emplace_back(p.text);
  return out;
}

TEST(PreTokenizer, SplitBehavioursMatchHfDocs) {
  using V = std::vector<std::string>;
  const char* t = "the-final--countdown";
  EXPECT_EQ(split("Removed", t), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split("Isolated", t), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious", t), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext", t), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous", t), (V{"the", "-", "final", "--", "countdown"}));
}

TEST(PreTokenizer, BadRegexIsAClearError) {
  try {
    text::Regex r("(unclosed", "tok.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tok.json: regex '(unclosed' does not compile"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace ember
