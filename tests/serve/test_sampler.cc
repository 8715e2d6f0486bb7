#include "engine/sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/sample/philox.h"

namespace ember {
namespace {

Candidates make(std::vector<float> p) {
  Candidates c;
  for (size_t i = 0; i < p.size(); ++i) c.push_back({int32_t(i), p[i]});
  return c;
}

std::vector<int32_t> ids(const Candidates& c) {
  std::vector<int32_t> r;
  for (const auto& x : c) r.push_back(x.id);
  return r;
}

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(float(std::log(p)));
  return l;
}

// Pearson chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& expected, int n) {
  double x2 = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = expected[i] * n;
    if (e == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0 but was drawn";
      continue;
    }
    x2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return x2;
}

// Pearson's statistic without the zero-probability assertion, for checking that a wrong
// expectation is rejected: a draw of a token the expectation gives probability 0 makes it
// infinite.
double pearson(const std::vector<int>& counts, const std::vector<double>& expected, int n) {
  double x2 = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = expected[i] * n;
    if (e == 0) {
      if (counts[i] > 0) return INFINITY;
      continue;
    }
    x2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return x2;
}

// Upper 1e-4 critical values of chi-square, by degrees of freedom (index 1..8). The seeds are
// fixed, so a test either always passes or always fails; these bounds make a correct sampler
// fail for at most one seed in 10,000, while every wrong transform below lands far above them.
constexpr double kChi2Crit1e4[] = {0, 15.137, 18.421, 21.108, 23.513, 25.745, 27.856, 29.878, 31.828};

// Degrees of freedom of a goodness-of-fit test: the tokens with non-zero probability, minus 1.
int dof(const std::vector<double>& expected) {
  return int(std::count_if(expected.begin(), expected.end(), [](double e) { return e > 0; })) - 1;
}

// softmax(logits / t) in double precision, the reference for the sampler's float version.
std::vector<double> softmax_ref(const std::vector<float>& logits, double t) {
  double m = -INFINITY, z = 0;
  for (float l : logits) m = std::max(m, double(l));
  std::vector<double> p;
  for (float l : logits) p.push_back(std::exp((double(l) - m) / t));
  for (double x : p) z += x;
  for (double& x : p) x /= z;
  return p;
}

// probs restricted to the first k ids (which the tests list most likely first), renormalised.
std::vector<double> head(const std::vector<double>& probs, size_t k) {
  std::vector<double> r(probs.size(), 0.0);
  double z = 0;
  for (size_t i = 0; i < k; ++i) z += probs[i];
  for (size_t i = 0; i < k; ++i) r[i] = probs[i] / z;
  return r;
}

// The sampled frequencies fit `expected` (chi-square at the 1e-4 level) and do not fit
// `wrong`, the distribution a broken transform would give.
void expect_fits(const std::vector<int>& counts, const std::vector<double>& expected,
                 const std::vector<double>& wrong, int n, const std::string& what) {
  const int k = dof(expected);
  ASSERT_GE(k, 1) << what;
  EXPECT_LT(chi_square(counts, expected, n), kChi2Crit1e4[k]) << what;
  EXPECT_GT(pearson(counts, wrong, n), kChi2Crit1e4[std::max(1, dof(wrong))])
      << what << ": the frequencies also fit the wrong distribution";
}

// Draws n tokens with sample_next at steps 0..n-1 (penalties off, so only the step changes).
std::vector<int> sample_counts(const SamplingParams& p, const std::vector<float>& logits,
                               uint64_t seed, int n) {
  std::vector<int> counts(logits.size(), 0);
  std::vector<int32_t> fake_output(n, 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    const int32_t id = sample_next(p, seed, 0, l, {}, std::span(fake_output).first(i));
    counts.at(id)++;
  }
  return counts;
}

