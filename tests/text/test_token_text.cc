// Token strings in logprobs entries equal vLLM's for the real tokenizers: byte-level BPE
// (Llama-3, Qwen3: lone bytes of a multi-byte character become U+FFFD) and SentencePiece BPE with
// byte fallback (Phi-3, Mistral v0.3: "▁" pieces keep their leading space, <0xNN> bytes become
// U+FFFD, special tokens are written out). tests/data/token_text.json was written by
// tools/token_text_reference.py with Hugging Face tokenizers.
#include "engine/text/token_text.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/test_support.h"

namespace ember {
namespace {

TEST(TokenText, EqualsVllmsStringsOnRealTokenizers) {
  simdjson::dom::parser parser;
  const auto doc = parser.load(std::string(test::source_dir()) + "/tests/data/token_text.json");
  int checked = 0;
  for (auto [name, ids] : doc.get_object()) {
    const std::string rel = "tokenizers/" + std::string(name) + "/tokenizer.json";
    EMBER_REQUIRE_ASSET(rel);
    SCOPED_TRACE(std::string(name));
    const Tokenizer tok = Tokenizer::load(test::asset(rel));
    for (auto [id, want] : ids.get_object()) {
      const int32_t i = int32_t(std::stol(std::string(id)));
      EXPECT_EQ(token_text(tok, i), std::string_view(want)) << "id " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1500);
}

}  // namespace
}  // namespace ember
