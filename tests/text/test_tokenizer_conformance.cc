// Every text of llama.cpp's tokenizer test vectors encodes to exactly the expected ids (no
// BOS/EOS) with the matching Hugging Face tokenizer.json, and decodes back to the text.
#include <gtest/gtest.h>

#include "engine/text/tokenizer.h"
#include "tests/test_support.h"
#include "tests/text/tokenizer_test_util.h"

namespace ember {
namespace {

struct Suite {
  const char* name;       // tokenizer-tests/NAME.{inp,out}
  const char* tokenizer;  // the tokenizer.json that produced them
};

class VocabTest : public ::testing::TestWithParam<Suite> {};

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

TEST_P(VocabTest, EncodesToExpectedIdsAndDecodesBack) {
  const Suite& s = GetParam();
  const std::string inp = std::string("tokenizer-tests/") + s.name + ".inp";
  const std::string outp = std::string("tokenizer-tests/") + s.name + ".out";
  EMBER_REQUIRE_ASSET(inp);
  EMBER_REQUIRE_ASSET(outp);
  EMBER_REQUIRE_ASSET(s.tokenizer);
  const Tokenizer tok = Tokenizer::load(test::asset(s.tokenizer));
  const auto texts = test::read_vocab_inputs(test::asset(inp));
  const auto expected = test::read_vocab_outputs(test::asset(outp));
  ASSERT_GT(texts.size(), 10u);
  ASSERT_EQ(texts.size(), expected.size());
  int bad_encode = 0, bad_decode = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = tok.encode(texts[i]);
    if (ids != expected[i]) {
      ++bad_encode;
      ADD_FAILURE() << s.name << " case " << i << " text [" << texts[i] << "]\n  got     "
                    << show(ids) << "\n  expected" << show(expected[i]);
    }
    const std::string back = tok.decode(expected[i]);
    if (back != texts[i]) {
      ++bad_decode;
      ADD_FAILURE() << s.name << " case " << i << " decodes to [" << back << "], text ["
                    << texts[i] << "]";
    }
  }
  EXPECT_EQ(bad_encode, 0) << "of " << texts.size();
  EXPECT_EQ(bad_decode, 0) << "of " << texts.size();
}

INSTANTIATE_TEST_SUITE_P(
    Assets, VocabTest,
    ::testing::Values(Suite{"llama-bpe", "tokenizers/llama3/tokenizer.json"},
                      Suite{"llama-spm", "tokenizers/phi3/tokenizer.json"},
                      Suite{"phi-3", "tokenizers/phi3/tokenizer.json"},
                      Suite{"qwen2", "tokenizers/qwen3/tokenizer.json"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

}  // namespace
}  // namespace ember
