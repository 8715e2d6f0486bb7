#pragma once
// Log-probabilities as the two APIs write them. Token strings are what the service gives: the id
// decoded on its own, with bytes that are not valid UTF-8 alone shown as U+FFFD (vLLM and the
// Hugging Face decoder do the same), so `bytes` is the UTF-8 of that string, as vLLM writes it
// (OpenAI would send the raw bytes). `return_tokens_as_token_ids` writes "token_id:<id>" instead.
#include <cstddef>
#include <string>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::openai {

std::string logprob_token_text(const TokenLogprob& t, bool as_ids);

// Chat Completions: {"content":[{"token","logprob","bytes","top_logprobs":[...]}, ...]}, with
// at most `top_n` alternatives per token, most likely first.
void append_chat_logprobs(std::string& out, const std::vector<GeneratedToken>& tokens, int top_n,
                          bool as_ids);

// The legacy Completions format, gathered token by token: {"text_offset", "token_logprobs",
// "tokens", "top_logprobs": [{token: logprob}]}; each top_logprobs object holds the chosen
// token and the `top_n` most likely ones (a token string seen twice keeps its first value).
class LegacyLogprobs {
 public:
  LegacyLogprobs(int top_n, bool as_ids) : top_n_(top_n), as_ids_(as_ids) {}
  // `text_offset`: where the token's text starts in the choice's text, in characters.
  void add(const GeneratedToken& t, size_t text_offset);
  size_t size() const { return count_; }
  void append_json(std::string& out) const;
  void clear();

 private:
  int top_n_;
  bool as_ids_;
  size_t count_ = 0;
  std::string offsets_, logprobs_, tokens_, tops_;  // the lists' items, comma-separated
};

// Unicode code points in `s` (vLLM's text_offset counts characters, not bytes).
size_t utf8_length(std::string_view s);

}  // namespace ember::net::openai