TEST(Sampler, SoftmaxCandidatesAreNormalized) {
  const std::vector<float> l = {1.f, 3.f, 3.f, -2.f};
  Candidates c = softmax_candidates(l, 1.f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2, 3}));  // id order: nothing is sorted
  double sum = 0;
  for (auto& x : c) sum += x.p;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(c[1].p / c[0].p, std::exp(2.0), 1e-4);
  // Temperature 2 halves the log-ratio.
  c = softmax_candidates(l, 2.f);
  EXPECT_NEAR(c[1].p / c[0].p, std::exp(1.0), 1e-4);
  // top_k through the partial sort.
  c = softmax_candidates(l, 1.f, 2);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(c[0].p, 0.5, 1e-6);
}

// A logit far enough below the maximum has exp 0 in F32: it is no candidate, and the others
// keep their id order and probabilities.
TEST(Sampler, SoftmaxCandidatesDropTokensWhoseExpUnderflows) {
  const std::vector<float> l = {1.f, -1000.f, 3.f, -2000.f, 3.f};
  const Candidates c = softmax_candidates(l, 1.f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 2, 4}));
  const Candidates all = softmax_candidates(std::vector<float>{1.f, 3.f, 3.f}, 1.f);
  ASSERT_EQ(all.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(c[i].p, all[i].p) << i;
}

TEST(Sampler, TopPKeepsSmallestSetWithMassAtLeastP) {
  const std::vector<float> p = {0.4f, 0.3f, 0.2f, 0.1f};
  for (auto [top_p, keep] : std::vector<std::pair<float, size_t>>{
           {0.3f, 1}, {0.4f, 1}, {0.41f, 2}, {0.65f, 2}, {0.71f, 3}, {0.95f, 4}, {1.f, 4}}) {
    Candidates c = make(p);
    top_p_filter(c, top_p);
    EXPECT_EQ(c.size(), keep) << "top_p=" << top_p;
    double kept_mass = 0;
    for (size_t i = 0; i < keep; ++i) kept_mass += p[i];
    EXPECT_NEAR(c.back().p, p[keep - 1] / kept_mass, 1e-6);
  }
}

TEST(Sampler, TopPMatchesRankingTheWholeVocabulary) {
  // The bucketed cut against its definition: rank everything (p desc, id asc) and keep the
  // shortest prefix whose mass reaches top_p. Peaked, flat, and tied distributions, so that
  // the cut falls inside a crowded bucket and between equal probabilities.
  std::mt19937 g(5);
  for (int round = 0; round < 60; ++round) {
    const int n = 50 + int(g() % 5000);
    std::vector<float> logits(static_cast<size_t>(n));
    const float spread = round % 3 == 0 ? 0.01f : round % 3 == 1 ? 2.f : 8.f;
    std::normal_distribution<float> nd(0.f, spread);
    for (auto& l : logits) l = round % 4 == 0 ? std::round(nd(g)) : nd(g);  // rounding: ties
    const float top_p = std::uniform_real_distribution<float>(0.05f, 0.999f)(g);
    Candidates c = softmax_candidates(logits, 1.f);
    Candidates ranked = c;
    std::sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
      return a.p != b.p ? a.p > b.p : a.id < b.id;
    });
    double mass = 0;
    size_t keep = 0;
    while (keep < ranked.size() && mass < top_p) mass += ranked[keep++].p;
    std::vector<int32_t> want;
    for (size_t i = 0; i < keep; ++i) want.push_back(ranked[i].id);
    std::sort(want.begin(), want.end());
    top_p_filter(c, top_p);
    std::vector<int32_t> got = ids(c);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, want) << "round " << round << " n=" << n << " top_p=" << top_p;
    double total = 0;
    for (const auto& x : c) total += x.p;
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(Sampler, FiltersAcceptCandidatesInIdOrder) {
  // Same distribution as the ranked tests, listed by id with the likely tokens last.
  Candidates c = make({0.1f, 0.2f, 0.3f, 0.4f});
  top_p_filter(c, 0.65f);
  std::sort(c.begin(), c.end(), [](auto& a, auto& b) { return a.id < b.id; });
  EXPECT_EQ(ids(c), (std::vector<int32_t>{2, 3}));
  c = make({0.1f, 0.2f, 0.3f, 0.4f});
  EXPECT_TRUE(xtc_filter(c, 0.15f));
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));  // 0.2 is the least likely above 0.15
  c = make({0.06f, 0.1f, 0.3f, 0.5f, 0.04f});
  min_p_filter(c, 0.2f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2, 3}));
  // top_p over a long flat tail ranks more than the first head of 256.
  Candidates flat;
  for (int i = 0; i < 2000; ++i) flat.push_back({i, 1.f / 2000});
  top_p_filter(flat, 0.5f);
  EXPECT_EQ(flat.size(), 1000u);
}

