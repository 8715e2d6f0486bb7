#pragma once
// POST /v1/completions (the legacy Completions API, as vLLM serves it): the prompt as text, a
// list of texts (one choice each), token ids or a list of id lists; `echo`; `logprobs: N` in
// the legacy format; streaming. Plus the JSON we answer with.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/completion_service.h"
#include "net/openai/request_fields.h"

namespace ember::net::openai {

struct CompletionsPrompt {
  std::optional<std::string> text;  // else `ids`
  std::vector<int32_t> ids;
};

struct CompletionsRequest {
  CompletionRequest completion;  // the settings every prompt shares (no prompt set)
  std::vector<CompletionsPrompt> prompts;
  std::string model;
  bool include_usage = false;
  bool echo = false;
  bool add_special_tokens = true;  // vLLM: the tokenizer's BOS before a text prompt
  int logprobs = -1;               // N alternatives per token; -1: none
  bool return_tokens_as_token_ids = false;
};

inline constexpr size_t kMaxPromptsPerRequest = 256;

// Throws RequestError naming the offending field.
CompletionsRequest decode_completions_request(std::string_view body, const DecodeLimits& limits);

struct CompletionsChoice {
  std::string text;
  FinishReason finish = FinishReason::kStop;
  std::string logprobs_json;  // "" writes null
};

std::string completions_body(std::string_view id, long long created, std::string_view model,
                             const std::vector<CompletionsChoice>& choices,
                             const CompletionUsage& usage);
// One SSE event for choice `index`; `finish` != kNone ends that choice.
std::string completions_chunk(std::string_view id, long long created, std::string_view model,
                              size_t index, std::string_view text, FinishReason finish,
                              std::string_view logprobs_json = {});
std::string completions_usage_event(std::string_view id, long long created, std::string_view model,
                                    const CompletionUsage& usage);

}  // namespace ember::net::openai
