#pragma once
// Choosing one reply among best-of-n candidates for the 2023-24 synapse validators, which scale
// a reply's reward by its embedding distance to the nearest other miner's reply. Other miners'
// replies to a prompt cluster around a consensus: anchors (stock replies generated alongside)
// sample it, or the candidates' centroid estimates it. Among candidates that are still good
// answers (the quality floor), the one far enough from it with the best relevance (a target
// distance), or the farthest, is the one least likely to collide.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::unique {

// Texts -> one L2-normalised embedding each (a sentence encoder, or a fake in tests).
using Embedder = std::function<std::vector<std::vector<float>>(const std::vector<std::string>&)>;

struct Candidate {
  std::string text;
  std::string style;        // the style's name ("" for none)
  std::string source;       // "local", "upstream" or "anchor"
  bool style_after_prompt = false;  // the style went after the user's turn, not in a system turn
  // A reference for the consensus (no style, a stock miner's sampling): measured against, only
  // returned when no candidate is usable.
  bool anchor = false;
  FinishReason finish = FinishReason::kNone;
  int64_t tokens = 0;
  // Sum and count of the generated tokens' log-probabilities under the model (local only).
  double logprob_sum = 0;
  int64_t logprob_count = 0;
  std::string error;        // why it failed (kError)

  bool finished() const { return finish == FinishReason::kStop; }
  bool has_logprobs() const { return logprob_count > 0; }
  double mean_logprob() const { return logprob_count ? logprob_sum / double(logprob_count) : 0; }
};

struct QualityFloor {
  // Mean token log-probability (raw, under the model) below this is rambling or gibberish.
  double min_mean_logprob = -2.0;
  bool reject_cut_short = true;  // finish by length or deadline: the answer is incomplete
  // Reaching max_tokens is not cut short (select_unique sets it when an anchor, a stock reply,
  // reached max_tokens itself: then every miner's reply is cut there too). A deadline cut still is.
  bool length_is_complete = false;
  // A reply under this many tokens and under a quarter of the candidates' median length is a
  // non-answer ("1"), however far it lies from the others.
  int64_t short_tokens = 16;
  // With the prompt's embedding: a candidate whose cosine to the prompt is below this fraction
  // of the best candidate's has drifted off topic (0: no check).
  double min_relevance_ratio = 0.9;
};

// A degenerate loop: the text ends in one block of words (or characters, for text without
// spaces) repeated three times or more, or its word 4-grams are mostly repeats.
bool has_repetition_loop(std::string_view text);

// "" when the candidate passes; else a short reason ("cut short", "repetition loop",
// "mean logprob -2.7 < -2.0", "empty", "error: ...").
std::string quality_failure(const Candidate& c, const QualityFloor& floor);

// 1 - cosine: of a to b (both unit length or zero).
double cosine_distance(const std::vector<float>& a, const std::vector<float>& b);

// quality_failure of each candidate, plus the relative check against the others' lengths
// ("too short (2 tokens, median 80)").
std::vector<std::string> quality_failures(const std::vector<Candidate>& candidates, const QualityFloor& floor);

struct Selection {
  int chosen = -1;                        // index into the candidates; -1 when none has text
  std::vector<std::string> failures;      // quality_failure of each candidate
  // 1 - cos to the consensus: the nearest anchor's, or the candidates' centroid without anchors;
  // empty without embeddings.
  std::vector<double> consensus_distance;
  std::vector<double> relevance;          // cos(candidate, prompt); empty without the prompt's
  // relevance x diversity_factor(consensus_distance, target) when a target distance chose; else empty.
  std::vector<double> expected_reward;
  std::string why;                        // "farthest from the anchors", "only passing", "fallback: ..."
};

// --select unique: among candidates (not anchors) that pass the floor, the one farthest from the
// consensus: whose nearest anchor is farthest, or without anchors, farthest from the centroid of
// all non-anchor candidates with text (`embeddings[i]` belongs to candidates[i]; may be empty
// for none). When every candidate was cut short, the same choice among those that pass the other
// checks; when none does: the best fallback (fallback_choice, anchors included). When an anchor
// ended at max_tokens, candidates that did are not cut short (QualityFloor::length_is_complete).
// `prompt_embedding` (optional, the same space) adds the relevance check of the floor, relative
// to the best non-anchor candidate's relevance.
//
// `target_distance` > 0, with anchors and the prompt's embedding: the choice is not the farthest
// but the one with the best relevance x diversity_factor(d, target_distance), d its distance to
// the nearest anchor. That is the validators' own reward, quality times a diversity factor that
// is 0.5 at 0.1 and 0.98 at 0.2 and gains nothing past it, with relevance for quality. The
// target sits past their midpoint because the anchors are a few of the many replies a validator
// compares against. Maximising distance instead walks to the relevance floor's edge for a
// distance the validator no longer pays for.
Selection select_unique(const std::vector<Candidate>& candidates,
                        const std::vector<std::vector<float>>& embeddings, const QualityFloor& floor,
                        const std::vector<float>* prompt_embedding = nullptr, double target_distance = 0);

// The validators' diversity factor moved to `target`: 1 / (1 + exp(-40 (distance - target))).
double diversity_factor(double distance, double target);

// When no candidate passes the floor: a finished one (stop) with the highest mean logprob; else
// the one with the most tokens (a cut-short answer still scores, an empty one does not); -1 when
// none has text.
int fallback_choice(const std::vector<Candidate>& candidates);

}  // namespace ember::net::unique