TEST(Sampler, MinPKeepsTokensAboveFractionOfMax) {
  Candidates c = make({0.5f, 0.3f, 0.1f, 0.06f, 0.04f});
  min_p_filter(c, 0.2f);  // cut at 0.1
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_NEAR(c[0].p, 0.5 / 0.9, 1e-6);
  c = make({0.5f, 0.3f, 0.2f});
  min_p_filter(c, 1.f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0}));
}

TEST(Sampler, TopKKeepsKMostLikely) {
  Candidates c = make({0.5f, 0.3f, 0.2f});
  top_k_filter(c, 2);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(c[1].p, 0.375, 1e-6);
}

TEST(Sampler, TypicalKeepsTokensClosestToEntropy) {
  // H of {0.5, 0.25, 0.25} = 1.0397 nats; surprisals 0.693, 1.386, 1.386: distances 0.35, 0.35,
  // 0.35 (all equal up to rounding) -> keeps by index order until mass >= p.
  // Use a skewed case: {0.7, 0.1, 0.1, 0.1}: H = 0.940; surprisals 0.357 (d=0.58), 2.303
  // (d=1.36). The most typical token is the likely one; typical_p=0.5 keeps it alone.
  Candidates c = make({0.7f, 0.1f, 0.1f, 0.1f});
  typical_filter(c, 0.5f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0}));
  // A flat head with a very unlikely tail: the tail token is the least typical and is dropped.
  c = make({0.33f, 0.33f, 0.33f, 0.01f});
  typical_filter(c, 0.9f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2}));
}

TEST(Sampler, XtcRemovesTopChoicesExceptTheLeastLikelyOfThem) {
  Candidates c = make({0.4f, 0.3f, 0.2f, 0.1f});
  EXPECT_TRUE(xtc_filter(c, 0.15f));  // 0.4, 0.3, 0.2 qualify: 0.2 stays
  EXPECT_EQ(ids(c), (std::vector<int32_t>{2, 3}));
  EXPECT_NEAR(c[0].p, 2.0 / 3.0, 1e-6);
  c = make({0.4f, 0.3f, 0.2f, 0.1f});
  EXPECT_FALSE(xtc_filter(c, 0.35f));  // only one qualifies: nothing removed
  EXPECT_EQ(c.size(), 4u);
}

TEST(Sampler, XtcWithProbabilityOneNeverPicksATopChoice) {
  SamplingParams p;
  p.xtc_probability = 1.f;
  p.xtc_threshold = 0.15f;
  const auto counts = sample_counts(p, logits_of({0.4, 0.3, 0.2, 0.1}), 5, 2000);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 0);
  // 99.9% critical value of chi-square with 1 degree of freedom: 10.83.
  EXPECT_LT(chi_square(counts, {0, 0, 2.0 / 3, 1.0 / 3}, 2000), 10.83);
}

TEST(Sampler, PenaltiesMatchHandComputedLogits) {
  SamplingParams p;
  p.repetition_penalty = 2.f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  std::vector<float> l = {2.f, -1.f, 0.5f, 3.f, 1.f};
  const std::vector<int32_t> prompt = {0};
  const std::vector<int32_t> output = {1, 1, 3};
  apply_penalties(l, p, prompt, output);
  EXPECT_FLOAT_EQ(l[0], 1.f);                       // prompt only: 2 / 2
  EXPECT_FLOAT_EQ(l[1], -1.f * 2 - 0.5f - 0.5f);    // negative: * 2; twice in output
  EXPECT_FLOAT_EQ(l[2], 0.5f);                      // unseen
  EXPECT_FLOAT_EQ(l[3], 3.f / 2 - 0.5f - 0.25f);    // once in output
  EXPECT_FLOAT_EQ(l[4], 1.f);
}

