#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace ember {

// A generated token's log-probability and the most likely alternatives at its position
// (SamplingParams::logprobs), fp32 natural logs, raw or processed (SamplingParams::logprobs_mode).
struct TokenLogprobs {
  float logprob = 0;                             // of the generated token
  std::vector<std::pair<int32_t, float>> top;    // most likely first; ties by ascending id
};

}  // namespace ember
