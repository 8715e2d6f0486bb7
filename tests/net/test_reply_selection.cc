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
  ASSERT_EQ(s.centroid_distance.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_LT(s.centroid_distance[size_t(i)], s.centroid_distance[3]);

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

  // None finished (time ran out for all): the longest partial answer, which still scores.
  std::vector<Candidate> partial = {good("short"), good("a longer partial answer"), good("")};
  for (auto& c : partial) c.finish = FinishReason::kDeadline;
  EXPECT_EQ(select_unique(partial, {}, {}).chosen, 1);
  EXPECT_EQ(fallback_choice({}), -1);
}

TEST(SelectUnique, WithoutEmbeddingsTakesTheFirstPassing) {
  std::vector<Candidate> cs = {good("x", -4), good("y"), good("z")};
  Selection s = select_unique(cs, {}, {});
  EXPECT_EQ(s.chosen, 1);
}

}  // namespace
}  // namespace ember::net::unique
