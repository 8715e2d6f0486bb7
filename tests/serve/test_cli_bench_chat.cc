// `ember bench` and `ember chat` end to end on a tiny random model.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <simdjson.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;

// stdout and stderr together.
test::CommandResult sh(const std::string& cmd) { return test::run_command(cmd + " 2>&1"); }

class CliServe : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ember_cli_serve_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const auto r = sh(test::ember_binary() + " make-model --arch qwen2 --out " +
                      (dir_ / "m").string() + " --vocab 400 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
    std::ofstream(dir_ / "p.jsonl") << "{\"prompt\": \"hello there\"}\n"
                                    << "{\"prompt\": \"write a haiku\", \"extra\": 1}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CliServe, BenchWritesTheJsonReport) {
  const auto json = (dir_ / "out.json").string();
  const auto r = sh(test::ember_binary() + " bench --model " + (dir_ / "m").string() +
                    " --prompts " + (dir_ / "p.jsonl").string() +
                    " --concurrency 2 --requests 4 --max-tokens 5 --kv-cache-gb 0.01 --threads 1"
                    " --ignore-eos --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.load(json).get(doc));
  for (const char* k : {"requests_per_s", "output_tokens_per_s", "total_tokens_per_s",
                        "kv_cache_peak_fraction", "prefix_cache_hit_rate"}) {
    double v = -1;
    EXPECT_FALSE(doc[k].get_double().get(v)) << k;
    EXPECT_GE(v, 0) << k;
  }
  for (const char* k : {"ttft_ms", "itl_ms"})
    for (const char* q : {"p50", "p90", "p99"}) {
      double v = -1;
      EXPECT_FALSE(doc[k][q].get_double().get(v)) << k << "." << q;
    }
  int64_t out_tokens = 0, conc = 0;
  EXPECT_FALSE(doc["output_tokens"].get_int64().get(out_tokens));
  EXPECT_EQ(out_tokens, 4 * 5);  // --ignore-eos: every request ran to --max-tokens
  EXPECT_FALSE(doc["concurrency"].get_int64().get(conc));
  EXPECT_EQ(conc, 2);
  // The settings that shaped the workload are part of the record.
  for (const char* k : {"max_tokens", "max_prompt_tokens", "requests", "max_batched_tokens"}) {
    int64_t v = -1;
    EXPECT_FALSE(doc[k].get_int64().get(v)) << k;
    EXPECT_GT(v, 0) << k;
  }
  std::string_view model;
  EXPECT_FALSE(doc["model"].get_string().get(model));
  // The two prompts repeat: the second pair finds their templated prefix cached.
  double hit = 0;
  EXPECT_FALSE(doc["prefix_cache_hit_rate"].get_double().get(hit));
  EXPECT_GT(hit, 0);
}

TEST_F(CliServe, BenchRejectsABadPromptsFile) {
  std::ofstream(dir_ / "bad.jsonl") << "{\"text\": \"no prompt field\"}\n";
  const auto r = sh(test::ember_binary() + " bench --model " + (dir_ / "m").string() +
                    " --prompts " + (dir_ / "bad.jsonl").string() + " --kv-cache-gb 0.01");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("bad.jsonl:1: no string field \"prompt\""), std::string::npos) << r.out;
}

TEST_F(CliServe, ChatIsMultiTurnAndReproducibleWithASeed) {
  const auto cmd = "printf 'hi\\nand again\\n/reset\\nhi\\n' | " + test::ember_binary() +
                   " chat --model " + (dir_ / "m").string() +
                   " --max-tokens 6 --seed 9 --kv-cache-gb 0.01 --threads 1";
  const auto a = sh(cmd), b = sh(cmd);
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_EQ(a.out, b.out);  // seeded: the same conversation twice
  // Three replies: after each user line a prompt marker follows.
  size_t prompts = 0;
  for (size_t p = a.out.find("> "); p != std::string::npos; p = a.out.find("> ", p + 2)) ++prompts;
  EXPECT_GE(prompts, 4u) << a.out;
}

}  // namespace
}  // namespace ember
