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
  if (floor.reject_cut_short && !c.finished()) return "cut short";
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

Selection select_unique(const std::vector<Candidate>& cs, const std::vector<std::vector<float>>& emb,
                        const QualityFloor& floor) {
  Selection s;
  std::vector<int> passing;
  for (size_t i = 0; i < cs.size(); ++i) {
    s.failures.push_back(quality_failure(cs[i], floor));
    if (s.failures.back().empty()) passing.push_back(int(i));
  }
  if (passing.empty()) {
    s.chosen = fallback_choice(cs);
    s.why = "fallback: no candidate passed the quality floor";
    return s;
  }
  if (passing.size() == 1 || emb.size() != cs.size()) {
    s.chosen = passing.front();
    s.why = passing.size() == 1 ? "only one passed the quality floor" : "first passing (no embeddings)";
    return s;
  }
  // The consensus: the mean of every candidate with text, passing or not (a rejected one still
  // shows where the model's replies to this prompt lie).
  std::vector<double> centroid;
  int members = 0;
  for (size_t i = 0; i < cs.size(); ++i) {
    if (cs[i].text.empty() || emb[i].empty()) continue;
    if (centroid.empty()) centroid.assign(emb[i].size(), 0.0);
    for (size_t k = 0; k < centroid.size() && k < emb[i].size(); ++k) centroid[k] += emb[i][k];
    ++members;
  }
  std::vector<float> c(centroid.size());
  for (size_t k = 0; k < c.size(); ++k) c[k] = float(centroid[k] / std::max(members, 1));
  s.centroid_distance.resize(cs.size(), 0);
  for (size_t i = 0; i < cs.size(); ++i)
    if (!emb[i].empty()) s.centroid_distance[i] = cosine_distance(emb[i], c);
  s.chosen = passing.front();
  for (int i : passing)
    if (s.centroid_distance[size_t(i)] > s.centroid_distance[size_t(s.chosen)]) s.chosen = i;
  s.why = "farthest from the candidates' centroid";
  return s;
}

}  // namespace ember::net::unique
