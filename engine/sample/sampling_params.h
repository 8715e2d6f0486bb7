#pragma once
// Per-request sampling parameters. Every field has the neutral default, so an empty struct
// samples from the model's own distribution (temperature 1, no filters, no penalties).
//
// Order of the transforms (sampler.h applies them in this order, per step):
//   logit_bias -> repetition / presence / frequency penalties -> temperature (or the
//   target-entropy temperature) -> softmax -> top_k -> top_p -> min_p -> typical_p -> XTC ->
//   draw.
// Each filter works on the distribution left by the one before it (renormalised).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ember {

struct SamplingParams {
  // 0 means greedy (argmax, ties to the lowest id); otherwise logits are divided by it.
  float temperature = 1.f;
  int top_k = 0;          // keep the k most likely tokens; 0: off
  float top_p = 1.f;      // keep the smallest most-likely set with mass >= top_p; 1: off
  float min_p = 0.f;      // keep tokens with p >= min_p * p_max; 0: off
  float typical_p = 1.f;  // locally typical sampling (Meister et al. 2022); 1: off
  // HF convention: a logit l of a token seen in the prompt or the output becomes l / r when
  // l > 0 and l * r otherwise. 1: off.
  float repetition_penalty = 1.f;
  // OpenAI convention, over the generated tokens only: l -= presence * [count > 0]
  // + frequency * count.
  float presence_penalty = 0.f;
  float frequency_penalty = 0.f;
  std::map<int32_t, float> logit_bias;  // added to the logit of each listed token id

  // XTC, "exclude top choices": with probability xtc_probability per step, when two or more
  // tokens have p >= xtc_threshold, all of them except the least likely one are removed. It
  // pushes the model off its most predictable continuation while keeping a choice the model
  // itself rates as plausible, which makes replies differ from other miners' greedy-ish ones.
  float xtc_probability = 0.f;  // 0: off
  float xtc_threshold = 0.1f;   // in (0, 0.5]: above 0.5 at most one token can qualify

  // Target-entropy mode: when > 0, the temperature is chosen afresh at every step (bisection
  // over [0.05, 20]) so that the entropy, in nats, of softmax(logits / T) after the penalties is
  // as close as possible to this value; `temperature` is then ignored. Confident steps get a
  // high T, flat ones a low T, so the text stays varied without derailing. 0: off.
  float target_entropy = 0.f;

  // Log-probabilities streamed with each generated token: -1 none; k >= 0 the token's own and
  // the k most likely at its position (StreamEvent::logprobs).
  int logprobs = -1;
  // Which distribution they describe, by vLLM's names: Raw is the fp32 log-softmax of the
  // model's logits, untouched; Processed is the log-softmax of the logits after logit_bias, the
  // repetition / presence / frequency penalties and min_tokens' masking, divided by the
  // temperature (the target-entropy one when that mode is on; none when greedy), i.e. the
  // distribution the truncation filters (top_k, top_p, min_p, typical_p, XTC) start from. Unlike
  // vLLM's processed_logprobs, tokens those filters drop keep their finite logprob.
  enum class LogprobsMode { Raw, Processed };
  LogprobsMode logprobs_mode = LogprobsMode::Raw;

  int n = 1;                      // completions of the prompt; they share its KV blocks
  std::optional<uint64_t> seed;   // none: a fresh one from the OS's secure source per request
  std::vector<std::string> stop;  // stop strings (matched on the decoded text, not emitted)
  std::vector<int32_t> stop_token_ids;  // stop tokens in addition to the model's EOS ids
  bool ignore_eos = false;
  // EOS and stop_token_ids cannot be drawn before this many tokens (their logits are masked).
  int min_tokens = 0;
  bool skip_special_tokens = true;           // in the streamed text
  bool include_stop_str_in_output = false;   // a matched stop string ends the text
  int max_tokens = 256;  // per completion
};

// Throws ember::Error naming the parameter ("top_p=1.5 is out of range (0, 1]") when a value is
// out of range. vocab_size bounds logit_bias and stop_token_ids.
void validate(const SamplingParams& p, int vocab_size);

}  // namespace ember
