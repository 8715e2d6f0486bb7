// The real stories260K model (Llama architecture, fp32) on the CPU backend: greedy generation
// reproduces the reference ids, and chunked prefill / token-by-token decode / batching with
// another sequence all give the logits of one full prefill.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/generate.h"
#include "tests/stories260k_vectors.h"
#include "tests/test_support.h"

namespace ember {
namespace {

const char* kModel = test::kStoriesModel;
const char* kGreedy = test::kStoriesGreedy;


TEST(Stories260K, GreedyFromBosReproducesReference) {
  EMBER_REQUIRE_ASSET(kModel);
  EMBER_REQUIRE_ASSET(kGreedy);
  auto expected = test::read_json_ids(test::asset(kGreedy), "generated_ids");
  auto prompt = test::read_json_ids(test::asset(kGreedy), "prompt_ids");
  ASSERT_EQ(expected.size(), 256u);
  ASSERT_EQ(prompt, (std::vector<int32_t>{1}));
  for (bool simd : {true, false}) {
    auto be = make_cpu_backend(CpuBackendOptions{0, simd});
    LoadedModel m = load_model(test::asset(kModel), *be);
    GenerateOptions o;
    o.max_tokens = 256;  // the reference runs 256 steps and never meets EOS
    std::vector<int32_t> streamed;
    GenerateResult r = generate(*m.model, prompt, o, [&](int32_t id) {
      streamed.push_back(id);
      return true;
    });
    EXPECT_EQ(r.ids, expected) << be->name();
    EXPECT_EQ(streamed, r.ids);
    EXPECT_EQ(r.finish, GenerateResult::Finish::Length);
  }
}

class Stories260KLogits : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(test::asset(kModel))) GTEST_SKIP() << "no stories260K";
    be_ = make_cpu_backend(2);
    m_ = std::make_unique<LoadedModel>(load_model(test::asset(kModel), *be_));
    prompt_ = test::read_json_ids(test::asset(kGreedy), "generated_ids");
    prompt_.insert(prompt_.begin(), 1);
    prompt_.resize(45);
  }

  // Logits of every prompt token from one prefill over the whole prompt.
  std::vector<float> full_prefill(int n) {
    KvCache kv = be_->alloc_kv_cache(m_->model->kv_spec(8, 16));
    StepInput s;
    s.add_sequence({prompt_.begin(), prompt_.begin() + n}, 0, {0, 1, 2, 3, 4, 5, 6, 7}, 16, false);
    s.logit_rows.resize(size_t(n));
    std::iota(s.logit_rows.begin(), s.logit_rows.end(), 0);
    std::vector<float> logits;
    m_->model->forward(s, kv, logits);
    return logits;
  }

  // The same prompt fed in chunks of the given sizes (1 = decode), into a shuffled block table.
  std::vector<float> chunked(const std::vector<int>& sizes) {
    KvCache kv = be_->alloc_kv_cache(m_->model->kv_spec(12, 4));
    const std::vector<int32_t> table{7, 3, 11, 0, 5, 9, 1, 10, 2, 8, 4, 6};
    std::vector<float> all, logits;
    int pos = 0;
    for (int n : sizes) {
      StepInput s;
      s.add_sequence({prompt_.begin() + pos, prompt_.begin() + pos + n}, pos, table, 4, false);
      s.logit_rows.resize(size_t(n));
      std::iota(s.logit_rows.begin(), s.logit_rows.end(), 0);
      m_->model->forward(s, kv, logits);
      all.insert(all.end(), logits.begin(), logits.end());
      pos += n;
    }
    return all;
  }

  std::unique_ptr<Backend> be_;
  std::unique_ptr<LoadedModel> m_;
  std::vector<int32_t> prompt_;
};

// Logits of the same token agree to 1e-5 (absolute; stories260K's logits are O(10)).
void expect_close(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  EXPECT_LE(worst, 1e-5);
}

TEST_F(Stories260KLogits, ChunkedPrefillAndDecodeMatchFullPrefill) {
  const auto full = full_prefill(45);
  expect_close(chunked({45}), full);
  expect_close(chunked({7, 13, 1, 20, 4}), full);
  expect_close(chunked(std::vector<int>(45, 1)), full);
  expect_close(chunked({30, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}), full);
}

TEST_F(Stories260KLogits, BatchedSequencesDoNotInteract) {
  // Sequence A (prompt[0..20)) and sequence B (a different prompt) in one step give the logits
  // each gets alone.
  const auto full = full_prefill(20);
  std::vector<int32_t> other{1, 403, 407, 261, 100, 200, 300};
  KvCache kv = be_->alloc_kv_cache(m_->model->kv_spec(6, 8));
  StepInput s;
  s.add_sequence(other, 0, {4, 5}, 8, false);
  s.add_sequence({prompt_.begin(), prompt_.begin() + 20}, 0, {3, 0, 1}, 8, false);
  for (int r = 0; r < 20; ++r) s.logit_rows.push_back(7 + r);
  std::vector<float> logits;
  m_->model->forward(s, kv, logits);
  expect_close(logits, full);
}

TEST(Stories260K, TemperatureSamplingIsSeededAndStopsAtEos) {
  EMBER_REQUIRE_ASSET(kModel);
  auto be = make_cpu_backend(2);
  LoadedModel m = load_model(test::asset(kModel), *be);
  GenerateOptions o;
  o.max_tokens = 60;
  o.temperature = 1.0f;
  o.seed = 42;
  auto a = generate(*m.model, {1}, o);
  auto b = generate(*m.model, {1}, o);
  EXPECT_EQ(a.ids, b.ids);
  o.seed = 43;
  auto c = generate(*m.model, {1}, o);
  EXPECT_NE(a.ids, c.ids);
  // Stopping at a token the run produces: generation ends right after it.
  o.seed = 42;
  o.stop_ids = {a.ids[5]};
  auto d = generate(*m.model, {1}, o);
  const size_t first = size_t(std::find(a.ids.begin(), a.ids.end(), a.ids[5]) - a.ids.begin());
  EXPECT_EQ(d.ids, std::vector<int32_t>(a.ids.begin(), a.ids.begin() + first + 1));
  EXPECT_EQ(d.finish, GenerateResult::Finish::Stop);
}

TEST(Stories260K, BadPromptsAreErrors) {
  EMBER_REQUIRE_ASSET(kModel);
  auto be = make_cpu_backend(1);
  LoadedModel m = load_model(test::asset(kModel), *be);
  EXPECT_THROW(generate(*m.model, {}, {}), Error);
  EXPECT_THROW(generate(*m.model, {1, 512}, {}), Error);
  EXPECT_THROW(generate(*m.model, {-1}, {}), Error);
}

}  // namespace
}  // namespace ember
