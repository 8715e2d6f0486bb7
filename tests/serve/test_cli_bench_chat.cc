// `ember bench` and `ember chat` end to end on a tiny random model.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

TEST_F(CliServe, BenchSweepRunsTheSameRequestsAtEachConcurrency) {
  const auto json = (dir_ / "sweep.json").string();
  const auto r = sh(test::ember_binary() + " bench --model " + (dir_ / "m").string() +
                    " --prompts " + (dir_ / "p.jsonl").string() +
                    " --concurrency 1,3 --requests 6 --max-tokens 4 --kv-cache-gb 0.01 --threads 1"
                    " --ignore-eos --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("at concurrency 1,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("at concurrency 3,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scaling"), std::string::npos) << r.out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.load(json).get(doc));
  simdjson::dom::array runs;
  ASSERT_FALSE(doc["runs"].get_array().get(runs));
  ASSERT_EQ(runs.size(), 2u);
  std::vector<int64_t> conc, prompt_tokens, output_tokens;
  std::vector<double> otps;
  for (auto run : runs) {
    int64_t c = 0, p = 0, o = 0;
    double t = 0;
    EXPECT_FALSE(run["concurrency"].get_int64().get(c));
    EXPECT_FALSE(run["prompt_tokens"].get_int64().get(p));
    EXPECT_FALSE(run["output_tokens"].get_int64().get(o));
    EXPECT_FALSE(run["output_tokens_per_s"].get_double().get(t));
    conc.push_back(c), prompt_tokens.push_back(p), output_tokens.push_back(o), otps.push_back(t);
  }
  EXPECT_EQ(conc, (std::vector<int64_t>{1, 3}));
  // The same requests at both levels.
  EXPECT_EQ(prompt_tokens[0], prompt_tokens[1]);
  EXPECT_EQ(output_tokens[0], 6 * 4);
  EXPECT_EQ(output_tokens[1], 6 * 4);
  double ratio = 0;
  EXPECT_FALSE(doc["output_tokens_per_s_ratio"]["3"].get_double().get(ratio));
  EXPECT_NEAR(ratio, otps[1] / otps[0], 1e-3 * ratio);
  // A level below 1 is a clear error.
  const auto bad = sh(test::ember_binary() + " bench --model " + (dir_ / "m").string() +
                      " --prompts " + (dir_ / "p.jsonl").string() + " --concurrency 1,0");
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find("--concurrency 0"), std::string::npos) << bad.out;
}

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
  // Engine steps: two requests at a time, each step giving each of them a token (the short
  // prompts take one step), so 10 steps at best and one per token (20) at worst; the time in
  // the model is part of the run.
  int64_t steps = 0;
  double forward_s = -1, duration_s = -1;
  EXPECT_FALSE(doc["steps"].get_int64().get(steps));
  EXPECT_GE(steps, 10);
  EXPECT_LE(steps, 20);
  EXPECT_FALSE(doc["forward_s"].get_double().get(forward_s));
  EXPECT_FALSE(doc["duration_s"].get_double().get(duration_s));
  EXPECT_GT(forward_s, 0);
  EXPECT_LE(forward_s, duration_s);
  EXPECT_NE(r.out.find(" steps, "), std::string::npos) << r.out;
  // The settings that shaped the workload are part of the record.
  for (const char* k : {"max_tokens", "max_prompt_tokens", "requests", "max_batched_tokens"}) {
    int64_t v = -1;
    EXPECT_FALSE(doc[k].get_int64().get(v)) << k;
    EXPECT_GT(v, 0) << k;
  }
  std::string_view model, tokenizer, backend, requested;
  EXPECT_FALSE(doc["model"].get_string().get(model));
  EXPECT_EQ(model, (dir_ / "m").string());
  EXPECT_TRUE(doc["dummy_weights"].is_null());
  EXPECT_FALSE(doc["tokenizer"].get_string().get(tokenizer));
  EXPECT_EQ(tokenizer, (dir_ / "m").string());  // the model's own
  EXPECT_FALSE(doc["backend"].get_string().get(backend));
  EXPECT_NE(backend.find("1 threads"), std::string_view::npos) << backend;
  EXPECT_FALSE(doc["backend_requested"].get_string().get(requested));
  EXPECT_EQ(requested, "auto");
  int64_t seed = -1, threads = -1;
  EXPECT_FALSE(doc["seed"].get_int64().get(seed));
  EXPECT_EQ(seed, 1);  // the default
  EXPECT_FALSE(doc["threads"].get_int64().get(threads));
  EXPECT_EQ(threads, 1);
  double kv_gb = -1;
  EXPECT_FALSE(doc["kv_cache_gb"].get_double().get(kv_gb));
  EXPECT_DOUBLE_EQ(kv_gb, 0.01);
  // The two prompts repeat: the second pair finds their templated prefix cached.
  double hit = 0;
  EXPECT_FALSE(doc["prefix_cache_hit_rate"].get_double().get(hit));
  EXPECT_GT(hit, 0);
}

