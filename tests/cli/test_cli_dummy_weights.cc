// `--dummy-weights` on the command line: generate runs a config-only model (same ids for the
// same seed), bench runs one with a separate --tokenizer, and misuse is a clear error.
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

using ::testing::HasSubstr;

using CliResult = ember::test::CommandResult;

CliResult ember_run(const std::string& args) { return ember::test::run_ember(args); }

std::string tiny_config(int vocab) {
  const std::string path = "/tmp/ember_dummy_cfg_" + std::to_string(getpid()) + "_" +
                           std::to_string(vocab) + ".json";
  std::ofstream(path) << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 2, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5,
      "torch_dtype": "float32", "vocab_size": )"
                      << vocab << "}";
  return path;
}

TEST(CliDummyWeights, GenerateIsDeterministic) {
  const std::string cfg = tiny_config(300);
  const std::string args =
      "generate --dummy-weights " + cfg + " --prompt-ids \"1 2 3\" --max-tokens 6 --seed 3 --temperature 0.7";
  const CliResult a = ember_run(args), b = ember_run(args);
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_THAT(a.out, HasSubstr("6 generated tokens"));
  EXPECT_EQ(a.out.substr(0, a.out.find('[')), b.out.substr(0, b.out.find('[')));
  std::remove(cfg.c_str());
}

TEST(CliDummyWeights, MisuseIsAnError) {
  CliResult r = ember_run("generate --dummy-weights no-such-model --prompt-ids \"1\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("no config found"));
  r = ember_run("generate --dummy-weights llama-3-8b --model /tmp --prompt-ids \"1\"");
  EXPECT_EQ(r.code, 2);
  const std::string cfg = tiny_config(300);
  r = ember_run("bench --dummy-weights " + cfg + " --prompts /dev/null");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("--tokenizer"));
  std::remove(cfg.c_str());
}

TEST(CliDummyWeights, BenchWithATokenizer) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer.json");
  EMBER_REQUIRE_ASSET("prompts/arena-hard-v0.1.question.jsonl");
  const std::string cfg = tiny_config(128256);
  const std::string json = "/tmp/ember_dummy_bench_" + std::to_string(getpid()) + ".json";
  const CliResult r = ember_run(
      "bench --dummy-weights " + cfg + " --tokenizer " +
      ember::test::asset("tokenizers/llama3") + " --prompts " +
      ember::test::asset("prompts/arena-hard-v0.1.question.jsonl") +
      " --requests 4 --concurrency 2 --max-tokens 3 --ignore-eos --kv-cache-gb 0.05 --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(json);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("\"output_tokens\": 12"));
  std::remove(cfg.c_str());
  std::remove(json.c_str());
}

}  // namespace
