// CPU tensor parallelism against TP=1: random models of every architecture (KV-head
// replication at TP=4 with 2 KV heads; qwen2's biases; Qwen3's and Gemma 3's per-head q/k
// norms; Gemma's vocabulary-split tied embedding), logits within 1e-5 relative and greedy ids
// identical; the engine through the scheduler gives TP=1's tokens; bad sizes fail with the
// flag's name before anything loads; a rank that throws ends the step on every rank.
#include <filesystem>
#include <iostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/model/random_model.h"
#include "engine/serve/engine.h"
#include "tests/dist/tp_test_util.h"
#include "tests/serve/serve_test_util.h"
#include "tests/temp_model.h"

namespace ember {
namespace {

using ::testing::HasSubstr;

constexpr double kTolerance = 1e-5;  // the bound on f32 logits

std::vector<int32_t> greedy(ModelRunner& m, const std::vector<int32_t>& prompt, int n) {
  Engine engine(std::shared_ptr<ModelRunner>(&m, [](ModelRunner*) {}));
  ChatRequest q;
  q.prompt_ids = prompt;
  q.sampling.temperature = 0;
  q.sampling.max_tokens = n;
  q.sampling.ignore_eos = true;
  return engine.submit(q).wait().completions.at(0).tokens;
}

class TensorParallelArch : public ::testing::TestWithParam<Arch> {
 protected:
  void SetUp() override {
    RandomModelOptions o = test::tiny_model_options(17);
    o.arch = GetParam();
    o.dtype = DType::F32;
    o.vocab = 301;  // does not divide by 2 or 4: the ranks' vocabulary slices differ in size
    dir_ = test::write_temp_model("ember_tp_" + std::string(arch_hf_name(o.arch)), o);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_P(TensorParallelArch, LogitsAndGreedyIdsMatchTp1) {
  const auto a = test::make_prompt(9, 1, 301), b = test::make_prompt(6, 2, 301);
  auto one = test::open_tp(dir_, 1);
  const std::vector<float> ref = test::two_step_logits(*one, a, b, 17, 42);
  const auto ref_ids = greedy(*one, a, 10);
  ASSERT_EQ(ref_ids.size(), 10u);
  // TP=4 over 2 KV heads: each KV head is copied to two ranks.
  for (int tp : {2, 4}) {
    auto many = test::open_tp(dir_, tp);
    ASSERT_EQ(many->vocab_size(), 301);
    const std::vector<float> got = test::two_step_logits(*many, a, b, 17, 42);
    ASSERT_EQ(got.size(), ref.size());
    const double err = test::max_relative_error(got, ref, 301);
    std::cout << arch_hf_name(GetParam()) << " TP=" << tp << ": max relative logit error " << err
              << "\n";
    EXPECT_LE(err, kTolerance) << "TP=" << tp;
    EXPECT_EQ(test::row_argmax(got, 301), test::row_argmax(ref, 301)) << "TP=" << tp;
    EXPECT_EQ(greedy(*many, a, 10), ref_ids) << "TP=" << tp;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryArch, TensorParallelArch,
                         ::testing::Values(Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Qwen3,
                                           Arch::Phi3, Arch::Gemma2, Arch::Gemma3),
                         [](const auto& info) { return std::string(arch_hf_name(info.param)); });

class TensorParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RandomModelOptions o = test::tiny_model_options(23);
    o.dtype = DType::F32;
    dir_ = test::write_temp_model("ember_tp_engine", o);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static inline std::string dir_;
};

TEST_F(TensorParallel, ConcurrentSeededRequestsThroughTheSchedulerMatchTp1) {
  std::vector<ChatRequest> reqs;
  for (int i = 0; i < 12; ++i) {
    ChatRequest q;
    q.prompt_ids = test::make_prompt(3 + (i * 5) % 17, 60 + i, 300);
    q.sampling.temperature = 1.0f;
    q.sampling.top_k = 40;
    q.sampling.max_tokens = 5 + i % 6;
    q.sampling.ignore_eos = true;
    q.sampling.seed = 900 + i;
    reqs.push_back(q);
  }
  auto run = [&](int tp) {
    Engine engine(test::open_tp(dir_, tp, 128));
    std::vector<RequestHandle> hs;
    for (auto& q : reqs) hs.push_back(engine.submit(q));  // all in flight at once
    std::vector<std::vector<int32_t>> out;
    for (auto& h : hs) out.push_back(h.wait().completions.at(0).tokens);
    return out;
  };
  const auto one = run(1), two = run(2);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(two[i], one[i]) << "request " << i;
    EXPECT_EQ(int(one[i].size()), reqs[i].sampling.max_tokens);
  }
}

TEST_F(TensorParallel, KvCapacityGrowsWithTheRanks) {
  // The same per-rank budget holds twice the tokens when each rank caches half the KV heads.
  RunnerOptions ro = test::tp_runner_options(1 << 20);
  ro.kv.gib = 1.0 / 1024;
  auto one = TransformerRunner::open(dir_, make_cpu_backend(1), ro);
  std::vector<std::unique_ptr<Backend>> bs;
  bs.push_back(make_cpu_backend(1));
  bs.push_back(make_cpu_backend(1));
  TensorParallelOptions o;
  o.runner = ro;
  o.ranks_share_memory = false;  // as GPUs: each rank has the budget on its own device
  auto two = TensorParallelRunner::open(dir_, std::move(bs), make_cpu_communicators(2), o);
  EXPECT_EQ(two->num_kv_blocks(), 2 * one->num_kv_blocks());
  EXPECT_EQ(two->rank(1).model().config().num_kv_heads, 1);
}

TEST_F(TensorParallel, BadSizesFailNamingTheFlag) {
  ModelConfig c = load_model_config(dir_);  // 4 query heads, 2 KV heads, intermediate 128
  try {
    test::open_tp(dir_, 3);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--tensor-parallel-size 3 does not divide 4 query heads"));
  }
  c.num_heads = 32;
  c.num_kv_heads = 8;
  EXPECT_THROW(ShardPlan({0, 3}).check(c), Error);
  c.num_heads = 24;
  c.num_kv_heads = 4;
  try {
    ShardPlan{0, 6}.check(c);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is not a multiple of 4 KV heads"));
  }
  c.num_heads = 8;
  c.num_kv_heads = 8;
  c.intermediate_size = 100;
  try {
    ShardPlan{0, 8}.check(c);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("does not divide the MLP's intermediate size 100"));
  }
  EXPECT_THROW(ShardPlan({0, 0}).check(c), Error);
  std::vector<std::unique_ptr<Backend>> bs;
  bs.push_back(make_cpu_backend(1));
  bs.push_back(make_cpu_backend(1));
  EXPECT_THROW(TensorParallelRunner::open(dir_, std::move(bs), make_cpu_communicators(3), {}),
               Error);
}

TEST_F(TensorParallel, AFailedStepFailsOnEveryRankAndTheNextStepRuns) {
  auto tp = test::open_tp(dir_, 2, 8);
  StepInput bad;
  bad.add_sequence({1, 2, 3}, 0, {0}, 4, true);
  bad.slot_mapping[1] = 1 << 20;  // outside the KV cache
  std::vector<float> l;
  EXPECT_THROW(tp->forward(bad, l), Error);
  StepInput oob;
  oob.add_sequence({1, 300}, 0, {0}, 4, true);  // id 300 is outside the vocabulary of 300
  try {
    tp->forward(oob, l);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("token id 300 outside the vocabulary of 300"));
  }
  auto one = test::open_tp(dir_, 1, 8);
  StepInput good;
  good.add_sequence({1, 2, 3}, 0, {1}, 4, true);
  std::vector<float> ref;
  one->forward(good, ref);
  tp->forward(good, l);
  EXPECT_LE(test::max_relative_error(l, ref, 300), kTolerance);
}

}  // namespace
}  // namespace ember