TEST_F(CliServe, BenchRecordsDummyWeightsAndTheirTokenizer) {
  const auto json = (dir_ / "dummy.json").string();
  const auto config = (dir_ / "m" / "config.json").string();
  const auto r = sh(test::ember_binary() + " bench --dummy-weights " + config + " --tokenizer " +
                    (dir_ / "m").string() + " --prompts " + (dir_ / "p.jsonl").string() +
                    " --requests 2 --max-tokens 2 --kv-cache-gb 0.01 --threads 1 --backend cpu"
                    " --seed 42 --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("random weights of " + config), std::string::npos) << r.out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.load(json).get(doc));
  std::string_view model, dummy, tokenizer, requested;
  EXPECT_FALSE(doc["model"].get_string().get(model));
  EXPECT_EQ(model, config);
  EXPECT_FALSE(doc["dummy_weights"].get_string().get(dummy));
  EXPECT_EQ(dummy, config);
  EXPECT_FALSE(doc["tokenizer"].get_string().get(tokenizer));
  EXPECT_EQ(tokenizer, (dir_ / "m").string());
  EXPECT_FALSE(doc["backend_requested"].get_string().get(requested));
  EXPECT_EQ(requested, "cpu");
  int64_t seed = -1;
  EXPECT_FALSE(doc["seed"].get_int64().get(seed));
  EXPECT_EQ(seed, 42);
}

// The same budget holds twice the blocks in BF16, the run completes, and the record says which.
TEST_F(CliServe, BenchWithABf16KvCacheHoldsTwiceTheBlocks) {
  std::vector<int64_t> blocks;
  for (const std::string dt : {"f32", "bf16"}) {
    const auto json = (dir_ / ("kv_" + dt + ".json")).string();
    const auto r = sh(test::ember_binary() + " bench --model " + (dir_ / "m").string() +
                      " --prompts " + (dir_ / "p.jsonl").string() +
                      " --requests 2 --max-tokens 3 --ignore-eos --kv-cache-gb 0.0002"
                      " --threads 1 --kv-cache-dtype " + dt + " --json " + json);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(dt == "bf16" ? "tokens, BF16]" : "tokens, F32]"), std::string::npos)
        << r.out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_FALSE(parser.load(json).get(doc));
    std::string_view got;
    int64_t b = 0, out = 0;
    EXPECT_FALSE(doc["kv_cache_dtype"].get_string().get(got));
    EXPECT_EQ(got, dt);
    EXPECT_FALSE(doc["kv_cache_blocks"].get_int64().get(b));
    EXPECT_FALSE(doc["output_tokens"].get_int64().get(out));
    EXPECT_EQ(out, 2 * 3);
    blocks.push_back(b);
  }
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_GT(blocks[0], 0);
  EXPECT_NEAR(double(blocks[1]), 2.0 * double(blocks[0]), 1.0);
  const auto bad = sh(test::ember_binary() + " bench --model " + (dir_ / "m").string() +
                      " --prompts " + (dir_ / "p.jsonl").string() + " --kv-cache-dtype f16");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("--kv-cache-dtype: f16 not in {auto,f32,bf16}"), std::string::npos)
      << bad.out;
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
                   " --max-tokens 6 --seed 9 --kv-cache-gb 0.01 --threads 1 --show-prompt";
  const auto a = sh(cmd), b = sh(cmd);
  ASSERT_EQ(a.code, 0) << a.out;
  // Seeded: the same conversation twice (from the first prompt on; what comes before it, such
  // as how long the model took to load, may differ).
  EXPECT_EQ(a.out.substr(std::min(a.out.find("> "), a.out.size())),
            b.out.substr(std::min(b.out.find("> "), b.out.size())));
  // Three replies: after each user line a prompt marker follows.
  size_t prompts = 0;
  for (size_t p = a.out.find("> "); p != std::string::npos; p = a.out.find("> ", p + 2)) ++prompts;
  EXPECT_GE(prompts, 4u) << a.out;

  // --show-prompt: what each turn sent, "[prompt: N tokens]\n<text>\n[/prompt]\n".
  struct Sent {
    int tokens;
    std::string text;
  };
  auto sent_prompts = [](const std::string& out) {
    std::vector<Sent> sent;
    const std::string open = "[prompt: ", tail = " tokens]\n", close = "\n[/prompt]\n";
    for (size_t at = out.find(open); at != std::string::npos; at = out.find(open, at + 1)) {
      const size_t body = out.find(tail, at), end = out.find(close, at);
      if (body == std::string::npos || end == std::string::npos || end < body) break;
      sent.push_back({std::atoi(out.c_str() + at + open.size()),
                      out.substr(body + tail.size(), end - body - tail.size())});
    }
    return sent;
  };
  const std::vector<Sent> sent = sent_prompts(a.out);
  ASSERT_EQ(sent.size(), 3u) << a.out;
  const Sent &first = sent[0], &second = sent[1], &after_reset = sent[2];
  EXPECT_GT(first.tokens, 0);
  EXPECT_EQ(first.text.find("and again"), std::string::npos) << first.text;
  // The model's template is ChatML, whose generation prompt opens the assistant's turn: the
  // second prompt is the whole first one, then the first reply, then the new message.
  ASSERT_EQ(second.text.rfind(first.text, 0), 0u) << "turn 2 does not extend turn 1:\n"
                                                   << first.text << "\n---\n" << second.text;
  const std::string added = second.text.substr(first.text.size());
  const std::string reply = added.substr(0, added.find("<|im_end|>"));
  EXPECT_FALSE(reply.empty()) << added;
  // That reply is the one the chat printed for turn 1.
  EXPECT_NE(a.out.find("[/prompt]\n" + reply), std::string::npos) << reply << "\n" << a.out;
  EXPECT_NE(added.find("and again", reply.size()), std::string::npos) << added;
  // In tokens: the second prompt is the new message sent on its own plus more than the whole
  // first prompt (the first turn and its reply came along).
  const auto alone = sh("printf 'and again\\n' | " + test::ember_binary() + " chat --model " +
                        (dir_ / "m").string() +
                        " --max-tokens 1 --kv-cache-gb 0.01 --threads 1 --show-prompt");
  ASSERT_EQ(alone.code, 0) << alone.out;
  const auto alone_sent = sent_prompts(alone.out);
  ASSERT_EQ(alone_sent.size(), 1u) << alone.out;
  EXPECT_GT(second.tokens - alone_sent[0].tokens, first.tokens)
      << second.tokens << " " << alone_sent[0].tokens << " " << first.tokens;
  // /reset drops the history: the same first message gives the same prompt as at the start.
  EXPECT_EQ(after_reset.text, first.text);
  EXPECT_EQ(after_reset.tokens, first.tokens);
}

