#pragma once
// vLLM's tokenizer endpoints: POST /tokenize (a prompt, or chat messages rendered with the chat
// template) and POST /detokenize; and GET /version. Bodies in, JSON out.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::openai {

struct TokenizeRequest {
  std::string model;
  std::optional<std::string> prompt;  // else `messages`
  std::vector<ChatMessage> messages;
  bool add_special_tokens = true;     // prompts only (the chat template writes its own)
  bool return_token_strs = false;
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
};

// Throw RequestError naming the offending field.
TokenizeRequest decode_tokenize_request(std::string_view body);
DetokenizeRequest decode_detokenize_request(std::string_view body);

// {"count", "max_model_len", "tokens", "token_strs"}; `token_strs` null when not asked for.
std::string tokenize_body(const std::vector<int32_t>& ids, int max_model_len,
                          const std::vector<std::string>* token_strs);
std::string detokenize_body(std::string_view prompt);
std::string version_body(std::string_view version);

}  // namespace ember::net::openai
