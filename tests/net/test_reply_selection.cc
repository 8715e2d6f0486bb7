// Choosing one of best-of-n candidates: the quality floor (cut short, loops, low logprob) and
// the centroid-farthest rule among those that pass.
#include <gtest/gtest.h>

#include "net/unique/reply_selection.h"

namespace ember::net::unique {
namespace {

Candidate good(std::string text, double mean_lp = -0.8, int n = 50) {
  Candidate c;
  c.text = std::move(text);
  c.finish = FinishReason::kStop;
  c.tokens = n;
  c.logprob_sum = mean_lp * n;
  c.logprob_count = n;
  return c;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(RepetitionLoop, CatchesLoopsAndSparesOrdinaryText) {
  EXPECT_TRUE(has_repetition_loop("Sure. " + repeat("I am happy to help you with that. ", 4)));
  EXPECT_TRUE(has_repetition_loop(repeat("the ", 15)));
  EXPECT_TRUE(has_repetition_loop("答案是" + repeat("好的好的", 30)));
  EXPECT_FALSE(has_repetition_loop(
      "The sky looks blue because molecules in the air scatter short wavelengths of sunlight more "
      "strongly than long ones (Rayleigh scattering). At sunset light crosses more air, so the blue "
      "is scattered away and reds and oranges remain."));
  EXPECT_FALSE(has_repetition_loop("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"));
  EXPECT_FALSE(has_repetition_loop("1. Preheat.\n2. Mix.\n3. Bake.\n4. Cool.\n"));
}

TEST(QualityFloor, RejectsCutShortLoopsLowLogprobAndEmpty) {
  QualityFloor f;
  f.min_mean_logprob = -2.0;
  EXPECT_EQ(quality_failure(good("A fine answer."), f), "");
  Candidate cut = good("An answer that was cut");
  cut.finish = FinishReason::kLength;
  EXPECT_EQ(quality_failure(cut, f), "cut short");
  cut.finish = FinishReason::kDeadline;
  EXPECT_EQ(quality_failure(cut, f), "cut short");
  EXPECT_EQ(quality_failure(good(repeat("yes yes no ", 10)), f), "repetition loop");
  EXPECT_EQ(quality_failure(good("Zorp blivet quux.", -3.1), f), "mean logprob -3.10 < -2.00");
  EXPECT_EQ(quality_failure(good("  \n"), f), "empty");
  // Upstream replies carry no logprobs: only the other checks apply.
  Candidate up = good("From upstream.");
  up.logprob_count = 0;
  up.logprob_sum = 0;
  EXPECT_EQ(quality_failure(up, f), "");
  f.reject_cut_short = false;
  cut.finish = FinishReason::kLength;
  EXPECT_EQ(quality_failure(cut, f), "");
}

TEST(SelectUnique, FarthestFromTheCentroidAmongPassing) {
  // Three replies near one another and one off to the side: the outlier is chosen.
  std::vector<Candidate> cs = {good("a"), good("b"), good("c"), good("d")};
  std::vector<std::vector<float>> e = {{1, 0, 0}, {0.99f, 0.141f, 0}, {0.99f, 0, 0.141f}, {0.6f, 0.8f, 0}};
  Selection s = select_unique(cs, e, {});
  EXPECT_EQ(s.chosen, 3);
  ASSERT_EQ(s.consensus_distance.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_LT(s.consensus_distance[size_t(i)], s.consensus_distance[3]);

  // The outlier fails the floor: the farthest of the rest wins, and the outlier still pulled the
  // centroid (so the candidate on its side is nearer it).
  cs[3].logprob_sum = -5.0 * double(cs[3].logprob_count);
  s = select_unique(cs, e, {});
  EXPECT_EQ(s.failures[3], "mean logprob -5.00 < -2.00");
  EXPECT_EQ(s.chosen, 2);
}

TEST(SelectUnique, FallsBackWhenNothingPasses) {
  std::vector<Candidate> cs = {good("x", -2.5), good("y", -2.2), good("z", -2.9)};
  cs[2].finish = FinishReason::kLength;
  Selection s = select_unique(cs, {{1, 0}, {0, 1}, {1, 1}}, {});
  EXPECT_EQ(s.chosen, 1);  // finished, best mean logprob
  EXPECT_EQ(s.why, "fallback: no candidate passed the quality floor");

  // None finished and none sound (time ran out for all): the longest partial answer, which still scores.
  std::vector<Candidate> partial = {good("short", -3), good("a longer partial answer", -3), good("")};
  for (auto& c : partial) c.finish = FinishReason::kDeadline;
  EXPECT_EQ(select_unique(partial, {}, {}).chosen, 1);
}

TEST(SelectUnique, AllCutShortStillChoosesByDistanceAmongTheSound) {
  std::vector<Candidate> cs = {good("a"), good("b"), good("c", -3.5), good("d")};
  for (auto& c : cs) c.finish = FinishReason::kLength;
  // c is farthest but fails the logprob floor; d is the farthest sound one.
  Selection s = select_unique(cs, {{1, 0}, {0.99f, 0.14f}, {0, 1}, {0.6f, -0.8f}}, {});
  EXPECT_EQ(s.chosen, 3);
  EXPECT_EQ(s.why, "farthest from the candidates' centroid (all cut short)");
  EXPECT_EQ(fallback_choice({}), -1);
}

TEST(SelectUnique, ANonAnswerIsNotChosenForItsDistance) {
  std::vector<Candidate> cs = {good("a", -0.8, 80), good("b", -0.8, 90), good("1", -0.2, 1)};
  Selection s = select_unique(cs, {{1, 0}, {0.99f, 0.14f}, {0, 1}}, {});
  EXPECT_EQ(s.failures[2], "too short (1 tokens, median 80)");
  EXPECT_NE(s.chosen, 2);
  // Short answers all round are fine (a short question).
  std::vector<Candidate> short_ones = {good("Cairo.", -0.3, 3), good("It is Cairo.", -0.4, 5)};
  EXPECT_EQ(quality_failures(short_ones, {}), (std::vector<std::string>{"", ""}));
}

TEST(SelectUnique, OffTopicCandidatesAreNotChosen) {
  std::vector<Candidate> cs = {good("a"), good("b"), good("c")};
  // c is farthest from the others but also far from the prompt.
  const std::vector<std::vector<float>> e = {{1, 0}, {0.99f, 0.14f}, {0, 1}};
  const std::vector<float> prompt = {0.9f, 0.436f};
  EXPECT_EQ(select_unique(cs, e, {}).chosen, 2);
  Selection s = select_unique(cs, e, {}, &prompt);
  ASSERT_EQ(s.relevance.size(), 3u);
  EXPECT_EQ(s.failures[2].rfind("off topic (relevance 0.44 < 0.90 x 0.95)", 0), 0u) << s.failures[2];
  EXPECT_NE(s.chosen, 2);
  QualityFloor off;
  off.min_relevance_ratio = 0;
  EXPECT_EQ(select_unique(cs, e, off, &prompt).chosen, 2);
}

Candidate anchor(std::string text, double mean_lp = -0.4) {
  Candidate c = good(std::move(text), mean_lp);
  c.anchor = true;
  c.source = "anchor";
  return c;
}

TEST(SelectUnique, WithAnchorsTheFarthestFromTheNearestAnchorWins) {
  // Anchors at (1,0) and (0,1). The centroid of the three candidates lies near (0.82,0.57), which
  // makes c (hugging the first anchor) its farthest; against the anchors b, midway, is farthest.
  std::vector<Candidate> cs = {good("a"), good("b"), good("c"), anchor("greedy"), anchor("typical")};
  const std::vector<std::vector<float>> e = {{0.6f, 0.8f}, {0.7071f, 0.7071f}, {0.995f, 0.0998f}, {1, 0}, {0, 1}};
  Selection s = select_unique(cs, e, {});
  EXPECT_EQ(s.chosen, 1);
  EXPECT_EQ(s.why, "farthest from the nearest anchor");
  ASSERT_EQ(s.consensus_distance.size(), 5u);
  EXPECT_NEAR(s.consensus_distance[0], 0.2, 1e-4);
  EXPECT_NEAR(s.consensus_distance[1], 1 - 0.7071, 1e-4);
  EXPECT_EQ(s.failures[3], "anchor");
  EXPECT_EQ(s.failures[4], "anchor");

  // The same candidates without anchors: the centroid rule.
  std::vector<Candidate> plain(cs.begin(), cs.begin() + 3);
  EXPECT_EQ(select_unique(plain, {e.begin(), e.begin() + 3}, {}).chosen, 2);
}

TEST(SelectUnique, AnAnchorIsReturnedOnlyWhenNothingElseIsUsable) {
  // The anchor is farthest from everything, yet never chosen while a candidate passes.
  std::vector<Candidate> cs = {good("a"), good("b"), anchor("greedy")};
  const std::vector<std::vector<float>> e = {{1, 0}, {0.99f, 0.14f}, {0, 1}};
  EXPECT_NE(select_unique(cs, e, {}).chosen, 2);
  // Every candidate rambles: the anchor, a finished stock answer, is the fallback.
  cs[0].logprob_sum = cs[1].logprob_sum = -4.0 * 50;
  Selection s = select_unique(cs, e, {});
  EXPECT_EQ(s.chosen, 2);
  EXPECT_EQ(s.why, "fallback: no candidate passed the quality floor");
}

TEST(SelectUnique, AtMaxTokensLikeTheStockReplyIsNotCutShort) {
  // b is far from the anchor but reached max_tokens; a finished near it.
  std::vector<Candidate> cs = {good("a"), good("b"), anchor("greedy")};
  cs[1].finish = FinishReason::kLength;
  const std::vector<std::vector<float>> e = {{0.99f, 0.14f}, {0.6f, 0.8f}, {1, 0}};
  // The stock reply finished: a reply cut at max_tokens is incomplete beside it.
  Selection s = select_unique(cs, e, {});
  EXPECT_EQ(s.failures[1], "cut short");
  EXPECT_EQ(s.chosen, 0);
  // The stock reply reached max_tokens too: so does every miner's, and b wins on distance.
  cs[2].finish = FinishReason::kLength;
  s = select_unique(cs, e, {});
  EXPECT_EQ(s.failures[1], "");
  EXPECT_EQ(s.chosen, 1);
  // A deadline cut is still cut short.
  cs[1].finish = FinishReason::kDeadline;
  s = select_unique(cs, e, {});
  EXPECT_EQ(s.failures[1], "cut short");
  EXPECT_EQ(s.chosen, 0);
}

TEST(SelectUnique, AnAnchorsRelevanceDoesNotRaiseTheBar) {
  // The greedy anchor restates the prompt (relevance 1); the candidates, less literal, are still
  // within the ratio of the best candidate and stay eligible.
  std::vector<Candidate> cs = {good("a"), good("b"), anchor("greedy")};
  const std::vector<std::vector<float>> e = {{0.7f, 0.714f}, {0.66f, 0.751f}, {1, 0}};
  const std::vector<float> prompt = {1, 0};
  Selection s = select_unique(cs, e, {}, &prompt);
  EXPECT_EQ(s.failures[0], "");
  EXPECT_EQ(s.failures[1], "");
  EXPECT_EQ(s.chosen, 1);  // farther from the anchor
}

TEST(SelectUnique, ATargetDistanceTakesTheMostRelevantThatIsFarEnough) {
  // Prompt along x; the anchor (a stock reply) leans to it. "far" lies 0.77 from the anchor at
  // relevance 0.5, "enough" 0.37 at 0.8, "near" 0.01 at 0.92. A ratio of 0.5 keeps all three.
  std::vector<Candidate> cs = {good("far"), good("enough"), good("near"), anchor("greedy")};
  const std::vector<std::vector<float>> e = {
      {0.5f, -0.5f, -0.7071f}, {0.8f, -0.2f, 0.5657f}, {0.92f, 0.3919f, 0}, {0.9f, 0.4359f, 0}};
  const std::vector<float> prompt = {1, 0, 0};
  QualityFloor f;
  f.min_relevance_ratio = 0.5;
  // Without a target the farthest wins, at the floor's edge.
  Selection s = select_unique(cs, e, f, &prompt);
  EXPECT_EQ(s.chosen, 0);
  EXPECT_TRUE(s.expected_reward.empty());
  // With one, distance past ~0.2 earns nothing more (the validators' factor is 0.98 at 0.2 and
  // 1 beyond) and relevance decides; "near" is worth nothing however relevant.
  s = select_unique(cs, e, f, &prompt, 0.2);
  EXPECT_EQ(s.chosen, 1);
  EXPECT_EQ(s.why, "best relevance x diversity past 0.20 from the nearest anchor");
  ASSERT_EQ(s.expected_reward.size(), 4u);
  EXPECT_NEAR(s.expected_reward[0], 0.5, 1e-3);
  EXPECT_NEAR(s.expected_reward[1], s.relevance[1] * diversity_factor(s.consensus_distance[1], 0.2), 1e-6);
  EXPECT_LT(s.expected_reward[2], 0.01);
  // The validators' own factor: 0.5 at 0.1, 0.98 at 0.2.
  EXPECT_NEAR(diversity_factor(0.1, 0.1), 0.5, 1e-12);
  EXPECT_NEAR(diversity_factor(0.2, 0.1), 0.982, 1e-3);
  // A target so far that no candidate reaches it: the farthest is still the best bet.
  EXPECT_EQ(select_unique(cs, e, f, &prompt, 1.5).chosen, 0);
  // Without anchors the centroid stands for the consensus and the farthest wins as before.
  std::vector<Candidate> plain(cs.begin(), cs.begin() + 3);
  EXPECT_EQ(select_unique(plain, {e.begin(), e.begin() + 3}, f, &prompt, 0.2).chosen,
            select_unique(plain, {e.begin(), e.begin() + 3}, f, &prompt).chosen);
}

TEST(SelectUnique, WithoutEmbeddingsTakesTheFirstPassing) {
  std::vector<Candidate> cs = {good("x", -4), good("y"), good("z")};
  Selection s = select_unique(cs, {}, {});
  EXPECT_EQ(s.chosen, 1);
}

}  // namespace
}  // namespace ember::net::unique