// A Gemma model chats through Gemma's own template (user/model turns, no system role): the
// second turn's prompt holds the first exchange in the template's format, and a system message,
// which the template refuses, is a clear error for that turn rather than a crash.
TEST_F(CliServe, ChatWithAGemmaModelUsesItsTemplate) {
  EMBER_REQUIRE_ASSET("templates/google-gemma-2-2b-it.jinja");
  const fs::path m = dir_ / "gemma";
  auto r = sh(test::ember_binary() + " make-model --arch gemma3 --out " + m.string() +
              " --vocab 400 --seed 4");
  ASSERT_EQ(r.code, 0) << r.out;
  fs::copy_file(test::asset("templates/google-gemma-2-2b-it.jinja"), m / "chat_template.jinja");
  const std::string chat = test::ember_binary() + " chat --model " + m.string() +
                           " --max-tokens 3 --seed 2 --kv-cache-gb 0.01 --threads 1 --show-prompt";
  r = sh("printf 'hi\\nand again\\n' | " + chat);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string turn1 = "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n";
  EXPECT_NE(r.out.find("<|endoftext|>" + turn1 + "\n[/prompt]"), std::string::npos) << r.out;
  // Turn 2: turn 1, the model's reply closed by <end_of_turn>, then the new user turn.
  const size_t second = r.out.find("[prompt: ", r.out.find("[/prompt]"));
  ASSERT_NE(second, std::string::npos) << r.out;
  const std::string rest = r.out.substr(second);
  EXPECT_NE(rest.find(turn1), std::string::npos) << rest;
  EXPECT_NE(rest.find("<end_of_turn>\n<start_of_turn>user\nand again<end_of_turn>\n"
                      "<start_of_turn>model\n\n[/prompt]"),
            std::string::npos)
      << rest;

  // The turn fails with the template's own message; the session goes on (it is interactive).
  r = sh("printf 'hi\\n' | " + chat + " --system 'be brief'");
  EXPECT_NE(r.out.find("[error: chat template: System role not supported]"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace ember
