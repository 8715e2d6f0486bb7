// `ember make-model` and `ember inspect` through the binary: exit codes and what they print.

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using CliResult = ember::test::CommandResult;

CliResult ember(const std::string& args) { return ember::test::run_ember(args); }

class CliModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ember::test::per_test_dir("ember_cli_model");
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string out(const std::string& name = "m") const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(CliModel, MakeModelThenInspect) {
  CliResult r = ember("make-model --arch qwen3 --out " + out() + " --layers 3 --vocab 300 --seed 5");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors",
                        "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(dir_ / "m" / f)) << f;
  CliResult i = ember("inspect --model " + out());
  ASSERT_EQ(i.code, 0) << i.out;
  EXPECT_THAT(i.out, HasSubstr("Qwen3ForCausalLM"));
  EXPECT_THAT(i.out, HasSubstr("layers         3"));
  EXPECT_THAT(i.out, HasSubstr("head dim 32"));
  EXPECT_THAT(i.out, HasSubstr("vocab          300"));
  EXPECT_THAT(i.out, HasSubstr("KV per token"));
  // KV capacity per card: the difference between two cards is their extra usable memory
  // (90% of it) divided by the KV bytes per token (qwen3 here: 2 x 3 layers x 2 kv heads x 32
  // dims x 2 bytes = 768 B), whatever the weights take.
  auto tokens_on = [&](int gb) -> int64_t {
    const std::string key = std::to_string(gb) + " GiB GPU (";
    const size_t at = i.out.find(key);
    if (at == std::string::npos) return -1;
    const size_t close = i.out.find(')', at);
    return std::stoll(i.out.substr(close + 1));
  };
  const int64_t t24 = tokens_on(24), t48 = tokens_on(48), t80 = tokens_on(80);
  ASSERT_GT(t24, 0) << i.out;
  ASSERT_GT(t48, t24) << i.out;
  ASSERT_GT(t80, t48) << i.out;
  EXPECT_NEAR(double(t80 - t24), 56.0 * 1024 * 1024 * 1024 * 0.9 / 768, 2.0) << i.out;
  EXPECT_NEAR(double(t48 - t24), 24.0 * 1024 * 1024 * 1024 * 0.9 / 768, 2.0) << i.out;
  EXPECT_THAT(i.out, HasSubstr("parameters"));
  EXPECT_THAT(i.out, HasSubstr("weights BF16"));
  // Not a terminal: no carriage-return progress in the output.
  EXPECT_EQ(i.out.find('\r'), std::string::npos);
}

TEST_F(CliModel, MakeModelAcceptsHuggingFaceNames) {
  CliResult r = ember("make-model --arch MistralForCausalLM --out " + out() + " --dtype f32");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(CliModel, BadArgumentsFail) {
  // Invalid values: ember errors, exit 1, and nothing written.
  for (const std::string& args :
       {std::string("--arch gpt2"), std::string("--arch llama --heads 3"),
        std::string("--arch llama --kv-heads 3"), std::string("--arch llama --vocab 100"),
        std::string("--arch llama --hidden 0")}) {
    CliResult r = ember("make-model " + args + " --out " + out());
    EXPECT_EQ(r.code, 1) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("error")) << args;
    EXPECT_FALSE(fs::exists(dir_ / "m" / "config.json")) << args;
  }
  // Usage errors: exit 2.
  EXPECT_EQ(ember("make-model --arch llama").code, 2);
  EXPECT_EQ(ember("make-model --arch llama --out " + out() + " --dtype q4").code, 2);
  EXPECT_EQ(ember("make-model --arch llama --out " + out() + " --layers two").code, 2);
}

TEST_F(CliModel, InspectErrors) {
  CliResult r = ember("inspect --model " + out("absent"));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr(out("absent") + ": no such folder"));
  fs::create_directories(dir_ / "empty");
  r = ember("inspect --model " + out("empty"));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("config.json"));
  ASSERT_EQ(ember("make-model --arch llama --out " + out()).code, 0);
  fs::resize_file(dir_ / "m" / "model.safetensors", 100);
  r = ember("inspect --model " + out());
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("model.safetensors"));
  EXPECT_EQ(ember("inspect").code, 2);
}

// A model that tools/fetch-models.sh converted into $XDG_CACHE_HOME/ember/models/NAME is
// `--model NAME`; an unknown name says what was fetched and how to fetch more.
TEST_F(CliModel, ShortNamesResolveToFetchedModels) {
  const fs::path cache = dir_ / "cache";
  ASSERT_EQ(ember("make-model --arch gemma3 --out " + (cache / "ember/models/tiny").string()).code,
            0);
  const std::string env = "XDG_CACHE_HOME=" + cache.string() + " ";
  CliResult r = ember::test::run_command(env + ember::test::ember_binary() +
                                         " inspect --model tiny 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr((cache / "ember/models/tiny").string()));
  EXPECT_THAT(r.out, HasSubstr("Gemma3ForCausalLM"));
  r = ember::test::run_command(env + ember::test::ember_binary() +
                               " generate --model qwen2.5-0.5b --prompt-ids 1 2>&1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("no fetched model of that name"));
  EXPECT_THAT(r.out, HasSubstr("(fetched: tiny)"));
  EXPECT_THAT(r.out, HasSubstr("tools/fetch-models.sh"));
}

}  // namespace
