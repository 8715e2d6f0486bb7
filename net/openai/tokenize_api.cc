#include "net/openai/tokenize_api.h"

#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "net/http/json_text.h"
#include "net/openai/chat_request.h"
#include "net/openai/request_fields.h"

namespace ember::net::openai {

using simdjson::dom::element;

TokenizeRequest decode_tokenize_request(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  const simdjson::dom::object obj = parse_body(body, parser);
  TokenizeRequest r;
  bool have_messages = false;
  std::optional<bool> add_special;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (v.is_null()) continue;
    if (key == "model") {
      r.model = string_field(v, "model");
    } else if (key == "prompt") {
      r.prompt = string_field(v, "prompt");
    } else if (key == "messages") {
      r.messages = decode_messages(v);
      have_messages = true;
    } else if (key == "add_special_tokens") {
      add_special = bool_field(v, "add_special_tokens");
    } else if (key == "return_token_strs") {
      r.return_token_strs = bool_field(v, "return_token_strs");
    } else if (key == "add_generation_prompt") {
      // The chat prompt ember renders always ends with the assistant turn's prefix.
      if (!bool_field(v, "add_generation_prompt"))
        bad_request("add_generation_prompt=false is not supported", "add_generation_prompt");
    } else if (key == "continue_final_message") {
      if (bool_field(v, "continue_final_message"))
        bad_request("continue_final_message is not supported", "continue_final_message");
    }
  }
  if (r.prompt && have_messages) bad_request("give either 'prompt' or 'messages', not both", "messages");
  if (!r.prompt && !have_messages) bad_request("'prompt' or 'messages' is required", "prompt");
  if (have_messages && r.messages.empty()) bad_request("'messages' must not be empty", "messages");
  if (have_messages && add_special.value_or(false))
    bad_request("add_special_tokens with messages is not supported (the chat template writes them)",
                "add_special_tokens");
  r.add_special_tokens = add_special.value_or(true);
  return r;
}

DetokenizeRequest decode_detokenize_request(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  const simdjson::dom::object obj = parse_body(body, parser);
  DetokenizeRequest r;
  bool have_tokens = false;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (v.is_null()) continue;
    if (key == "model") {
      r.model = string_field(v, "model");
    } else if (key == "tokens") {
      simdjson::dom::array arr;
      if (v.get_array().get(arr) != simdjson::SUCCESS)
        bad_request("'tokens' must be a list of token ids", "tokens");
      for (element e : arr) {
        const int64_t id = integer_field(e, "tokens");
        if (id < 0 || id > std::numeric_limits<int32_t>::max())
          bad_request(fmt::format("token id {} is out of range", id), "tokens");
        r.tokens.push_back(static_cast<int32_t>(id));
      }
      have_tokens = true;
    }
  }
  if (!have_tokens) bad_request("'tokens' is required", "tokens");
  return r;
}

std::string tokenize_body(const std::vector<int32_t>& ids, int max_model_len,
                          const std::vector<std::string>* token_strs) {
  std::string out = fmt::format("{{\"count\":{},\"max_model_len\":{},\"tokens\":[{}],\"token_strs\":",
                                ids.size(), max_model_len, fmt::join(ids, ","));
  if (!token_strs) {
    out += "null}";
    return out;
  }
  out += '[';
  for (size_t i = 0; i < token_strs->size(); ++i) {
    if (i) out += ',';
    http::append_json_string(out, (*token_strs)[i]);
  }
  out += "]}";
  return out;
}

std::string detokenize_body(std::string_view prompt) {
  return "{\"prompt\":" + http::json_string(prompt) + "}";
}

std::string version_body(std::string_view version) {
  return "{\"version\":" + http::json_string(version) + "}";
}

}  // namespace ember::net::openai
