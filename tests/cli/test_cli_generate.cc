// `ember generate` through the binary: the Engine path reproduces the reference greedy ids, the
// chat template is applied unless --raw, and bad input is an error with a message.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/test_support.h"

namespace {

using ::testing::HasSubstr;
using ember::test::run_ember;

const char* kStories = "models/stories260K/hf";

std::string reference_ids() {
  simdjson::dom::parser parser;
  simdjson::dom::element doc =
      parser.load(ember::test::asset("models/stories260K/test-vectors/greedy_from_bos_256.json"));
  std::string ids;
  for (int64_t id : doc["generated_ids"].get_array()) ids += (ids.empty() ? "" : " ") + std::to_string(id);
  return ids;
}

// The last line of stdout is the --print-ids line.
std::string last_line(const std::string& out) {
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

TEST(CliGenerate, GreedyFromBosMatchesTheReferenceThroughTheEngine) {
  EMBER_REQUIRE_ASSET(kStories);
  auto r = ember::test::run_command(ember::test::ember_binary() + " generate --model " +
                                    ember::test::asset(kStories) +
                                    " --max-tokens 256 --print-ids 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(last_line(r.out), reference_ids());
}

TEST(CliGenerate, PromptIdsAndSeededSamplingAreReproducible) {
  EMBER_REQUIRE_ASSET(kStories);
  const std::string args = "generate --model " + ember::test::asset(kStories) +
                           " --prompt-ids \"1 403 407\" --max-tokens 20 --temperature 0.9 "
                           "--seed 7 --print-ids";
  auto a = ember::test::run_command(ember::test::ember_binary() + " " + args + " 2>/dev/null");
  auto b = ember::test::run_command(ember::test::ember_binary() + " " + args + " 2>/dev/null");
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_EQ(a.out, b.out);
  EXPECT_FALSE(last_line(a.out).empty());
}

TEST(CliGenerate, TextPromptGoesThroughTheChatTemplateUnlessRaw) {
  EMBER_REQUIRE_ASSET(kStories);
  // stories260K's template is "{{ bos_token }}" + the message contents, so both paths give the
  // same prompt (BOS + text) and therefore the same greedy continuation.
  const std::string base = "generate --model " + ember::test::asset(kStories) +
                           " --prompt 'Once upon a time' --max-tokens 16 --print-ids";
  auto chat = run_ember(base);
  auto raw = run_ember(base + " --raw");
  ASSERT_EQ(chat.code, 0) << chat.out;
  ASSERT_EQ(raw.code, 0) << raw.out;
  EXPECT_THAT(chat.out, HasSubstr("5 prompt + 16 generated tokens"));
  EXPECT_THAT(raw.out, HasSubstr("5 prompt + 16 generated tokens"));
}

TEST(CliGenerate, BadInputIsAnErrorNotACrash) {
  EMBER_REQUIRE_ASSET(kStories);
  const std::string m = " --model " + ember::test::asset(kStories);
  auto bad_ids = run_ember("generate" + m + " --prompt-ids '1 x'");
  EXPECT_EQ(bad_ids.code, 1);
  EXPECT_THAT(bad_ids.out, HasSubstr("'x' is not a token id"));
  auto out_of_vocab = run_ember("generate" + m + " --prompt-ids '1 99999'");
  EXPECT_EQ(out_of_vocab.code, 1) << out_of_vocab.out;
  auto both = run_ember("generate" + m + " --prompt hi --prompt-ids 1");
  EXPECT_EQ(both.code, 2);
  auto no_model = run_ember("generate --model /nonexistent/dir");
  EXPECT_EQ(no_model.code, 1);
  EXPECT_THAT(no_model.out, HasSubstr("--model /nonexistent/dir: no such folder"));
  auto bad_backend = run_ember("generate" + m + " --backend gpu");
  EXPECT_EQ(bad_backend.code, 2);
  auto bad_temp = run_ember("generate" + m + " --temperature -1");
  EXPECT_EQ(bad_temp.code, 1);
  EXPECT_THAT(bad_temp.out, HasSubstr("--temperature"));
}

TEST(CliGenerate, BackendChoiceFallsBackToTheCpuOnlyWhenAsked) {
  EMBER_REQUIRE_ASSET(kStories);
  const std::string m = " --model " + ember::test::asset(kStories) + " --max-tokens 4";
  // auto runs wherever it can; cpu always can.
  EXPECT_EQ(run_ember("generate" + m + " --backend auto").code, 0);
  auto cpu = run_ember("generate" + m + " --backend cpu");
  EXPECT_EQ(cpu.code, 0) << cpu.out;
  EXPECT_THAT(cpu.out, HasSubstr("cpu ("));
  // An explicit cuda never silently becomes the CPU: it runs on a GPU or fails saying why.
  auto cuda = run_ember("generate" + m + " --backend cuda");
  if (cuda.code != 0) EXPECT_THAT(cuda.out, HasSubstr("--backend cuda:"));
  else EXPECT_THAT(cuda.out, ::testing::Not(HasSubstr("cpu (")));
}

}  // namespace
