#include "net/unique/reply_selection.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include <fmt/format.h>

namespace ember::net::unique {
namespace {

std::vector<std::string_view> split_words(std::string_view t) {
  std::vector<std::string_view> w;
  size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
    size_t j = i;
    while (j < t.size() && !std::isspace(static_cast<unsigned char>(t[j]))) ++j;
    if (j > i) w.push_back(t.substr(i, j - i));
    i = j;
  }
  return w;
}

// The sequence ends in `reps` or more copies of a block of `period` items, covering at least
// `min_span` items.
template <typename Seq>
bool tail_repeats(const Seq& s, size_t max_period, size_t reps, size_t min_span) {
  const size_t n = s.size();
  for (size_t p = 1; p <= max_period && p * reps <= n; ++p) {
    size_t same = 0;  // items at the end equal to the item p before them
    while (same + p < n && s[n - 1 - same] == s[n - 1 - same - p]) ++same;
    const size_t span = same + p;
    if (span >= p * reps && span >= min_span) return true;
  }
  return false;
}

}  // namespace

bool has_repetition_loop(std::string_view text) {
  // Trailing whitespace says nothing about a loop.
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  const auto words = split_words(text);
  if (tail_repeats(words, 40, 3, 12)) return true;
  if (words.size() >= 40) {
    std::set<std::string> grams;
    for (size_t i = 0; i + 4 <= words.size(); ++i)
      grams.insert(fmt::format("{} {} {} {}", words[i], words[i + 1], words[i + 2], words[i + 3]));
    const double total = double(words.size() - 3);
    if (double(grams.size()) / total < 0.5) return true;
  }
  // Text without spaces (CJK, or a run of symbols): characters, a longer span before it counts,
  // so a markdown rule or table border is not a loop.
  return tail_repeats(text, 100, 4, 80);
}

std::string quality_failure(const Candidate& c, const QualityFloor& floor) {
  if (c.finish == FinishReason::kError) return "error: " + c.error;
  if (c.text.find_first_not_of(" \t\r\n") == std::string::npos) return "empty";
  if (floor.reject_cut_short && !c.finished() && !(floor.length_is_complete && c.finish == FinishReason::kLength))
    return "cut short";
  if (has_repetition_loop(c.text)) return "repetition loop";
  if (c.has_logprobs() && c.mean_logprob() < floor.min_mean_logprob)
    return fmt::format("mean logprob {:.2f} < {:.2f}", c.mean_logprob(), floor.min_mean_logprob);
  return "";
}

double cosine_distance(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 1;
  return 1 - dot / std::sqrt(na * nb);
}

