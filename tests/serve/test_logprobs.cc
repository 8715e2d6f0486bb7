// Log-probabilities as the engine reports them: RowLogprobs against a float64 log-softmax, its
// top-k selection against a full sort, and the engine's per-token entries (raw and processed)
// against the fake model's logits; min_tokens' masking.
#include "engine/sample/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "engine/serve/engine.h"
#include "engine/sample/sampler.h"
#include "tests/serve/serve_test_util.h"

namespace ember {
namespace {

std::vector<float> random_logits(size_t n, uint32_t seed, float spread = 12.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, spread / 4);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double reference_logprob(const std::vector<float>& l, size_t i, double t) {
  double m = -INFINITY;
  for (float x : l) m = std::max(m, double(x) / t);
  double s = 0;
  for (float x : l) s += std::exp(double(x) / t - m);
  return double(l[i]) / t - m - std::log(s);
}

TEST(RowLogprobs, MatchAFloat64LogSoftmaxOverA152kVocabulary) {
  const auto l = random_logits(151936, 7);
  for (float t : {1.f, 0.7f, 1.9f}) {
    const RowLogprobs lp(l, t);
    for (size_t i : {size_t(0), size_t(17), size_t(90000), size_t(151935)})
      EXPECT_NEAR(lp.at(int32_t(i)), reference_logprob(l, i, t), 2e-6) << "T=" << t << " id " << i;
  }
}

TEST(RowLogprobs, TopKIsTheFullSortsPrefixWithTiesToTheLowerId) {
  auto l = random_logits(5000, 3);
  l[4000] = l[10] = l[2500] = 50.f;  // a three-way tie at the top
  l[7] = -INFINITY;
  const RowLogprobs lp(l);
  std::vector<int32_t> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  for (int k : {0, 1, 3, 20, 64}) {
    const auto top = lp.top(k);
    ASSERT_EQ(top.size(), size_t(k));
    for (int i = 0; i < k; ++i) {
      EXPECT_EQ(top[i].first, order[i]) << "k=" << k << " rank " << i;
      EXPECT_EQ(top[i].second, lp.at(order[i]));
    }
  }
  EXPECT_EQ(lp.top(3)[0].first, 10);
  EXPECT_EQ(lp.top(3)[2].first, 4000);
  EXPECT_EQ(lp.at(7), -INFINITY);
  EXPECT_EQ(lp.top(100000).size(), l.size());
}

TEST(RowLogprobs, MaskedAndNanLogitsHaveNoMassAndEverythingMaskedIsMinusInfinity) {
  std::vector<float> l = {1.f, -INFINITY, NAN, 1.f};
  const RowLogprobs lp(l);
  EXPECT_NEAR(lp.at(0), std::log(0.5), 1e-7);
  EXPECT_EQ(lp.at(1), -INFINITY);
  EXPECT_EQ(lp.at(2), -INFINITY);
  const auto top = lp.top(4);
  ASSERT_EQ(top.size(), 3u);  // the NaN is never listed
  EXPECT_EQ(top[0].first, 0);
  EXPECT_EQ(top[1].first, 3);
  std::vector<float> none = {-INFINITY, -INFINITY};
  EXPECT_EQ(RowLogprobs(none).at(0), -INFINITY);
}

SamplingParams with_logprobs(float temperature, int k, uint64_t seed) {
  SamplingParams p;
  p.temperature = temperature;
  p.max_tokens = 12;
  p.seed = seed;
  p.logprobs = k;
  return p;
}

TEST(EngineLogprobs, RawEntriesAreTheLogSoftmaxOfTheModelsLogitsAndDoNotChangeTheDraw) {
  auto model = std::make_shared<test::FakeModel>(300, 64, 4);
  Engine engine(model);
  ChatRequest req;
  req.prompt_ids = test::make_prompt(9, 4, 300);
  req.sampling = with_logprobs(0.8f, 5, 42);
  const Completion c = engine.submit(req).wait().completions.at(0);
  EXPECT_EQ(c.tokens, test::reference_tokens(*model, req.prompt_ids, req.sampling, 42));
  ASSERT_EQ(c.logprobs.size(), c.tokens.size());
  std::vector<int32_t> ctx = req.prompt_ids;
  for (size_t t = 0; t < c.tokens.size(); ++t) {
    const auto logits = model->logits_for(ctx);
    const TokenLogprobs want = RowLogprobs(logits).entry(c.tokens[t], 5);
    EXPECT_EQ(c.logprobs[t].logprob, want.logprob) << "token " << t;
    EXPECT_EQ(c.logprobs[t].top, want.top) << "token " << t;
    ctx.push_back(c.tokens[t]);
  }
  req.sampling.logprobs = -1;
  EXPECT_TRUE(engine.submit(req).wait().completions.at(0).logprobs.empty());
}

TEST(EngineLogprobs, ProcessedEntriesFollowBiasPenaltiesAndTemperature) {
  auto model = std::make_shared<test::FakeModel>(300, 64, 4);
  Engine engine(model);
  ChatRequest req;
  req.prompt_ids = test::make_prompt(9, 5, 300);
  for (float temperature : {0.5f, 0.f}) {
    SCOPED_TRACE(temperature);
    req.sampling = with_logprobs(temperature, 4, 9);
    req.sampling.logprobs_mode = SamplingParams::LogprobsMode::Processed;
    req.sampling.presence_penalty = 1.5f;
    req.sampling.logit_bias = {{3, 4.f}};
    const Completion c = engine.submit(req).wait().completions.at(0);
    ASSERT_EQ(c.logprobs.size(), c.tokens.size());
    std::vector<int32_t> ctx = req.prompt_ids, out;
    for (size_t t = 0; t < c.tokens.size(); ++t) {
      auto logits = model->logits_for(ctx);
      apply_logit_bias(logits, req.sampling.logit_bias);
      apply_penalties(logits, req.sampling, req.prompt_ids, out);
      const TokenLogprobs want =
          RowLogprobs(logits, temperature > 0 ? temperature : 1.f).entry(c.tokens[t], 4);
      EXPECT_EQ(c.logprobs[t].logprob, want.logprob) << "token " << t;
      EXPECT_EQ(c.logprobs[t].top, want.top) << "token " << t;
      const auto raw = RowLogprobs(model->logits_for(ctx)).at(c.tokens[t]);
      EXPECT_NE(c.logprobs[t].logprob, raw) << "token " << t << ": processed equals raw";
      ctx.push_back(c.tokens[t]);
      out.push_back(c.tokens[t]);
    }
  }
}

TEST(EngineLogprobs, MinTokensMasksStopTokensUntilReached) {
  auto model = std::make_shared<test::FakeModel>(300, 64, 4);
  model->eos = {11};
  Engine engine(model);
  ChatRequest req;
  req.prompt_ids = test::make_prompt(6, 8, 300);
  req.sampling = with_logprobs(1.f, 0, 3);
  req.sampling.logit_bias = {{11, 100.f}, {12, 90.f}};  // EOS first, then a stop token
  req.sampling.stop_token_ids = {12};
  EXPECT_TRUE(engine.submit(req).wait().completions.at(0).tokens.empty());
  req.sampling.min_tokens = 4;
  const Completion c = engine.submit(req).wait().completions.at(0);
  EXPECT_EQ(c.reason, FinishReason::Stop);
  ASSERT_EQ(c.tokens.size(), 4u);
  for (int32_t t : c.tokens) EXPECT_TRUE(t != 11 && t != 12) << t;
  // Raw logprobs are of the model's own logits, before the bias and the mask.
  EXPECT_EQ(c.logprobs[0].logprob, RowLogprobs(model->logits_for(req.prompt_ids)).at(c.tokens[0]));
  req.sampling.min_tokens = 13;  // more than max_tokens
  EXPECT_EQ(engine.submit(req).wait().completions.at(0).reason, FinishReason::Error);
}

}  // namespace
}  // namespace ember
