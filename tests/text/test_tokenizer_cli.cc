// `ember tokenize` / `ember detokenize`: the ids of a file's whole content on one line, the text
// of ids exactly as decoded (nothing added), and bad ids refused with a message, not a crash.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_support.h"
#include "tests/text/tokenizer_test_util.h"

namespace fs = std::filesystem;

namespace {

using ember::test::asset;
using Result = ember::test::CommandResult;

Result run(const std::string& args) { return ember::test::run_ember(args); }

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

// run_ember merges stderr into the output; a failure must be ember's own error line (exit 1),
// never a signal (code -1), an uncaught exception ("internal error") or a usage error.
void expect_clean_error(const Result& r, const std::string& message) {
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("ember: error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(message), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
}

class TokenizerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ember::test::per_test_dir("ember_tokenizer_cli");
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Writes TEXT to a fresh file in the test's folder and returns its path.
  std::string write(const std::string& text) {
    const fs::path p = dir_ / ("t" + std::to_string(n_++) + ".txt");
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  fs::path dir_;
  int n_ = 0;
};

// llama-bpe texts through the llama3 folder print exactly their expected ids on one line. Every
// fifth text and the last (the long mixed one): each run loads the 9 MB tokenizer.json, and
// test_tokenizer_conformance checks every text in-process.
TEST_F(TokenizerCli, LlamaBpeTextsGiveTheExpectedIds) {
  EMBER_REQUIRE_ASSET("tokenizer-tests/llama-bpe.inp");
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  const auto texts = ember::test::read_vocab_inputs(asset("tokenizer-tests/llama-bpe.inp"));
  const auto expected = ember::test::read_vocab_outputs(asset("tokenizer-tests/llama-bpe.out"));
  ASSERT_GT(texts.size(), 10u);
  ASSERT_EQ(texts.size(), expected.size());
  std::vector<size_t> cases;
  for (size_t i = 0; i < texts.size(); i += 5) cases.push_back(i);
  if (cases.back() != texts.size() - 1) cases.push_back(texts.size() - 1);
  for (size_t i : cases) {
    const Result r = run("tokenize --tokenizer " + asset("tokenizers/llama3") + " --file " + write(texts[i]));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out, join(expected[i]) + "\n") << "case " << i << " text [" << texts[i] << "]";
  }
}

TEST_F(TokenizerCli, TokenizerJsonPathEqualsTheFolder) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  const std::string f = write("Hello world! 3.14159 naïve café 日本語 🦙\n\n  indented\tend");
  const Result from_dir = run("tokenize --tokenizer " + asset("tokenizers/llama3") + " --file " + f);
  const Result from_json = run("tokenize --tokenizer " + asset("tokenizers/llama3/tokenizer.json") + " --file " + f);
  EXPECT_EQ(from_dir.code, 0) << from_dir.out;
  EXPECT_EQ(from_json.code, 0) << from_json.out;
  EXPECT_GT(from_dir.out.size(), 10u) << from_dir.out;
  EXPECT_EQ(from_dir.out, from_json.out);
}

// Phi-3's config adds BOS (<s> = 1) and no EOS: --add-special puts 1 before the phi-3 ids.
TEST_F(TokenizerCli, AddSpecialAddsPhi3Bos) {
  EMBER_REQUIRE_ASSET("tokenizer-tests/phi-3.inp");
  EMBER_REQUIRE_ASSET("tokenizers/phi3/tokenizer.json");
  const auto texts = ember::test::read_vocab_inputs(asset("tokenizer-tests/phi-3.inp"));
  const auto expected = ember::test::read_vocab_outputs(asset("tokenizer-tests/phi-3.out"));
  ASSERT_EQ(texts.size(), expected.size());
  size_t checked = 0;
  for (size_t i = 0; i < texts.size() && checked < 4; ++i) {
    if (expected[i].size() < 3) continue;  // a few real texts, not the whitespace-only ones
    ++checked;
    const std::string f = write(texts[i]);
    const Result plain = run("tokenize --tokenizer " + asset("tokenizers/phi3") + " --file " + f);
    EXPECT_EQ(plain.code, 0) << plain.out;
    EXPECT_EQ(plain.out, join(expected[i]) + "\n") << "case " << i;
    const Result special = run("tokenize --tokenizer " + asset("tokenizers/phi3") + " --file " + f + " --add-special");
    EXPECT_EQ(special.code, 0) << special.out;
    EXPECT_EQ(special.out, "1 " + join(expected[i]) + "\n") << "case " << i;
  }
  EXPECT_EQ(checked, 4u);
}

