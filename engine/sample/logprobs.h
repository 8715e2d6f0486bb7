#pragma once
// Log-probabilities of one logit row, as transformers' float32 log_softmax gives them:
// logprob(i) = l_i / T - m - log(sum_j exp(l_j / T - m)), m the largest l / T. The normaliser is
// computed once per row (one vector-exp pass, summed in double in a fixed order, so the value
// does not depend on the batch or the thread); each entry after that is O(1), and the k most
// likely are one pass with a k-slot selection (no sort of the vocabulary).
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engine/sample/token_logprobs.h"

namespace ember {

// The largest value of a logit row, NaNs skipped (-inf when there is none).
float row_max(std::span<const float> x);

class RowLogprobs {
 public:
  // `logits` must outlive the object. temperature > 0 (1: the raw distribution). Masked (-inf)
  // logits get -inf; NaN logits are treated as masked.
  explicit RowLogprobs(std::span<const float> logits, float temperature = 1.f);

  float at(int32_t id) const;
  // The k most likely ids with their logprobs, most likely first, ties by ascending id.
  std::vector<std::pair<int32_t, float>> top(int k) const;
  // The generated token's entry with `k` alternatives.
  TokenLogprobs entry(int32_t chosen, int k) const;

 private:
  std::span<const float> logits_;
  float inv_t_;
  double shift_;  // m + log(sum): logprob(i) = l_i * inv_t - shift
};

}  // namespace ember
