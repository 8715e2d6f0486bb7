#include "engine/sample/logprobs.h"

#include <algorithm>
#include <cmath>

#include "engine/sample/vector_exp.h"

namespace ember {

// Eight running maxima: one is a chain of dependent compares, a cycle or more per element over
// a 150k vocabulary. NaN compares false and is skipped; the result does not depend on order.
float row_max(std::span<const float> x) {
  float m[8];
  std::fill(std::begin(m), std::end(m), -INFINITY);
  size_t i = 0;
  for (; i + 8 <= x.size(); i += 8)
    for (int l = 0; l < 8; ++l) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
  for (; i < x.size(); ++i) m[0] = x[i] > m[0] ? x[i] : m[0];
  return *std::max_element(std::begin(m), std::end(m));
}

RowLogprobs::RowLogprobs(std::span<const float> logits, float temperature)
    : logits_(logits), inv_t_(1.f / temperature) {
  const float m = row_max(logits);
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
  const auto offer = [&](size_t i) {
    const float l = logits_[i];
    if (std::isnan(l)) return;
    auto pos = std::upper_bound(best.begin(), best.end(), l,
                                [](float v, const auto& b) { return v > b.second; });
    best.insert(pos, {int32_t(i), l});
    if (int(best.size()) > k) best.pop_back();
  };
  const size_t n = logits_.size();
  size_t i = 0;
  for (; i < n && int(best.size()) < k; ++i) offer(i);
  // Once k are held, a block of 16 whose largest logit does not beat the k-th is skipped whole:
  // almost every block, so the pass costs about one vector compare per 16 logits.
  constexpr size_t kBlock = 16;
  for (; i < n && i % kBlock != 0; ++i)
    if (logits_[i] > best.back().second) offer(i);
  for (; i + kBlock <= n; i += kBlock) {
    float bm = -INFINITY;
    for (size_t j = 0; j < kBlock; ++j) bm = logits_[i + j] > bm ? logits_[i + j] : bm;
    if (!(bm > best.back().second)) continue;
    for (size_t j = 0; j < kBlock; ++j)
      if (logits_[i + j] > best.back().second) offer(i + j);
  }
  for (; i < n; ++i)
    if (logits_[i] > best.back().second) offer(i);
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
