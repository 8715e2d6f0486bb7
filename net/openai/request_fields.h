#pragma once
// The request fields the chat and completions APIs share: OpenAI's sampling fields, vLLM's
// extra ones (top_k, min_p, repetition_penalty, min_tokens, ignore_eos, stop_token_ids, ...),
// and the validators' `sampling_parameters` object. Unknown fields are ignored, as vLLM ignores
// them; a known field of the wrong type or out of range is a RequestError naming it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "net/completion_service.h"
#include "net/openai/api_error.h"

namespace ember::net::openai {

struct DecodeLimits {
  int default_max_tokens = 512;  // the service's default length (min_tokens is checked against it)
  int max_logprobs = 20;         // the most top alternatives a request may ask for
};

// What the shared fields decode to beside the CompletionRequest itself.
struct CommonFields {
  std::string model;                        // as sent ("" when absent or null)
  bool include_usage = false;               // stream_options.include_usage
  bool return_tokens_as_token_ids = false;  // vLLM: logprob tokens as "token_id:<id>"
  bool max_tokens_set = false;
  // `sampling_parameters` (the validators' object): fills what the top level left unset.
  std::optional<float> sp_temperature, sp_top_p, sp_repetition_penalty;
  std::optional<int> sp_top_k, sp_max_tokens;
  std::optional<uint64_t> sp_seed;
  bool sp_greedy = false;                   // do_sample: false
};

// The body as a JSON object; throws RequestError for invalid JSON or another JSON type.
simdjson::dom::object parse_body(std::string_view body, simdjson::dom::parser& parser);

double number_field(simdjson::dom::element v, std::string_view param);
int64_t integer_field(simdjson::dom::element v, std::string_view param);
bool bool_field(simdjson::dom::element v, std::string_view param);
std::string string_field(simdjson::dom::element v, std::string_view param);

// Decodes `key` when it is a shared field; false for any other key.
bool decode_common_field(std::string_view key, simdjson::dom::element v, CompletionRequest& req,
                         CommonFields& c);

// After every field: `sampling_parameters` fills the gaps. A length the body does not set stays
// 0 (the service's default).
void finish_common(CompletionRequest& req, CommonFields& c, const DecodeLimits& limits);

// Refuses N top alternatives above the server's maximum, naming `param`.
void check_logprobs_limit(int n, std::string_view param, const DecodeLimits& limits);

}  // namespace ember::net::openai
