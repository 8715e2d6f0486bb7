// Cross-checks ember's tokenizer against the Python `tokenizers` package on fixed and random
// texts (with special-token strings mixed in): ids with and without add_special, and decoded
// text with and without skip_special. Skips when the reference Python or assets are absent.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "engine/text/tokenizer.h"
#include "tests/test_support.h"
#include "tests/text/tokenizer_test_util.h"

namespace ember {
namespace {

class ReferenceTest : public ::testing::TestWithParam<const char*> {};

std::string write_temp(const std::string& name, const std::string& content) {
  const auto p = std::filesystem::temp_directory_path() /
                 ("ember_tok_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

std::vector<std::vector<int32_t>> parse_id_lists(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::array rows;
  std::vector<std::vector<int32_t>> out;
  if (parser.parse(json).get(rows)) return out;
  for (simdjson::dom::element row : rows) {
    std::vector<int32_t> ids;
    simdjson::dom::array a;
    if (row.get(a)) return {};
    for (simdjson::dom::element id : a) {
      int64_t v = -1;
      if (id.get(v)) return {};
      ids.push_back(int32_t(v));
    }
    out.push_back(std::move(ids));
  }
  return out;
}

std::vector<std::string> parse_strings(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::array rows;
  std::vector<std::string> out;
  if (parser.parse(json).get(rows)) return out;
  for (simdjson::dom::element s : rows) {
    std::string_view v;
    if (s.get(v)) return {};
    out.emplace_back(v);
  }
  return out;
}

TEST_P(ReferenceTest, MatchesPythonTokenizers) {
  const std::string rel = GetParam();
  EMBER_REQUIRE_ASSET(rel);
  if (!test::have_reference_tokenizers())
    GTEST_SKIP() << "no Python with `tokenizers` at " << test::python() << " (set EMBER_PYTHON)";
  const std::string path = test::asset(rel);
  // tokenizer.json alone: the reference package does not read tokenizer_config.json.
  const Tokenizer tok = Tokenizer::from_json(test::read_text(path), {}, {}, path);

  std::vector<std::string> specials;
  for (int32_t id = 0; id < int32_t(tok.vocab_size()); ++id)
    if (tok.is_special(id) && specials.size() < 6) specials.push_back(*tok.id_to_token(id));
  specials.push_back("<think>");
  specials.push_back("[INST]");
  std::vector<std::string> texts = {"Hello world", " Hello  world!", "", " ", "\n", "a\n\nb",
                                    "Café naïve — 🦙 日本語", "12345 + 678 = ?"};
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) texts.push_back(test::random_text(rng, specials));
  std::string json = "[";
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i) json += ',';
    json += test::json_quote(texts[i]);
  }
  json += "]";
  const std::string in = write_temp("texts.json", json);
  const std::string script = test::source_dir() + "/tools/tokenizer_reference.py";
  const std::string base = test::python() + " " + script;

  for (bool add_special : {false, true}) {
    auto out = test::run_capture(base + " encode '" + path + "' '" + in + "'" +
                                 (add_special ? " --add-special" : ""));
    ASSERT_TRUE(out) << "reference encode failed";
    const auto want = parse_id_lists(*out);
    ASSERT_EQ(want.size(), texts.size());
    int bad = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto got = tok.encode(texts[i], {.add_special = add_special, .parse_special = true});
      if (got != want[i] && ++bad <= 5)
        ADD_FAILURE() << "encode add_special=" << add_special << " [" << texts[i] << "]";
    }
    EXPECT_EQ(bad, 0) << "mismatches of " << texts.size();
  }

  // Decoding the reference ids, with special tokens kept and skipped.
  auto ids_json = test::run_capture(base + " encode '" + path + "' '" + in + "' --add-special");
  ASSERT_TRUE(ids_json);
  const auto id_lists = parse_id_lists(*ids_json);
  const std::string ids_in = write_temp("ids.json", *ids_json);
  for (bool skip : {false, true}) {
    auto out = test::run_capture(base + " decode '" + path + "' '" + ids_in + "'" +
                                 (skip ? " --skip-special" : ""));
    ASSERT_TRUE(out) << "reference decode failed";
    const auto want = parse_strings(*out);
    ASSERT_EQ(want.size(), id_lists.size());
    int bad = 0;
    for (size_t i = 0; i < id_lists.size(); ++i) {
      const std::string got = tok.decode(id_lists[i], {.skip_special = skip});
      if (got != want[i] && ++bad <= 5)
        ADD_FAILURE() << "decode skip_special=" << skip << " got [" << got << "] want ["
                      << want[i] << "]";
    }
    EXPECT_EQ(bad, 0) << "mismatches of " << id_lists.size();
  }
  std::filesystem::remove(in);
  std::filesystem::remove(ids_in);
}

INSTANTIATE_TEST_SUITE_P(Assets, ReferenceTest,
                         ::testing::Values("tokenizers/llama3/tokenizer.json",
                                           "tokenizers/qwen3/tokenizer.json",
                                           "tokenizers/phi3/tokenizer.json",
                                           "tokenizers/mistral-v0.3/tokenizer.json",
                                           "models/stories260K/hf/tokenizer.json"));

}  // namespace
}  // namespace ember
