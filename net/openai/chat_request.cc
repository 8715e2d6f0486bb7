#include "net/openai/chat_request.h"

#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "net/http/json_text.h"

namespace ember::net::openai {
namespace {

using simdjson::dom::element;

[[noreturn]] void bad(std::string msg, std::string param) {
  throw RequestError(std::move(msg), std::move(param));
}

double number(element v, const char* param) {
  double d = 0;
  if (v.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i = 0;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  uint64_t u = 0;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  bad(fmt::format("'{}' must be a number", param), param);
}

std::string content_text(element c, size_t index) {
  std::string_view s;
  if (c.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  if (c.is_null()) return {};
  simdjson::dom::array parts;
  std::string param = fmt::format("messages[{}].content", index);
  if (c.get_array().get(parts) != simdjson::SUCCESS)
    bad("message content must be a string or a list of text parts", param);
  std::string out;
  for (element p : parts) {
    std::string_view type, text;
    if (p["type"].get_string().get(type) != simdjson::SUCCESS || type != "text" ||
        p["text"].get_string().get(text) != simdjson::SUCCESS)
      bad("only text content parts are supported", param);
    out.append(text);
  }
  return out;
}


void append_finish(std::string& out, FinishReason f) {
  if (f == FinishReason::kNone) out += "null";
  else http::append_json_string(out, finish_reason_name(f));
}

}  // namespace

ChatRequest decode_chat_request(std::string_view body, int default_max_tokens) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element root;
  if (auto err = parser.parse(padded).get(root))
    bad(std::string("invalid JSON body: ") + simdjson::error_message(err), "");
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) bad("the body must be a JSON object", "");

