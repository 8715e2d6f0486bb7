// --tensor-parallel-size / --tp through the binary: generate gives TP=1's ids at TP=2 and 4 on
// CPU ranks, bench runs and records the size, inspect shows the per-GPU split, and sizes the
// model or the machine cannot serve fail with a message (exit 1), never a hang.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ember::test::CommandResult;

CommandResult ember_run(const std::string& args) { return ember::test::run_ember(args); }

std::string last_line(const std::string& out) {
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '[') last = line;
  return last;
}

class CliTensorParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = "/tmp/ember_cli_tp_" + std::to_string(getpid());
    const CommandResult r = ember_run("make-model --arch qwen2 --out " + dir_ +
                                      " --heads 4 --kv-heads 2 --vocab 300 --dtype f32 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static inline std::string dir_;
};

TEST_F(CliTensorParallel, GenerateGivesTheSameIdsAtEverySize) {
  const std::string args = "generate --model " + dir_ +
                           " --prompt-ids \"5 17 200 3 9\" --max-tokens 24 --print-ids";
  const CommandResult one = ember_run(args + " 2>/dev/null");
  ASSERT_EQ(one.code, 0) << one.out;
  const std::string ids = last_line(one.out);
  ASSERT_FALSE(ids.empty()) << one.out;
  for (const char* tp : {"--tp 2", "--tensor-parallel-size 4"}) {
    const CommandResult r = ember_run(args + " " + tp + " 2>/dev/null");
    ASSERT_EQ(r.code, 0) << tp << "\n" << r.out;
    EXPECT_EQ(last_line(r.out), ids) << tp;
  }
  const CommandResult r =  // stderr only
      ember::test::run_command(ember::test::ember_binary() + " " + args + " --tp 2 2>&1 >/dev/null");
  EXPECT_THAT(r.out, HasSubstr("x2 (tensor parallel)"));
}

TEST_F(CliTensorParallel, BadSizesFailWithTheReason) {
  CommandResult r = ember_run("generate --model " + dir_ + " --prompt-ids \"1 2\" --tp 3");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--tensor-parallel-size 3 does not divide 4 query heads"));
  r = ember_run("generate --model " + dir_ + " --prompt-ids \"1 2\" --tp 0");
  EXPECT_EQ(r.code, 2) << r.out;
  r = ember_run("inspect --model " + dir_ + " --tp 3");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("TP 3  --tensor-parallel-size 3 does not divide 4 query heads"));
}

// More GPUs than any machine here has: the error names the count, or that there is no GPU.
TEST_F(CliTensorParallel, MoreGpusThanVisibleFails) {
  const std::string wide = dir_ + "_wide";
  CommandResult r = ember_run("make-model --arch llama --out " + wide +
                              " --hidden 256 --heads 64 --kv-heads 64 --intermediate 128 "
                              "--vocab 300 --layers 1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = ember_run("generate --model " + wide + " --prompt-ids \"1 2\" --backend cuda --tp 64");
  fs::remove_all(wide);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, AnyOf(HasSubstr("--tensor-parallel-size 64 needs 64 GPUs"),
                           HasSubstr("no usable CUDA device"), HasSubstr("without CUDA")));
}

TEST_F(CliTensorParallel, InspectShowsBytesPerGpu) {
  const CommandResult r = ember_run("inspect --model " + dir_ + " --tp 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("tensor parallel (per GPU"));
  for (const char* row : {"  TP 1 ", "  TP 2 ", "  TP 4 "}) EXPECT_THAT(r.out, HasSubstr(row));
  EXPECT_THAT(r.out, HasSubstr("<- --tp"));
  // 2 KV heads: at TP=2 each GPU caches one (half the bytes per token), at TP=4 still one.
  auto kv_of = [&](const std::string& row) {
    const size_t at = r.out.find(row);
    std::istringstream in(r.out.substr(at + row.size()));
    std::string weights, wunit, kv, kunit;
    in >> weights >> wunit >> kv >> kunit;
    return kv + " " + kunit;
  };
  EXPECT_EQ(kv_of("  TP 2 "), kv_of("  TP 4 "));
  EXPECT_NE(kv_of("  TP 1 "), kv_of("  TP 2 "));
  EXPECT_THAT(r.out, HasSubstr("  TP 8  --tensor-parallel-size 8 does not divide 4 query heads"));
}

TEST_F(CliTensorParallel, BenchRunsOnCpuRanks) {
  const std::string prompts = dir_ + "_prompts.jsonl", json = dir_ + "_bench.json";
  {
    std::ofstream f(prompts);
    f << R"({"prompt": "hello there, how are you"})" << "\n"
      << R"({"prompt": "tell me a story about a cat"})" << "\n";
  }
  const CommandResult r = ember_run("bench --model " + dir_ + " --prompts " + prompts +
                                    " --requests 4 --concurrency 2 --max-tokens 3 --ignore-eos "
                                    "--kv-cache-gb 0.05 --tp 2 --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(json);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("\"output_tokens\": 12"));
  EXPECT_THAT(text, HasSubstr("\"tensor_parallel\": 2"));
  fs::remove(prompts);
  fs::remove(json);
}

}  // namespace