int fallback_choice(const std::vector<Candidate>& cs) {
  int best = -1;
  for (int i = 0; i < int(cs.size()); ++i) {
    const Candidate& c = cs[size_t(i)];
    if (!c.finished() || c.text.empty() || has_repetition_loop(c.text)) continue;
    if (best < 0 || c.mean_logprob() > cs[size_t(best)].mean_logprob()) best = i;
  }
  if (best >= 0) return best;
  for (int i = 0; i < int(cs.size()); ++i) {
    const Candidate& c = cs[size_t(i)];
    if (c.finish == FinishReason::kError || c.text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    if (best < 0 || c.text.size() > cs[size_t(best)].text.size()) best = i;
  }
  return best;
}

std::vector<std::string> quality_failures(const std::vector<Candidate>& cs, const QualityFloor& floor) {
  std::vector<std::string> out;
  std::vector<int64_t> lengths;
  for (const auto& c : cs) {
    out.push_back(quality_failure(c, floor));
    if (!c.text.empty()) lengths.push_back(c.tokens);
  }
  if (lengths.size() < 2) return out;
  std::sort(lengths.begin(), lengths.end());
  const int64_t median = lengths[lengths.size() / 2];
  for (size_t i = 0; i < cs.size(); ++i)
    if (out[i].empty() && cs[i].tokens < floor.short_tokens && cs[i].tokens * 4 < median)
      out[i] = fmt::format("too short ({} tokens, median {})", cs[i].tokens, median);
  return out;
}

double diversity_factor(double distance, double target) { return 1 / (1 + std::exp(-40 * (distance - target))); }

Selection select_unique(const std::vector<Candidate>& cs, const std::vector<std::vector<float>>& emb,
                        const QualityFloor& given_floor, const std::vector<float>* prompt, double target_distance) {
  Selection s;
  QualityFloor floor = given_floor;
  for (const Candidate& c : cs)
    if (c.anchor && c.finish == FinishReason::kLength) floor.length_is_complete = true;
  std::vector<int> passing;
  const bool embedded = emb.size() == cs.size();
  auto has_embedding = [&](size_t i) { return embedded && !cs[i].text.empty() && !emb[i].empty(); };
  // Measured whenever the prompt's embedding is there (a target distance weighs it); checked
  // only with a ratio.
  const bool relevance = prompt && !prompt->empty() && embedded;
  const bool relevance_check = relevance && floor.min_relevance_ratio > 0;
  double best_relevance = -1;
  if (relevance) {
    s.relevance.assign(cs.size(), 0);
    for (size_t i = 0; i < cs.size(); ++i)
      if (has_embedding(i)) {
        s.relevance[i] = 1 - cosine_distance(emb[i], *prompt);
        if (!cs[i].anchor) best_relevance = std::max(best_relevance, s.relevance[i]);
      }
  }
  auto screen = [&](std::vector<std::string> f) {
    for (size_t i = 0; i < cs.size(); ++i) {
      if (cs[i].anchor) {
        if (f[i].empty()) f[i] = "anchor";
        continue;
      }
      if (relevance_check && best_relevance > 0 && f[i].empty() && s.relevance[i] < floor.min_relevance_ratio * best_relevance)
        f[i] = fmt::format("off topic (relevance {:.2f} < {:.2f} x {:.2f})", s.relevance[i], floor.min_relevance_ratio,
                           best_relevance);
    }
    return f;
  };
  s.failures = screen(quality_failures(cs, floor));
  for (size_t i = 0; i < cs.size(); ++i)
    if (s.failures[i].empty()) passing.push_back(int(i));
  std::string relaxed;
  if (passing.empty() && floor.reject_cut_short) {
    // Every candidate was cut short (the operator's max_tokens, or the deadline): the choice is
    // still among the sound ones (no loop, logprob above the floor), since a cut answer scores.
    QualityFloor loose = floor;
    loose.reject_cut_short = false;
    const auto loose_failures = screen(quality_failures(cs, loose));
    for (size_t i = 0; i < cs.size(); ++i)
      if (loose_failures[i].empty()) passing.push_back(int(i));
    relaxed = " (all cut short)";
  }
  if (passing.empty()) {
    s.chosen = fallback_choice(cs);
    s.why = "fallback: no candidate passed the quality floor";
    return s;
  }
  if (passing.size() == 1 || !embedded) {
    s.chosen = passing.front();
    s.why = std::string(passing.size() == 1 ? "only one passed the quality floor" : "first passing (no embeddings)") +
            relaxed;
    return s;
  }
  std::vector<size_t> anchors;
  for (size_t i = 0; i < cs.size(); ++i)
    if (cs[i].anchor && has_embedding(i)) anchors.push_back(i);
  s.consensus_distance.assign(cs.size(), 0);
  if (!anchors.empty()) {
    for (size_t i = 0; i < cs.size(); ++i) {
      if (!has_embedding(i)) continue;
      double nearest = 2;
      for (size_t a : anchors)
        if (a != i) nearest = std::min(nearest, cosine_distance(emb[i], emb[a]));
      s.consensus_distance[i] = nearest == 2 ? 0 : nearest;
    }
    s.why = "farthest from the nearest anchor" + relaxed;
  } else {
    // The mean of every candidate with text, passing or not (a rejected one still shows where
    // the model's replies to this prompt lie).
    std::vector<double> centroid;
    int members = 0;
    for (size_t i = 0; i < cs.size(); ++i) {
      if (!has_embedding(i)) continue;
      if (centroid.empty()) centroid.assign(emb[i].size(), 0.0);
      for (size_t k = 0; k < centroid.size() && k < emb[i].size(); ++k) centroid[k] += emb[i][k];
      ++members;
    }
    std::vector<float> c(centroid.size());
    for (size_t k = 0; k < c.size(); ++k) c[k] = float(centroid[k] / std::max(members, 1));
    for (size_t i = 0; i < cs.size(); ++i)
      if (has_embedding(i)) s.consensus_distance[i] = cosine_distance(emb[i], c);
    s.why = "farthest from the candidates' centroid" + relaxed;
  }
  s.chosen = passing.front();
  if (!anchors.empty() && relevance && target_distance > 0) {
    s.expected_reward.assign(cs.size(), 0);
    for (size_t i = 0; i < cs.size(); ++i)
      if (has_embedding(i))
        s.expected_reward[i] = std::max(s.relevance[i], 0.0) * diversity_factor(s.consensus_distance[i], target_distance);
    for (int i : passing)
      if (s.expected_reward[size_t(i)] > s.expected_reward[size_t(s.chosen)]) s.chosen = i;
    s.why = fmt::format("best relevance x diversity past {:.2f} from the nearest anchor{}", target_distance, relaxed);
    return s;
  }
  for (int i : passing)
    if (s.consensus_distance[size_t(i)] > s.consensus_distance[size_t(s.chosen)]) s.chosen = i;
  return s;
}

}  // namespace ember::net::unique