TEST(Sampler, LogitBiasAddsToListedTokens) {
  std::vector<float> l = {0.f, 0.f, 0.f};
  apply_logit_bias(l, {{1, 5.f}, {2, -100.f}});
  EXPECT_EQ(l, (std::vector<float>{0.f, 5.f, -100.f}));
  SamplingParams p;
  p.logit_bias = {{2, 100.f}};
  std::vector<float> l2 = {3.f, 2.f, 0.f};
  EXPECT_EQ(sample_next(p, 1, 0, l2, {}, {}), 2);
}

TEST(Sampler, GreedyIsArgmaxWithTiesToLowestId) {
  SamplingParams p;
  p.temperature = 0.f;
  std::vector<float> l = {1.f, 4.f, 4.f, 2.f};
  EXPECT_EQ(sample_next(p, 99, 0, l, {}, {}), 1);
}

TEST(Sampler, TargetEntropyFindsTheTemperature) {
  const std::vector<float> l = {4.f, 2.f, 1.f, 0.f, -1.f, -3.f};
  for (float target : {0.3f, 0.8f, 1.2f, 1.6f}) {
    const float t = temperature_for_entropy(l, target);
    EXPECT_NEAR(entropy_at_temperature(l, t), target, 1e-3) << "target " << target;
  }
  // Unreachable targets clamp to the ends of the range.
  EXPECT_FLOAT_EQ(temperature_for_entropy(l, 5.f), 20.f);  // above log(6)
  // Entropy of the uniform distribution is log n.
  EXPECT_NEAR(entropy_at_temperature(std::vector<float>(8, 1.f), 1.0), std::log(8.0), 1e-9);
}

TEST(Sampler, TargetEntropyModeSamplesAtTheFoundTemperature) {
  SamplingParams p;
  p.target_entropy = 1.0f;
  const std::vector<float> l = {3.f, 2.f, 1.f, 0.f};
  const float t = temperature_for_entropy(l, 1.0f);
  std::vector<double> expected;
  double z = 0;
  for (float x : l) z += std::exp(x / t);
  for (float x : l) expected.push_back(std::exp(x / t) / z);
  const int n = 20000;
  // 99.9% critical value of chi-square with 3 degrees of freedom: 16.27.
  EXPECT_LT(chi_square(sample_counts(p, l, 11, n), expected, n), 16.27);
}

TEST(Sampler, FrequenciesMatchTheDistributionChiSquare) {
  const std::vector<double> probs = {0.35, 0.25, 0.2, 0.1, 0.06, 0.04};
  const int n = 20000;
  SamplingParams p;
  // 99.9% critical value of chi-square with 5 degrees of freedom: 20.52.
  EXPECT_LT(chi_square(sample_counts(p, logits_of(probs), 1234, n), probs, n), 20.52);
  // After top_p = 0.75 only {0.35, 0.25, 0.2} remain (mass 0.8).
  p.top_p = 0.75f;
  std::vector<double> kept = {0.35 / 0.8, 0.25 / 0.8, 0.2 / 0.8, 0, 0, 0};
  // 2 degrees of freedom: 13.82.
  EXPECT_LT(chi_square(sample_counts(p, logits_of(probs), 77, n), kept, n), 13.82);
  // min_p = 0.5 keeps p >= 0.175: {0.35, 0.25, 0.2}, same distribution.
  p = SamplingParams{};
  p.min_p = 0.5f;
  EXPECT_LT(chi_square(sample_counts(p, logits_of(probs), 78, n), kept, n), 13.82);
  // A wrong expectation must fail the same test (guards against a vacuous statistic).
  EXPECT_GT(chi_square(sample_counts(SamplingParams{}, logits_of(probs), 1234, n),
                       {1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6}, n),
            20.52);
}

