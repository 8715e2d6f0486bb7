#include "net/openai/chat_request.h"

#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>

#include "net/http/json_text.h"

namespace ember::net::openai {
namespace {

using simdjson::dom::element;

std::string content_text(element c, size_t index) {
  std::string_view s;
  if (c.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  if (c.is_null()) return {};
  simdjson::dom::array parts;
  std::string param = fmt::format("messages[{}].content", index);
  if (c.get_array().get(parts) != simdjson::SUCCESS)
    bad_request("message content must be a string or a list of text parts", param);
  std::string out;
  for (element p : parts) {
    std::string_view type, text;
    if (p["type"].get_string().get(type) != simdjson::SUCCESS || type != "text" ||
        p["text"].get_string().get(text) != simdjson::SUCCESS)
      bad_request("only text content parts are supported", param);
    out.append(text);
  }
  return out;
}

void append_head(std::string& out, std::string_view id, std::string_view object, long long created,
                 std::string_view model) {
  http::append_json_string(out, id);
  out += ",\"object\":";
  http::append_json_string(out, object);
  fmt::format_to(std::back_inserter(out), ",\"created\":{},\"model\":", created);
  http::append_json_string(out, model);
}

void append_logprobs_value(std::string& out, std::string_view logprobs_json) {
  out += ",\"logprobs\":";
  out += logprobs_json.empty() ? std::string_view("null") : logprobs_json;
}

}  // namespace

std::vector<ChatMessage> decode_messages(element v) {
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) bad_request("'messages' must be a list", "messages");
  std::vector<ChatMessage> out;
  size_t i = 0;
  for (element m : arr) {
    std::string_view role;
    if (m["role"].get_string().get(role) != simdjson::SUCCESS)
      bad_request("each message needs a string 'role'", fmt::format("messages[{}].role", i));
    element c;
    std::string content;
    if (m["content"].get(c) == simdjson::SUCCESS) content = content_text(c, i);
    out.push_back({std::string(role), std::move(content)});
    ++i;
  }
  return out;
}

ChatRequest decode_chat_request(std::string_view body, const DecodeLimits& limits) {
  thread_local simdjson::dom::parser parser;
  const simdjson::dom::object obj = parse_body(body, parser);

  ChatRequest r;
  CommonFields common;
  bool have_messages = false, logprobs = false;
  int top_logprobs = -1;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (v.is_null()) continue;
    if (decode_common_field(key, v, r.completion, common)) continue;
    if (key == "messages") {
      r.completion.messages = decode_messages(v);
      have_messages = true;
    } else if (key == "logprobs") {
      logprobs = bool_field(v, "logprobs");
    } else if (key == "top_logprobs") {
      const int64_t n = integer_field(v, "top_logprobs");
      top_logprobs = static_cast<int>(std::clamp<int64_t>(n, -1, 1'000'000));
      if (n < 0) bad_request("'top_logprobs' must be >= 0", "top_logprobs");
    }
  }
  if (!have_messages || r.completion.messages.empty())
    bad_request("'messages' is required and must not be empty", "messages");
  if (top_logprobs > 0 && !logprobs)
    bad_request("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
  if (logprobs) {
    r.top_logprobs = std::max(top_logprobs, 0);
    check_logprobs_limit(r.top_logprobs, "top_logprobs", limits);
    r.completion.logprobs = r.top_logprobs;
  }
  finish_common(r.completion, common, limits);
  r.model = std::move(common.model);
  r.include_usage = common.include_usage;
  r.return_tokens_as_token_ids = common.return_tokens_as_token_ids;
  return r;
}

void append_finish_reason(std::string& out, FinishReason f) {
  if (f == FinishReason::kNone) out += "null";
  else http::append_json_string(out, finish_reason_name(f));
}

void append_usage(std::string& out, const CompletionUsage& usage) {
  fmt::format_to(std::back_inserter(out),
                 "\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{}}}",
                 usage.prompt_tokens, usage.completion_tokens,
                 usage.prompt_tokens + usage.completion_tokens);
}

std::string completion_body(std::string_view id, long long created, std::string_view model,
                            std::string_view text, FinishReason finish,
                            const CompletionUsage& usage, std::string_view logprobs_json) {
  std::string out = "{\"id\":";
  append_head(out, id, "chat.completion", created, model);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  http::append_json_string(out, text);
  out += '}';
  append_logprobs_value(out, logprobs_json);
  out += ",\"finish_reason\":";
  append_finish_reason(out, finish == FinishReason::kNone ? FinishReason::kStop : finish);
  out += "}],";
  append_usage(out, usage);
  out += '}';
  return out;
}

std::string chunk_event(std::string_view id, long long created, std::string_view model,
                        std::string_view text, bool role_delta, FinishReason finish,
                        std::string_view logprobs_json) {
  std::string out = "data: {\"id\":";
  append_head(out, id, "chat.completion.chunk", created, model);
  out += ",\"choices\":[{\"index\":0,\"delta\":{";
  bool any = false;
  if (role_delta) {
    out += "\"role\":\"assistant\"";
    any = true;
  }
  if (!text.empty() || !logprobs_json.empty() || (role_delta && finish == FinishReason::kNone)) {
    if (any) out += ',';
    out += "\"content\":";
    http::append_json_string(out, text);
  }
  out += '}';
  append_logprobs_value(out, logprobs_json);
  out += ",\"finish_reason\":";
  append_finish_reason(out, finish);
  out += "}]}\n\n";
  return out;
}

std::string usage_event(std::string_view id, long long created, std::string_view model,
                        const CompletionUsage& usage) {
  std::string out = "data: {\"id\":";
  append_head(out, id, "chat.completion.chunk", created, model);
  out += ",\"choices\":[],";
  append_usage(out, usage);
  out += "}\n\n";
  return out;
}

std::string models_body(const std::vector<std::string>& names, long long created,
                        int max_model_len) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += "{\"id\":";
    http::append_json_string(out, names[i]);
    fmt::format_to(std::back_inserter(out), ",\"object\":\"model\",\"created\":{},\"owned_by\":\"ember\",\"root\":",
                   created);
    http::append_json_string(out, names[i]);
    out += ",\"parent\":null";
    if (max_model_len > 0) fmt::format_to(std::back_inserter(out), ",\"max_model_len\":{}", max_model_len);
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace ember::net::openai