// tokenize then detokenize prints the file's content exactly: no newline added, none lost.
TEST_F(TokenizerCli, DetokenizeRoundTripsExactly) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  EMBER_REQUIRE_ASSET("tokenizers/phi3/tokenizer.json");
  const std::vector<std::string> texts = {
      "Hello world",  "Hello world\n", " leading space and trailing  ", "line one\nline two\n\n",
      "Grüße, 世界! 🦙 e\xCC\x81", "\ttab\r\nCRLF"};
  for (const char* tok : {"tokenizers/llama3", "tokenizers/phi3"}) {
    for (const std::string& text : texts) {
      // llama3's tokenizer.json takes a while to load: the three texts that matter most there.
      if (tok == std::string("tokenizers/llama3") && text != texts[1] && text != texts[2] && text != texts[4])
        continue;
      const Result ids = run("tokenize --tokenizer " + asset(tok) + " --file " + write(text));
      ASSERT_EQ(ids.code, 0) << ids.out;
      ASSERT_FALSE(ids.out.empty());
      ASSERT_EQ(ids.out.back(), '\n');
      const std::string line = ids.out.substr(0, ids.out.size() - 1);
      ASSERT_EQ(line.find('\n'), std::string::npos) << "ids on one line: " << ids.out;
      const Result back = run("detokenize --tokenizer " + asset(tok) + " --ids '" + line + "'");
      EXPECT_EQ(back.code, 0) << back.out;
      EXPECT_EQ(back.out, text) << tok << " ids [" << line << "]";
    }
  }
}

TEST_F(TokenizerCli, DetokenizeKeepsOrSkipsSpecialTokens) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  // 128000 is <|begin_of_text|>, 9906 "Hello", 1917 " world".
  Result r = run("detokenize --tokenizer " + asset("tokenizers/llama3") + " --ids '128000 9906 1917'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "<|begin_of_text|>Hello world");
  r = run("detokenize --tokenizer " + asset("tokenizers/llama3") + " --ids '128000 9906 1917' --skip-special");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "Hello world");
}

TEST_F(TokenizerCli, BadIdsExitNonZeroWithAMessage) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  const std::string tok = asset("tokenizers/llama3");
  // One past the last id, and far past it.
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '9906 128256'"), "128256 is out of range");
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '2000000000'"), "out of range");
  // Not numbers: words, negative, fractional, and past int32.
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '9906 abc'"), "'abc' is not a token id");
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '9906 -1'"), "'-1' is not a token id");
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '12x'"), "'12x' is not a token id");
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '1.5'"), "'1.5' is not a token id");
  expect_clean_error(run("detokenize --tokenizer " + tok + " --ids '99999999999'"),
                     "'99999999999' is not a token id");
}

TEST_F(TokenizerCli, MissingInputsExitNonZeroWithAMessage) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  const std::string missing = (dir_ / "no-such-file.txt").string();
  expect_clean_error(run("tokenize --tokenizer " + asset("tokenizers/llama3") + " --file " + missing), missing);
  const std::string f = write("hi");
  const Result r = run("tokenize --tokenizer " + (dir_ / "no-such-model").string() + " --file " + f);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("ember: error: "), std::string::npos) << r.out;
}

}  // namespace