TEST(Sampler, TopKFrequenciesChiSquare) {
  // The likely tokens are not at the low ids, so the filter has to rank.
  const std::vector<double> probs = {0.08, 0.3, 0.05, 0.2, 0.25, 0.12};
  const int n = 20000;
  SamplingParams p;
  p.top_k = 3;
  // Ids 1, 4, 3 (mass 0.75) survive.
  const std::vector<double> top3 = {0, 0.3 / 0.75, 0, 0.2 / 0.75, 0.25 / 0.75, 0};
  // Keeping one too many (id 5) is the wrong answer.
  const std::vector<double> top4 = {0, 0.3 / 0.87, 0, 0.2 / 0.87, 0.25 / 0.87, 0.12 / 0.87};
  expect_fits(sample_counts(p, logits_of(probs), 101, n), top3, top4, n, "top_k=3");
  p.top_k = 5;  // only id 2 goes
  std::vector<double> top5 = probs;
  top5[2] = 0;
  for (double& x : top5) x /= 0.95;
  expect_fits(sample_counts(p, logits_of(probs), 102, n), top5, probs, n, "top_k=5");
}

TEST(Sampler, TemperatureFrequenciesMatchSoftmaxOfScaledLogits) {
  const std::vector<float> l = {1.5f, 1.f, 0.5f, 0.f, -0.5f, -1.f};
  const int n = 20000;
  for (float t : {0.5f, 2.f}) {
    SamplingParams p;
    p.temperature = t;
    const auto counts = sample_counts(p, l, 300 + uint64_t(t * 10), n);
    const std::string what = "T=" + std::to_string(t);
    // Wrong: the temperature ignored, or applied the wrong way round (logits * T).
    expect_fits(counts, softmax_ref(l, t), softmax_ref(l, 1.0), n, what);
    EXPECT_GT(pearson(counts, softmax_ref(l, 1.0 / t), n), kChi2Crit1e4[5]) << what;
  }
}

TEST(Sampler, TypicalPFrequenciesChiSquare) {
  // H = 1.333 nats; |surprisal - H| per token: 0.640, 0.276, 0.564, 0.970, 1.663. The most
  // typical tokens, in order, are ids 1, 2, 0, 3, 4: the mode is not the most typical.
  const std::vector<double> probs = {0.5, 0.2, 0.15, 0.1, 0.05};
  const int n = 20000;
  SamplingParams p;
  p.typical_p = 0.3f;  // ids 1 and 2 (mass 0.35) reach 0.3: the mode is excluded
  const std::vector<double> typical_03 = {0, 0.2 / 0.35, 0.15 / 0.35, 0, 0};
  // What top_p = 0.3 would keep (the mode alone) is the wrong answer.
  expect_fits(sample_counts(p, logits_of(probs), 401, n), typical_03, head(probs, 1), n,
              "typical_p=0.3");
  p.typical_p = 0.5f;  // ids 1, 2, then 0 (mass 0.85)
  expect_fits(sample_counts(p, logits_of(probs), 402, n), head(probs, 3), typical_03, n,
              "typical_p=0.5");
}

TEST(Sampler, XtcFiresAtItsProbabilityChiSquare) {
  // With probability q the step is filtered ({0.4, 0.3, 0.2} are above 0.15: only 0.2 of them
  // stays), otherwise it is not: the frequencies follow the mixture of the two distributions.
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  const std::vector<double> fired = {0, 0, 2.0 / 3, 1.0 / 3};
  auto mixture = [&](double q) {
    std::vector<double> m;
    for (size_t i = 0; i < probs.size(); ++i) m.push_back((1 - q) * probs[i] + q * fired[i]);
    return m;
  };
  const int n = 20000;
  for (float q : {0.3f, 0.75f}) {
    SamplingParams p;
    p.xtc_probability = q;
    p.xtc_threshold = 0.15f;
    const auto counts = sample_counts(p, logits_of(probs), 500 + uint64_t(q * 100), n);
    const std::string what = "xtc_probability=" + std::to_string(q);
    // Wrong: firing at 1 - q (the comparison reversed), never, or always.
    expect_fits(counts, mixture(q), mixture(1 - q), n, what);
    EXPECT_GT(pearson(counts, probs, n), kChi2Crit1e4[3]) << what;
    EXPECT_GT(pearson(counts, fired, n), kChi2Crit1e4[1]) << what;
  }
}

