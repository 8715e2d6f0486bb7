#include "engine/sample/sampling_params.h"

#include <cmath>

#include "engine/core/error.h"

namespace ember {

namespace {
void check_finite(const char* name, float v) {
  if (!std::isfinite(v)) fail("{}={} must be a finite number", name, v);
}
}  // namespace

void validate(const SamplingParams& p, int vocab_size) {
  check_finite("temperature", p.temperature);
  check_finite("top_p", p.top_p);
  check_finite("min_p", p.min_p);
  check_finite("typical_p", p.typical_p);
  check_finite("repetition_penalty", p.repetition_penalty);
  check_finite("presence_penalty", p.presence_penalty);
  check_finite("frequency_penalty", p.frequency_penalty);
  check_finite("xtc_probability", p.xtc_probability);
  check_finite("xtc_threshold", p.xtc_threshold);
  check_finite("target_entropy", p.target_entropy);
  if (p.temperature < 0 || p.temperature > 100)
    fail("temperature={} is out of range [0, 100]", p.temperature);
  if (p.top_k < 0) fail("top_k={} must be >= 0 (0 disables it)", p.top_k);
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("top_p={} is out of range (0, 1]", p.top_p);
  if (p.min_p < 0 || p.min_p > 1) fail("min_p={} is out of range [0, 1]", p.min_p);
  if (!(p.typical_p > 0 && p.typical_p <= 1))
    fail("typical_p={} is out of range (0, 1]", p.typical_p);
  if (!(p.repetition_penalty > 0 && p.repetition_penalty <= 10))
    fail("repetition_penalty={} is out of range (0, 10]", p.repetition_penalty);
  if (p.presence_penalty < -2 || p.presence_penalty > 2)
    fail("presence_penalty={} is out of range [-2, 2]", p.presence_penalty);
  if (p.frequency_penalty < -2 || p.frequency_penalty > 2)
    fail("frequency_penalty={} is out of range [-2, 2]", p.frequency_penalty);
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab_size)
      fail("logit_bias: token id {} is out of range [0, {})", id, vocab_size);
    if (!std::isfinite(bias) || bias < -100 || bias > 100)
      fail("logit_bias[{}]={} is out of range [-100, 100]", id, bias);
  }
  if (p.xtc_probability < 0 || p.xtc_probability > 1)
    fail("xtc_probability={} is out of range [0, 1]", p.xtc_probability);
  if (!(p.xtc_threshold > 0 && p.xtc_threshold <= 0.5f))
    fail("xtc_threshold={} is out of range (0, 0.5]", p.xtc_threshold);
  if (p.target_entropy < 0 || p.target_entropy > 20)
    fail("target_entropy={} is out of range [0, 20] (nats; 0 disables it)", p.target_entropy);
  if (p.n < 1 || p.n > 64) fail("n={} is out of range [1, 64]", p.n);
  if (p.max_tokens < 1) fail("max_tokens={} must be >= 1", p.max_tokens);
  if (p.min_tokens < 0 || p.min_tokens > p.max_tokens)
    fail("min_tokens={} is out of range [0, max_tokens={}]", p.min_tokens, p.max_tokens);
  if (p.logprobs < -1 || p.logprobs > vocab_size)
    fail("logprobs={} is out of range [0, {}] (-1: none)", p.logprobs, vocab_size);
  for (const auto& s : p.stop)
    if (s.empty()) fail("stop: stop strings must not be empty");
  if (p.stop.size() > 16) fail("stop: at most 16 stop strings, got {}", p.stop.size());
  for (int32_t id : p.stop_token_ids)
    if (id < 0 || id >= vocab_size)
      fail("stop_token_ids: token id {} is out of range [0, {})", id, vocab_size);
}

}  // namespace ember