  ChatRequest r;
  r.completion.max_tokens = default_max_tokens;
  bool have_messages = false;
  for (auto field : obj) {
    std::string_view key = field.key;
    element v = field.value;
    if (v.is_null()) continue;
    if (key == "model") {
      std::string_view m;
      if (v.get_string().get(m) != simdjson::SUCCESS) bad("'model' must be a string", "model");
      r.model = std::string(m);
    } else if (key == "messages") {
      simdjson::dom::array arr;
      if (v.get_array().get(arr) != simdjson::SUCCESS) bad("'messages' must be a list", "messages");
      size_t i = 0;
      for (element m : arr) {
        std::string_view role;
        if (m["role"].get_string().get(role) != simdjson::SUCCESS)
          bad("each message needs a string 'role'", fmt::format("messages[{}].role", i));
        element c;
        std::string content;
        if (m["content"].get(c) == simdjson::SUCCESS) content = content_text(c, i);
        r.completion.messages.push_back({std::string(role), std::move(content)});
        ++i;
      }
      have_messages = true;
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      double d = number(v, std::string(key).c_str());
      if (!(d >= 1) || d > 1e9 || d != std::floor(d))
        bad(fmt::format("'{}' must be a positive integer", key), std::string(key));
      r.completion.max_tokens = static_cast<int>(d);
    } else if (key == "temperature") {
      double d = number(v, "temperature");
      if (!(d >= 0 && d <= 2)) bad("'temperature' must be between 0 and 2", "temperature");
      r.completion.temperature = static_cast<float>(d);
    } else if (key == "top_p") {
      double d = number(v, "top_p");
      if (!(d > 0 && d <= 1)) bad("'top_p' must be in (0, 1]", "top_p");
      r.completion.top_p = static_cast<float>(d);
    } else if (key == "seed") {
      int64_t s = 0;
      uint64_t u = 0;
      if (v.get_int64().get(s) == simdjson::SUCCESS) r.completion.seed = static_cast<uint64_t>(s);
      else if (v.get_uint64().get(u) == simdjson::SUCCESS) r.completion.seed = u;
      else bad("'seed' must be an integer", "seed");
    } else if (key == "stop") {
      std::string_view s;
      simdjson::dom::array arr;
      if (v.get_string().get(s) == simdjson::SUCCESS) {
        r.completion.stop.emplace_back(s);
      } else if (v.get_array().get(arr) == simdjson::SUCCESS) {
        for (element e : arr) {
          if (e.get_string().get(s) != simdjson::SUCCESS) bad("'stop' must be strings", "stop");
          r.completion.stop.emplace_back(s);
        }
        if (r.completion.stop.size() > 4) bad("'stop' takes at most 4 sequences", "stop");
      } else {
        bad("'stop' must be a string or a list of strings", "stop");
      }
    } else if (key == "stream") {
      bool b = false;
      if (v.get_bool().get(b) != simdjson::SUCCESS) bad("'stream' must be a boolean", "stream");
      r.completion.stream = b;
    } else if (key == "stream_options") {
      bool b = false;
      if (v["include_usage"].get_bool().get(b) == simdjson::SUCCESS) r.include_usage = b;
    } else if (key == "n") {
      double d = number(v, "n");
      if (d != 1) bad("only n=1 is supported", "n");
    }
  }
  if (!have_messages || r.completion.messages.empty())
    bad("'messages' is required and must not be empty", "messages");
  return r;
}

std::string error_body(std::string_view message, std::string_view type, std::string_view param) {
  std::string out = "{\"error\":{\"message\":";
  http::append_json_string(out, message);
  out += ",\"type\":";
  http::append_json_string(out, type);
  out += ",\"param\":";
  if (param.empty()) out += "null";
  else http::append_json_string(out, param);
  out += ",\"code\":null}}";
  return out;
}

std::string completion_body(std::string_view id, long long created, std::string_view model,
                            std::string_view text, FinishReason finish,
                            const CompletionUsage& usage) {
  std::string out = "{\"id\":";
  http::append_json_string(out, id);
  fmt::format_to(std::back_inserter(out), ",\"object\":\"chat.completion\",\"created\":{},\"model\":",
                 created);
  http::append_json_string(out, model);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  http::append_json_string(out, text);
  out += "},\"logprobs\":null,\"finish_reason\":";
  append_finish(out, finish == FinishReason::kNone ? FinishReason::kStop : finish);
  fmt::format_to(std::back_inserter(out),
                 "}}],\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{}}}}}",
                 usage.prompt_tokens, usage.completion_tokens,
                 usage.prompt_tokens + usage.completion_tokens);
  return out;
}

std::string chunk_event(std::string_view id, long long created, std::string_view model,
                        std::string_view text, bool role_delta, FinishReason finish) {
  std::string out = "data: {\"id\":";
  http::append_json_string(out, id);
  fmt::format_to(std::back_inserter(out),
                 ",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":", created);
  http::append_json_string(out, model);
  out += ",\"choices\":[{\"index\":0,\"delta\":{";
  bool any = false;
  if (role_delta) {
    out += "\"role\":\"assistant\"";
    any = true;
  }
  if (!text.empty() || (role_delta && finish == FinishReason::kNone)) {
    if (any) out += ',';
    out += "\"content\":";
    http::append_json_string(out, text);
  }
  out += "},\"logprobs\":null,\"finish_reason\":";
  append_finish(out, finish);
  out += "}]}\n\n";
  return out;
}

std::string usage_event(std::string_view id, long long created, std::string_view model,
                        const CompletionUsage& usage) {
  std::string out = "data: {\"id\":";
  http::append_json_string(out, id);
  fmt::format_to(std::back_inserter(out),
                 ",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":", created);
  http::append_json_string(out, model);
  fmt::format_to(std::back_inserter(out),
                 ",\"choices\":[],\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{},"
                 "\"total_tokens\":{}}}}}\n\n",
                 usage.prompt_tokens, usage.completion_tokens,
                 usage.prompt_tokens + usage.completion_tokens);
  return out;
}

std::string models_body(std::string_view model, long long created) {
  std::string out = "{\"object\":\"list\",\"data\":[{\"id\":";
  http::append_json_string(out, model);
  fmt::format_to(std::back_inserter(out),
                 ",\"object\":\"model\",\"created\":{},\"owned_by\":\"ember\"}}]}}", created);
  return out;
}

}  // namespace ember::net::openai
