// The real tokenizers: stories260K against its test vectors, Mistral v0.3 against ids from the
// Python `tokenizers` package (pasted below), and the special-token rules (BOS/EOS from the
// post_processor and tokenizer_config.json, parse_special) of each family.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/text/tokenizer.h"
#include "tests/test_support.h"
#include "tests/text/tokenizer_test_util.h"

namespace ember {
namespace {

using Ids = std::vector<int32_t>;

TEST(Stories260K, MatchesTestVectors) {
  EMBER_REQUIRE_ASSET("models/stories260K/hf/tokenizer.json");
  EMBER_REQUIRE_ASSET("models/stories260K/test-vectors/tokenizer_cases.json");
  const Tokenizer tok = Tokenizer::load(test::asset("models/stories260K/hf"));
  EXPECT_EQ(tok.vocab_size(), 512u);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_ids(), Ids{2});
  simdjson::dom::parser parser;
  simdjson::dom::array cases;
  ASSERT_FALSE(parser.load(test::asset("models/stories260K/test-vectors/tokenizer_cases.json"))["cases"].get(cases));
  int n = 0;
  for (simdjson::dom::element c : cases) {
    std::string_view text;
    simdjson::dom::array want_a;
    ASSERT_FALSE(c["text"].get(text));
    ASSERT_FALSE(c["ids_with_bos"].get(want_a));
    Ids want;
    for (simdjson::dom::element id : want_a) want.push_back(int32_t(int64_t(id)));
    EXPECT_EQ(tok.encode(text, {.add_special = true}), want) << text;
    EXPECT_EQ(tok.decode(want, {.skip_special = true}), text);
    ++n;
  }
  EXPECT_GE(n, 8);
}

TEST(MistralV03, MatchesPythonTokenizers) {
  EMBER_REQUIRE_ASSET("tokenizers/mistral-v0.3/tokenizer.json");
  const Tokenizer tok = Tokenizer::load(test::asset("tokenizers/mistral-v0.3"));
  EXPECT_EQ(tok.vocab_size(), 32768u);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_ids(), Ids{2});
  // tokenizers 0.22.1: Tokenizer.from_file(...).encode(text, add_special_tokens=...).ids
  const EncodeOptions parse{.parse_special = true};
  EXPECT_EQ(tok.encode("Hello world", parse), (Ids{23325, 2294}));
  EXPECT_EQ(tok.encode("Hello world", {.add_special = true}), (Ids{1, 23325, 2294}));
  EXPECT_EQ(tok.encode(" Hello  world!", parse), (Ids{23325, 29473, 2294, 29576}));
  EXPECT_EQ(tok.encode("<s>Hello</s> [INST] hi [/INST]", parse),
            (Ids{1, 16998, 2, 29473, 3, 12782, 29473, 4}));
  EXPECT_EQ(tok.encode("Café naïve — 🦙 日本語", parse),
            (Ids{1102, 2783, 29565, 2647, 29688, 1101, 1808, 29473, 1011, 930, 937, 924, 29473,
                 29910, 29887, 31089}));
  EXPECT_EQ(tok.encode("line1\nline2\n\n  indented\ttab", parse),
            (Ids{2175, 29508, 781, 1849, 29518, 781, 781, 29473, 1944, 13481, 780, 5020}));
  EXPECT_EQ(tok.encode("", parse), Ids{});
  EXPECT_EQ(tok.encode("", {.add_special = true}), Ids{1});
  EXPECT_EQ(tok.encode(" ", parse), Ids{29473});
  EXPECT_EQ(tok.encode("[INST]What is 2+2?[/INST]", parse),
            (Ids{3, 3963, 1117, 29473, 29518, 29574, 29518, 29572, 4}));
  // With encode_special_tokens=True (special strings stay text):
  EXPECT_EQ(tok.encode("<s>Hello</s> [INST] hi [/INST]"),
            (Ids{1291, 29481, 29535, 16998, 1468, 29481, 29535, 1501, 17057, 29561, 12782, 1501,
                 29516, 17057, 29561}));
  // decode(ids, skip_special_tokens=False / True)
  EXPECT_EQ(tok.decode(Ids{1, 23325, 2294, 2}), "<s> Hello world</s>");
  EXPECT_EQ(tok.decode(Ids{1, 23325, 2294, 2}, {.skip_special = true}), "Hello world");
  EXPECT_EQ(tok.decode(Ids{29473, 23325}), " Hello");
  EXPECT_EQ(tok.decode(Ids{781, 23325}), "\n Hello");
}

