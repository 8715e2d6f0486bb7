#pragma once
// What a step asks of the backend's sample op (Backend::sample), per logit row, and what it
// gives back. A row names the sequence's slot in SamplerSlots (the penalty history, the count
// of tokens drawn so far): the op reads it and appends its draw, so a step needs nothing from
// the host about the step before it (engine/serve/scheduler.h runs one step ahead).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/sample/sampling_params.h"
#include "engine/sample/token_logprobs.h"

namespace ember {

struct RowSampling {
  int32_t logit_row = 0;  // row of the step's logits (n > 1 completions share their prompt's)
  int32_t slot = 0;       // the completion's SamplerSlots entry
  const SamplingParams* params = nullptr;  // outlives the step
  uint64_t seed = 0;
  uint32_t index = 0;  // completion index: part of the Philox counter
  // Masked (-inf) while the slot has drawn fewer than params->min_tokens tokens: EOS (unless
  // ignore_eos) and the stop_token_ids. Outlives the step.
  std::span<const int32_t> min_tokens_mask;
};

struct SampledRow {
  int32_t id = -1;  // -1 with `error` set when the draw failed
  std::optional<TokenLogprobs> logprobs;  // when params->logprobs >= 0
  std::string error;
};

// A slot (re)started from tokens the host knows: a new sequence, or one resumed after
// preemption. tokens = prompt + output so far.
struct SlotInit {
  int32_t slot = 0;
  std::vector<int32_t> tokens;
  int32_t prompt_len = 0;
};

// dst becomes a copy of src (n > 1 completions forked off their prompt).
struct SlotFork {
  int32_t src = 0, dst = 0;
};

}  // namespace ember
