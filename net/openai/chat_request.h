#pragma once
// POST /v1/chat/completions bodies (OpenAI's Chat Completions API), decoded with simdjson into
// a CompletionRequest, and the JSON we answer with: a whole completion, or server-sent-event
// chunks ending with "data: [DONE]".
#include <stdexcept>
#include <string>
#include <string_view>

#include "net/completion_service.h"

namespace ember::net::openai {

// A request the API refuses; what() is the message, param() the offending field.
class RequestError : public std::runtime_error {
 public:
  RequestError(std::string message, std::string param)
      : std::runtime_error(std::move(message)), param_(std::move(param)) {}
  const std::string& param() const { return param_; }

 private:
  std::string param_;
};

struct ChatRequest {
  CompletionRequest completion;
  std::string model;            // as sent ("" when absent)
  bool include_usage = false;   // stream_options.include_usage
};

// Throws RequestError. `default_max_tokens` applies when the body sets no limit.
ChatRequest decode_chat_request(std::string_view body, int default_max_tokens);

// {"error": {"message", "type", "param", "code"}}
std::string error_body(std::string_view message, std::string_view type, std::string_view param);

std::string completion_body(std::string_view id, long long created, std::string_view model,
                            std::string_view text, FinishReason finish,
                            const CompletionUsage& usage);

// One SSE event "data: {...}\n\n". `role_delta` sends {"role":"assistant"} (the first chunk);
// `finish` != kNone ends the choice; `usage` adds the usage-only chunk format.
std::string chunk_event(std::string_view id, long long created, std::string_view model,
                        std::string_view text, bool role_delta, FinishReason finish);
std::string usage_event(std::string_view id, long long created, std::string_view model,
                        const CompletionUsage& usage);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

std::string models_body(std::string_view model, long long created);

}  // namespace ember::net::openai