TEST(Llama3, SpecialTokens) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  const Tokenizer tok = Tokenizer::load(test::asset("tokenizers/llama3"));
  EXPECT_EQ(tok.vocab_size(), 128256u);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_ids(), Ids{128009});  // <|eot_id|> from tokenizer_config.json
  EXPECT_EQ(tok.token_to_id("<|begin_of_text|>"), 128000);
  EXPECT_EQ(tok.token_to_id("Ġworld"), 1917);  // byte-level spelling of " world"
  EXPECT_EQ(tok.id_to_token(1917), "Ġworld");
  EXPECT_TRUE(tok.is_special(128009));
  EXPECT_FALSE(tok.is_special(1917));
  EXPECT_EQ(tok.encode("Hello world", {.add_special = true}), (Ids{128000, 9906, 1917}));
  const std::string chat = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
  EXPECT_EQ(tok.encode(chat, {.parse_special = true}),
            (Ids{128000, 128006, 882, 128007, 271, 13347, 128009}));
  EXPECT_EQ(tok.encode("<|begin_of_text|>Hi<|eot_id|>"),
            (Ids{27, 91, 7413, 3659, 4424, 91, 29, 13347, 27, 91, 68, 354, 851, 91, 29}));
  EXPECT_EQ(tok.decode(Ids{128000, 9906, 1917, 128009}), "<|begin_of_text|>Hello world<|eot_id|>");
  EXPECT_EQ(tok.decode(Ids{128000, 9906, 1917, 128009}, {.skip_special = true}), "Hello world");
}

TEST(Qwen3, NonSpecialAddedTokensAlwaysMatch) {
  EMBER_REQUIRE_ASSET("tokenizers/qwen3/tokenizer.json");
  const Tokenizer tok = Tokenizer::load(test::asset("tokenizers/qwen3"));
  EXPECT_EQ(tok.bos_id(), std::nullopt);
  EXPECT_EQ(tok.eos_ids(), Ids{151645});
  EXPECT_EQ(tok.encode("Hello world", {.add_special = true}), (Ids{9707, 1879}));
  // <think> is an added token that is not special: matched even without parse_special.
  EXPECT_EQ(tok.encode("<think>\nok</think>"), (Ids{151667, 198, 562, 151668}));
  EXPECT_EQ(tok.encode("<|im_start|>user\nhi<|im_end|>", {.parse_special = true}),
            (Ids{151644, 872, 198, 6023, 151645}));
  EXPECT_EQ(tok.decode(Ids{151644, 872, 198, 6023, 151645, 151667}, {.skip_special = true}),
            "user\nhi<think>");
  // NFC normalization: "e" + combining acute encodes like the precomposed "é".
  EXPECT_EQ(tok.encode("caf\x65\xCC\x81"), tok.encode("café"));
}

TEST(Phi3, ConfigAddsBosAndSegmentsArePrefixed) {
  EMBER_REQUIRE_ASSET("tokenizers/phi3/tokenizer.json");
  const Tokenizer tok = Tokenizer::load(test::asset("tokenizers/phi3"));
  EXPECT_EQ(tok.bos_id(), 1);
  // The template adds nothing, but tokenizer_config.json says add_bos_token: true.
  EXPECT_EQ(tok.encode("Hello world", {.add_special = true}), (Ids{1, 15043, 3186}));
  // Without the config, the tokenizer.json template alone adds nothing.
  const Tokenizer bare = Tokenizer::from_json(test::read_text(test::asset("tokenizers/phi3/tokenizer.json")));
  EXPECT_EQ(bare.encode("Hello world", {.add_special = true}), (Ids{15043, 3186}));
  // Each text segment between added tokens gets its own "▁" prefix (tokenizers 0.22.1).
  EXPECT_EQ(tok.encode("<|user|>\nHello<|end|>\n<|assistant|>", {.parse_special = true}),
            (Ids{32010, 29871, 13, 10994, 32007, 29871, 13, 32001}));
  EXPECT_EQ(tok.encode(" ", {}), Ids{259});
}

TEST(TokenizerLoad, ErrorsAreClear) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/dir"), Error);
  try {
    Tokenizer::from_json("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", {}, {}, "x.json");
    FAIL() << "Unigram accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json: model type 'Unigram' is not supported"),
              std::string::npos)
        << e.what();
  }
  try {
    Tokenizer::from_json("{\"model\": ", {}, {}, "y.json");
    FAIL() << "bad JSON accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("y.json: invalid JSON"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ember
