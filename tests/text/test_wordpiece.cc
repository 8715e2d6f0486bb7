// WordPiece: BertNormalizer and BertPreTokenizer rules on a tiny vocabulary, and the ids of the
// real all-MiniLM-L6-v2 and all-mpnet-base-v2 tokenizers on ~265 real prompts against Hugging
// Face's (tests/data/encoder/*.json by tools/encoder_golden.py, with sentence-transformers'
// truncation).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/text/bert_text.h"
#include "engine/text/wordpiece_tokenizer.h"
#include "tests/encoder/encoder_golden.h"

namespace ember {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using text::bert_normalize;
using text::bert_pre_tokenize;

constexpr const char* kTiny = R"({
  "added_tokens": [
    {"id": 0, "content": "[PAD]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 1, "content": "[UNK]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 2, "content": "[CLS]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 3, "content": "[SEP]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 4, "content": "<mask>", "special": true, "normalized": false, "lstrip": true, "rstrip": false, "single_word": false}
  ],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
    "pair": [], "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 10,
    "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "<mask>": 4, "un": 5, "##aff": 6, "##able": 7, "cafe": 8,
              ",": 9, "!": 10, "中": 11, "a": 12, "##a": 13, "$": 14, "σ": 15}}
})";

TEST(BertText, NormalizerCleansFoldsAndSeparatesIdeographs) {
  const text::BertNormalizerOptions o;
  EXPECT_EQ(bert_normalize("Café NAÏVE", o), "cafe naive");
  EXPECT_EQ(bert_normalize("a\tb\nc\u00a0d", o), "a b c d");
  EXPECT_EQ(bert_normalize(std::string("x\u200by\x01z", 8) + "\xef\xbf\xbd", o), "xyz");
  EXPECT_EQ(bert_normalize("中文", o), " 中  文 ");
  EXPECT_EQ(bert_normalize("ΣΑΣ", o), "σασ");  // per character: no final sigma
  text::BertNormalizerOptions keep;
  keep.lowercase = keep.strip_accents = false;
  EXPECT_EQ(bert_normalize("Café", keep), "Café");
}

TEST(BertText, PreTokenizerSplitsWhitespaceAndIsolatesPunctuation) {
  EXPECT_THAT(bert_pre_tokenize("  Hello, world!! $5 a-b "),
              ElementsAre("Hello", ",", "world", "!", "!", "$", "5", "a", "-", "b"));
  EXPECT_THAT(bert_pre_tokenize("«quote»"), ElementsAre("«", "quote", "»"));
  EXPECT_TRUE(bert_pre_tokenize(" \t ").empty());
}

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  const auto tok = WordPieceTokenizer::from_json(kTiny);
  EXPECT_THAT(tok.encode("unaffable"), ElementsAre(2, 5, 6, 7, 3));
  EXPECT_THAT(tok.encode("Unaffable, CAFÉ!"), ElementsAre(2, 5, 6, 7, 9, 8, 10, 3));
  // A word with any piece missing is one [UNK]; so is a word longer than 10 characters.
  EXPECT_THAT(tok.encode("unaffx a"), ElementsAre(2, 1, 12, 3));
  EXPECT_THAT(tok.encode("aaaaaaaaaa aaaaaaaaaaa"),
              ElementsAre(2, 12, 13, 13, 13, 13, 13, 13, 13, 13, 13, 1, 3));
  EXPECT_THAT(tok.encode("中a"), ElementsAre(2, 11, 12, 3));
  EXPECT_THAT(tok.encode(""), ElementsAre(2, 3));
  EXPECT_EQ(tok.num_special_tokens(), 2);
  EXPECT_EQ(tok.vocab_size(), 16u);
}

TEST(WordPiece, AddedTokensMatchInTheRawText) {
  const auto tok = WordPieceTokenizer::from_json(kTiny);
  EXPECT_THAT(tok.encode("a[SEP]a"), ElementsAre(2, 12, 3, 12, 3));
  EXPECT_THAT(tok.encode("a   <mask>"), ElementsAre(2, 12, 4, 3));  // lstrip takes the spaces
  EXPECT_THAT(tok.encode("[sep]"), ElementsAre(2, 1, 1, 1, 3));      // case matters: "[", "sep", "]"
}

TEST(WordPiece, TruncationKeepsTheSpecialTokens) {
  const auto tok = WordPieceTokenizer::from_json(kTiny);
  EXPECT_THAT(tok.encode("a a a a a", 4), ElementsAre(2, 12, 12, 3));
  EXPECT_THAT(tok.encode("a a", 10), ElementsAre(2, 12, 12, 3));
  EXPECT_THAT(tok.encode("unaffable", 3), ElementsAre(2, 5, 3));  // cut inside a word, as HF does
}

// Long texts are tokenized by prefixes until enough ids are found: the ids are those of the
// whole text, whatever the cut.
TEST(WordPiece, TruncatingALongTextGivesTheWholeTextsFirstIds) {
  const auto tok = WordPieceTokenizer::from_json(kTiny);
  std::string text;
  for (int i = 0; text.size() < 200000; ++i)
    text += i % 7 == 0 ? "unaffable, " : i % 5 == 0 ? "cafe\t" : i % 3 == 0 ? "aaaa! " : "中a ";
  for (int max : {3, 10, 257, 1000, 30000}) {
    auto all = tok.encode(text);
    all.resize(size_t(max - 1));
    all.push_back(3);
    EXPECT_EQ(tok.encode(text, max), all) << max;
  }
  const std::string one_word(100000, 'a');  // no whitespace to cut at
  EXPECT_THAT(tok.encode(one_word, 3), ElementsAre(2, 1, 3));
}

TEST(WordPiece, InvalidUtf8IsRepairedNotFatal) {
  const auto tok = WordPieceTokenizer::from_json(kTiny);
  EXPECT_THAT(tok.encode(std::string("a\xff\xfe" "a", 4)), ElementsAre(2, 12, 13, 3));
}

TEST(WordPiece, RefusesWhatItCannotReproduce) {
  EXPECT_THROW(WordPieceTokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {}}})"), Error);
  EXPECT_THROW(WordPieceTokenizer::from_json("{not json"), Error);
  std::string bad = kTiny;
  bad.replace(bad.find("BertPreTokenizer"), 16, "Whitespace");
  EXPECT_THROW(WordPieceTokenizer::from_json(bad), Error);
}

class RealWordPiece : public ::testing::TestWithParam<std::string> {};

TEST_P(RealWordPiece, IdsEqualHuggingFaceOnRealPrompts) {
  const auto dir = test::fetched_model(GetParam());
  if (!std::filesystem::exists(dir / "tokenizer.json"))
    GTEST_SKIP() << GetParam() << " is not fetched (tools/fetch-models.sh " << GetParam() << ")";
  const auto g = test::read_encoder_golden(GetParam());
  const auto tok = WordPieceTokenizer::load(dir.string());
  size_t n = 0;
  for (const auto* list : {&g.tokenize, &g.embed})
    for (const auto& c : *list) {
      EXPECT_THAT(tok.encode(c.text, g.max_seq_length), ElementsAreArray(c.ids))
          << c.text.substr(0, 120);
      ++n;
    }
  EXPECT_GT(n, 250u);
}

INSTANTIATE_TEST_SUITE_P(Encoders, RealWordPiece,
                         ::testing::Values("all-minilm-l6-v2", "all-mpnet-base-v2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace ember
