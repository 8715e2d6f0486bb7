#include "engine/serve/logprobs.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/vector_exp.h"

namespace ember {

RowLogprobs::RowLogprobs(std::span<const float> logits, float temperature)
    : logits_(logits), inv_t_(1.f / temperature) {
  float m = -INFINITY;
  for (float l : logits)
    if (l > m) m = l;  // NaN compares false: skipped
  if (!std::isfinite(m)) {  // everything masked: every logprob is -inf
    shift_ = INFINITY;
    return;
  }
  thread_local std::vector<float> e;
  e.resize(logits.size());
  cpu::exp_shifted_f32(logits.data(), m, inv_t_, e.data(), int64_t(logits.size()));
  // Eight running sums in index order: a fixed order, so the same row gives the same bits.
  double s[8] = {};
  size_t i = 0;
  for (; i + 8 <= e.size(); i += 8)
    for (int k = 0; k < 8; ++k) s[k] += e[i + k];
  for (; i < e.size(); ++i) s[0] += e[i];
  const double sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  shift_ = double(m) * inv_t_ + std::log(sum);
}

float RowLogprobs::at(int32_t id) const {
  const float l = logits_[size_t(id)];
  if (std::isnan(l) || !std::isfinite(shift_)) return -INFINITY;
  return float(double(l) * inv_t_ - shift_);
}

std::vector<std::pair<int32_t, float>> RowLogprobs::top(int k) const {
  std::vector<std::pair<int32_t, float>> best;  // (id, logit), sorted by logit desc, id asc
  k = std::min<int>(k, int(logits_.size()));
  if (k <= 0) return best;
  best.reserve(size_t(k) + 1);
  // Ids ascend, so an equal logit never displaces an earlier one: ties keep the lower id.
  float worst = -INFINITY;
  for (size_t i = 0; i < logits_.size(); ++i) {
    const float l = logits_[i];
    if (int(best.size()) == k && !(l > worst)) continue;
    if (std::isnan(l)) continue;
    auto pos = std::upper_bound(best.begin(), best.end(), l,
                                [](float v, const auto& b) { return v > b.second; });
    best.insert(pos, {int32_t(i), l});
    if (int(best.size()) > k) best.pop_back();
    if (int(best.size()) == k) worst = best.back().second;
  }
  for (auto& b : best) b.second = at(b.first);
  return best;
}

TokenLogprobs RowLogprobs::entry(int32_t chosen, int k) const {
  TokenLogprobs t;
  t.logprob = at(chosen);
  t.top = top(k);
  return t;
}

}  // namespace ember