TEST(Sampler, LogitBiasShiftsFrequenciesChiSquare) {
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  const int n = 20000;
  SamplingParams p;
  p.logit_bias = {{0, -1.f}, {3, 1.5f}};
  // The bias multiplies a token's weight by e^bias: 0.4/e, 0.3, 0.2, 0.1 e^1.5, renormalised.
  std::vector<float> biased = logits_of(probs);
  biased[0] += -1.f;
  biased[3] += 1.5f;
  expect_fits(sample_counts(p, logits_of(probs), 601, n), softmax_ref(biased, 1.0), probs, n,
              "logit_bias");
  // The bias goes on the logits before the temperature divides them: softmax((l + b) / T), not
  // softmax(l / T + b).
  p.temperature = 2.f;
  std::vector<float> bias_after_t = logits_of(probs);
  for (auto& x : bias_after_t) x /= 2.f;
  bias_after_t[0] += -1.f;
  bias_after_t[3] += 1.5f;
  expect_fits(sample_counts(p, logits_of(probs), 602, n), softmax_ref(biased, 2.0),
              softmax_ref(bias_after_t, 1.0), n, "logit_bias at T=2");
}

TEST(Sampler, ChainedTopKTopPMinPChiSquare) {
  const std::vector<double> probs = {0.28, 0.2, 0.16, 0.12, 0.1, 0.07, 0.04, 0.03};
  const int n = 20000;
  SamplingParams p;
  // top_k = 6 leaves mass 0.93; renormalised, the top five reach 0.86 / 0.93 = 0.925 >= 0.87,
  // so top_p keeps five. Had top_p seen the distribution before top_k's renormalisation (0.86 <
  // 0.87) it would have kept six. min_p = 0.2 cuts below 0.2 * p_max: nothing more.
  p.top_k = 6;
  p.top_p = 0.87f;
  p.min_p = 0.2f;
  expect_fits(sample_counts(p, logits_of(probs), 701, n), head(probs, 5), head(probs, 6), n,
              "top_k=6 top_p=0.87 min_p=0.2");
  // Each filter cuts in turn: top_k 8 -> 6, top_p = 0.9 (0.86 / 0.93 = 0.925) 6 -> 5, min_p =
  // 0.4 (cut at 0.4 * 0.28 = 0.112 of the original mass) 5 -> 4.
  p.top_p = 0.9f;
  p.min_p = 0.4f;
  expect_fits(sample_counts(p, logits_of(probs), 702, n), head(probs, 4), head(probs, 5), n,
              "top_k=6 top_p=0.9 min_p=0.4");
}

TEST(Sampler, DrawIsAPureFunctionOfSeedStepAndProbabilities) {
  std::vector<float> base(50);
  for (int i = 0; i < 50; ++i) base[i] = float(std::sin(i * 1.3) * 3);
  SamplingParams p;
  p.top_k = 20;
  std::vector<int32_t> out1, out2;
  for (int step = 0; step < 40; ++step) {
    std::vector<float> a = base, b = base;
    out1.push_back(sample_next(p, 555, 0, a, {}, out1));
    out2.push_back(sample_next(p, 555, 0, b, {}, out2));
  }
  EXPECT_EQ(out1, out2);
  std::vector<int32_t> other_seed, other_index;
  for (int step = 0; step < 40; ++step) {
    std::vector<float> a = base, b = base;
    other_seed.push_back(sample_next(p, 556, 0, a, {}, other_seed));
    other_index.push_back(sample_next(p, 555, 1, b, {}, other_index));
  }
  EXPECT_NE(out1, other_seed);
  EXPECT_NE(out1, other_index);
  // The draw itself: a fixed u picks by cumulative mass in ascending id order, whatever order
  // the candidates come in.
  Candidates c = make({0.25f, 0.25f, 0.5f});
  EXPECT_EQ(draw_from(c, 0.1), 0);
  EXPECT_EQ(draw_from(c, 0.3), 1);
  EXPECT_EQ(draw_from(c, 0.6), 2);
  std::reverse(c.begin(), c.end());
  EXPECT_EQ(draw_from(c, 0.1), 0);
  EXPECT_EQ(draw_from(c, 0.6), 2);
}

