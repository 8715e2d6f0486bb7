// CPU tensor parallelism against TP=1: random models of every architecture (KV-head
// replication at TP=4 with 2 KV heads; qwen2's biases; Qwen3's and Gemma 3's per-head q/k
// norms; Gemma's vocabulary-split tied embedding), logits within 1e-5 relative and greedy ids
// identical; the engine through the scheduler gives TP=1's tokens; bad sizes fail with the
// flag's name before anything loads; a rank that throws ends the step on every rank, cleanly.
#include <atomic>
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
  const std::vector<ChatRequest> reqs = test::seeded_requests(12, 300, 900);
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

// A backend that forwards every op to a CPU backend, and whose matmul throws while `fail` is
// set: one rank failing in the middle of a step.
class FailingBackend final : public Backend {
 public:
  FailingBackend(std::unique_ptr<Backend> inner, const std::atomic<bool>& fail)
      : in_(std::move(inner)), fail_(fail) {}
  std::string name() const override { return in_->name(); }
  DType activation_dtype() const override { return in_->activation_dtype(); }
  Tensor alloc(DType d, const Shape& s) override { return in_->alloc(d, s); }
  Tensor upload(const void* p, DType d, const Shape& s, bool b) override {
    return in_->upload(p, d, s, b);
  }
  void download(const Tensor& t, void* p) override { in_->download(t, p); }
  StepTensors upload_step(const StepInput& s) override { return in_->upload_step(s); }
  KvCache alloc_kv_cache(const KvCacheSpec& s) override { return in_->alloc_kv_cache(s); }
  size_t kv_memory_available() const override { return in_->kv_memory_available(); }
  void embed(const Tensor& t, const StepTensors& s, Tensor& o) override { in_->embed(t, s, o); }
  void embed_shard(const Tensor& t, const StepTensors& s, int64_t f, int64_t v,
                   Tensor& o) override {
    in_->embed_shard(t, s, f, v, o);
  }
  void rmsnorm(const Tensor& x, const Tensor& w, float e, Tensor& o) override {
    in_->rmsnorm(x, w, e, o);
  }
  void add_rmsnorm(Tensor& r, const Tensor& x, const Tensor& w, float e, Tensor& o) override {
    in_->add_rmsnorm(r, x, w, e, o);
  }
  void matmul(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& o) override {
    if (fail_) throw Error("rank 1: injected matmul failure");
    in_->matmul(x, w, b, o);
  }
  Tensor prepare_matmul_weight(const Tensor& w, const RowsConsumed& c) override {
    return in_->prepare_matmul_weight(w, c);
  }
  void qk_rmsnorm(Tensor& q, const Tensor& a, const Tensor& b, float e,
                  const AttnShape& s) override {
    in_->qk_rmsnorm(q, a, b, e, s);
  }
  void rope_and_store_kv(Tensor& q, const Tensor& f, const StepTensors& s, const AttnShape& a,
                         KvCache& kv, int l) override {
    in_->rope_and_store_kv(q, f, s, a, kv, l);
  }
  void paged_attention(const Tensor& q, const KvCache& kv, int l, const StepTensors& s,
                       const AttnShape& a, Tensor& o) override {
    in_->paged_attention(q, kv, l, s, a, o);
  }
  void silu_mul(const Tensor& g, Tensor& o) override { in_->silu_mul(g, o); }
  void gelu_tanh_mul(const Tensor& g, Tensor& o) override { in_->gelu_tanh_mul(g, o); }
  void scale(Tensor& x, float s) override { in_->scale(x, s); }
  void softcap(Tensor& x, float c) override { in_->softcap(x, c); }
  void all_reduce(Tensor& x) override {
    if (comm_) comm_->all_reduce_sum(x.data, x.dtype, size_t(x.numel()));
  }
  void gather_rows(const Tensor& x, const StepTensors& s, Tensor& o) override {
    in_->gather_rows(x, s, o);
  }
  void copy_kv_blocks(KvCache& kv, std::span<const std::pair<int32_t, int32_t>> p) override {
    in_->copy_kv_blocks(kv, p);
  }

 private:
  std::unique_ptr<Backend> in_;
  const std::atomic<bool>& fail_;
};

// Rank 1 throws in its first matmul while rank 0 goes on into the all_reduce after the
// embedding and then waits in the next one: the step ends on both ranks with rank 1's error,
// and the next step gives TP=1's logits.
TEST_F(TensorParallel, ARankThatThrowsStopsTheStepCleanly) {
  std::atomic<bool> fail{false};
  std::vector<std::unique_ptr<Backend>> bs;
  bs.push_back(make_cpu_backend(1));
  bs.push_back(std::make_unique<FailingBackend>(make_cpu_backend(1), fail));
  TensorParallelOptions o;
  o.runner = test::tp_runner_options(16);
  o.ranks_share_memory = true;
  auto tp = TensorParallelRunner::open(dir_, std::move(bs), make_cpu_communicators(2), o);
  StepInput step;
  step.add_sequence({1, 2, 3}, 0, {0}, 4, true);
  std::vector<float> l;
  fail = true;
  for (int i = 0; i < 2; ++i) {  // and again: the group recovered from the first failure
    try {
      tp->forward(step, l);
      ADD_FAILURE() << "the failed step returned";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "rank 1: injected matmul failure");
    }
  }
  fail = false;
  tp->forward(step, l);
  std::vector<float> ref;
  test::open_tp(dir_, 1, 16)->forward(step, ref);
  EXPECT_LE(test::max_relative_error(l, ref, 300), kTolerance);
}

}  // namespace
}  // namespace ember
