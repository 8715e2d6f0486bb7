#pragma once
// POST /v1/chat/completions bodies (OpenAI's Chat Completions API, with vLLM's extra fields),
// decoded with simdjson into a CompletionRequest, and the JSON we answer with: a whole
// completion, or server-sent-event chunks ending with "data: [DONE]".
#include <string>
#include <string_view>
#include <vector>

#include "net/completion_service.h"
#include "net/openai/api_error.h"
#include "net/openai/request_fields.h"

namespace ember::net::openai {

struct ChatRequest {
  CompletionRequest completion;
  std::string model;            // as sent ("" when absent)
  bool include_usage = false;   // stream_options.include_usage
  // logprobs: true -> top_logprobs (0 when absent); -1: no logprobs.
  int top_logprobs = -1;
  bool return_tokens_as_token_ids = false;
};

// `messages`: a list of {role, content}, content a string or a list of text parts.
std::vector<ChatMessage> decode_messages(simdjson::dom::element v);

// Throws RequestError naming the offending field.
ChatRequest decode_chat_request(std::string_view body, const DecodeLimits& limits);
inline ChatRequest decode_chat_request(std::string_view body, int default_max_tokens) {
  return decode_chat_request(body, DecodeLimits{default_max_tokens});
}

// `logprobs_json`: the choice's "logprobs" value ("" writes null).
std::string completion_body(std::string_view id, long long created, std::string_view model,
                            std::string_view text, FinishReason finish,
                            const CompletionUsage& usage, std::string_view logprobs_json = {});

// One SSE event "data: {...}\n\n". `role_delta` sends {"role":"assistant"} (the first chunk);
// `finish` != kNone ends the choice. A chunk with `logprobs_json` always carries
// delta.content, even "" (a token whose text is empty on its own is still one chunk).
std::string chunk_event(std::string_view id, long long created, std::string_view model,
                        std::string_view text, bool role_delta, FinishReason finish,
                        std::string_view logprobs_json = {});
std::string usage_event(std::string_view id, long long created, std::string_view model,
                        const CompletionUsage& usage);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// GET /v1/models: one entry per served name. `max_model_len` 0 leaves that field out.
std::string models_body(const std::vector<std::string>& names, long long created,
                        int max_model_len = 0);
inline std::string models_body(std::string_view model, long long created) {
  return models_body(std::vector<std::string>{std::string(model)}, created);
}

// "usage": {...} members, shared with the completions API.
void append_usage(std::string& out, const CompletionUsage& usage);
void append_finish_reason(std::string& out, FinishReason f);

}  // namespace ember::net::openai