// The draw sums by blocks of 64 (independent chains): across sizes that end inside, at and just
// past a block, and at u values inside every block, it picks what a plain walk of running sums
// picks. Zero-mass candidates (never produced by softmax_candidates, accepted here) are never
// drawn.
TEST(Sampler, DrawMatchesAPlainRunningSumWalk) {
  std::mt19937 g(21);
  std::uniform_real_distribution<float> w(0.f, 1.f);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  for (size_t n : {1u, 5u, 63u, 64u, 65u, 255u, 256u, 257u, 1000u, 32000u}) {
    Candidates c;
    for (size_t i = 0; i < n; ++i) c.emplace_back(int32_t(i), i % 7 == 3 ? 0.f : w(g));
    if (n == 1) c[0].p = 1.f;
    double total = 0;
    for (const auto& x : c) total += x.p;
    const double edges[] = {0.0, 1e-12, 0.5, 1.0 - 1e-12};
    for (int k = 0; k < 400; ++k) {
      const double u = k < 4 ? edges[k] : uni(g);
      double run = 0;
      int32_t want = c.back().id;
      for (const auto& x : c)
        if ((run += x.p) > u * total) {
          want = x.id;
          break;
        }
      ASSERT_EQ(draw_from(c, u), want) << "n=" << n << " u=" << u;
      ASSERT_GT(c[size_t(draw_from(c, u))].p, 0.f);
    }
  }
}

TEST(Sampler, FreshSeedsDiffer) { EXPECT_NE(fresh_seed(), fresh_seed()); }

TEST(SamplingParamsValidation, ErrorsNameTheParameter) {
  auto expect_error = [](auto mutate, const std::string& name) {
    SamplingParams p;
    mutate(p);
    try {
      validate(p, 100);
      ADD_FAILURE() << "no error for " << name;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(name));
    }
  };
  expect_error([](auto& p) { p.temperature = -1; }, "temperature");
  expect_error([](auto& p) { p.temperature = NAN; }, "temperature");
  expect_error([](auto& p) { p.top_k = -2; }, "top_k");
  expect_error([](auto& p) { p.top_p = 0; }, "top_p");
  expect_error([](auto& p) { p.top_p = 1.5; }, "top_p");
  expect_error([](auto& p) { p.min_p = 2; }, "min_p");
  expect_error([](auto& p) { p.typical_p = 0; }, "typical_p");
  expect_error([](auto& p) { p.repetition_penalty = 0; }, "repetition_penalty");
  expect_error([](auto& p) { p.presence_penalty = 3; }, "presence_penalty");
  expect_error([](auto& p) { p.frequency_penalty = -3; }, "frequency_penalty");
  expect_error([](auto& p) { p.logit_bias[100] = 1; }, "logit_bias");
  expect_error([](auto& p) { p.logit_bias[3] = 1000; }, "logit_bias");
  expect_error([](auto& p) { p.xtc_probability = 1.1f; }, "xtc_probability");
  expect_error([](auto& p) { p.xtc_threshold = 0.7f; }, "xtc_threshold");
  expect_error([](auto& p) { p.target_entropy = -1; }, "target_entropy");
  expect_error([](auto& p) { p.n = 0; }, "n=");
  expect_error([](auto& p) { p.max_tokens = 0; }, "max_tokens");
  expect_error([](auto& p) { p.stop = {""}; }, "stop");
  expect_error([](auto& p) { p.stop_token_ids = {100}; }, "stop_token_ids");
  EXPECT_NO_THROW(validate(SamplingParams{}, 100));
}

}  // namespace
}  // namespace ember
