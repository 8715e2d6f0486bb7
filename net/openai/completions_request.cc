#include "net/openai/completions_request.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <simdjson.h>

#include "net/http/json_text.h"
#include "net/openai/chat_request.h"

namespace ember::net::openai {
namespace {

using simdjson::dom::element;

std::vector<int32_t> id_list(simdjson::dom::array arr, std::string_view param) {
  std::vector<int32_t> ids;
  for (element e : arr) {
    const int64_t id = integer_field(e, param);
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      bad_request(fmt::format("'{}' holds {}, which is not a token id", param, id), std::string(param));
    ids.push_back(static_cast<int32_t>(id));
  }
  if (ids.empty()) bad_request(fmt::format("'{}' must not be empty", param), std::string(param));
  return ids;
}

// A string, a list of strings, a list of ids, or a list of id lists.
std::vector<CompletionsPrompt> decode_prompts(element v) {
  const char* kShape = "'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token ids";
  std::vector<CompletionsPrompt> out;
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) {
    out.push_back({std::string(s), {}});
    return out;
  }
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) bad_request(kShape, "prompt");
  if (arr.size() == 0) bad_request("'prompt' must not be an empty list", "prompt");
  element first;
  if (arr.at(0).get(first) != simdjson::SUCCESS) bad_request(kShape, "prompt");
  if (first.is_int64() || first.is_uint64() || first.is_double()) {
    out.push_back({std::nullopt, id_list(arr, "prompt")});
    return out;
  }
  size_t i = 0;
  for (element e : arr) {
    const std::string param = fmt::format("prompt[{}]", i++);
    simdjson::dom::array ids;
    if (e.get_string().get(s) == simdjson::SUCCESS) out.push_back({std::string(s), {}});
    else if (e.get_array().get(ids) == simdjson::SUCCESS) out.push_back({std::nullopt, id_list(ids, param)});
    else bad_request(kShape, param);
  }
  if (out.size() > kMaxPromptsPerRequest)
    bad_request(fmt::format("at most {} prompts in one request", kMaxPromptsPerRequest), "prompt");
  return out;
}

void append_head(std::string& out, std::string_view id, long long created, std::string_view model) {
  out += "{\"id\":";
  http::append_json_string(out, id);
  fmt::format_to(std::back_inserter(out), ",\"object\":\"text_completion\",\"created\":{},\"model\":",
                 created);
  http::append_json_string(out, model);
}

void append_choice(std::string& out, size_t index, std::string_view text, FinishReason finish,
                   std::string_view logprobs_json) {
  fmt::format_to(std::back_inserter(out), "{{\"index\":{},\"text\":", index);
  http::append_json_string(out, text);
  out += ",\"logprobs\":";
  out += logprobs_json.empty() ? std::string_view("null") : logprobs_json;
  out += ",\"finish_reason\":";
  append_finish_reason(out, finish);
  out += ",\"stop_reason\":null}";
}

}  // namespace

CompletionsRequest decode_completions_request(std::string_view body, const DecodeLimits& limits) {
  thread_local simdjson::dom::parser parser;
  const simdjson::dom::object obj = parse_body(body, parser);
  CompletionsRequest r;
  CommonFields common;
  bool have_prompt = false;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (v.is_null()) continue;
    if (decode_common_field(key, v, r.completion, common)) continue;
    if (key == "prompt") {
      r.prompts = decode_prompts(v);
      have_prompt = true;
    } else if (key == "echo") {
      r.echo = bool_field(v, "echo");
    } else if (key == "add_special_tokens") {
      r.add_special_tokens = bool_field(v, "add_special_tokens");
    } else if (key == "logprobs") {
      const int64_t n = integer_field(v, "logprobs");
      check_logprobs_limit(static_cast<int>(std::clamp<int64_t>(n, -1, 1'000'000)), "logprobs", limits);
      r.logprobs = static_cast<int>(n);
    } else if (key == "suffix") {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS || !s.empty())
        bad_request("'suffix' is not supported", "suffix");
    } else if (key == "best_of") {
      if (integer_field(v, "best_of") != 1) bad_request("only best_of=1 is supported", "best_of");
    }
  }
  if (!have_prompt) bad_request("'prompt' is required", "prompt");
  // The engine computes no prompt logprobs, which vLLM returns for echo with logprobs.
  if (r.echo && r.logprobs >= 0)
    bad_request("echo with logprobs is not supported (no prompt logprobs)", "echo");
  finish_common(r.completion, common, limits);
  r.completion.logprobs = r.logprobs;
  r.model = std::move(common.model);
  r.include_usage = common.include_usage;
  r.return_tokens_as_token_ids = common.return_tokens_as_token_ids;
  return r;
}

std::string completions_body(std::string_view id, long long created, std::string_view model,
                             const std::vector<CompletionsChoice>& choices,
                             const CompletionUsage& usage) {
  std::string out;
  append_head(out, id, created, model);
  out += ",\"choices\":[";
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i) out += ',';
    const FinishReason f = choices[i].finish == FinishReason::kNone ? FinishReason::kStop : choices[i].finish;
    append_choice(out, i, choices[i].text, f, choices[i].logprobs_json);
  }
  out += "],";
  append_usage(out, usage);
  out += '}';
  return out;
}

std::string completions_chunk(std::string_view id, long long created, std::string_view model,
                              size_t index, std::string_view text, FinishReason finish,
                              std::string_view logprobs_json) {
  std::string out = "data: ";
  append_head(out, id, created, model);
  out += ",\"choices\":[";
  append_choice(out, index, text, finish, logprobs_json);
  out += "]}\n\n";
  return out;
}

std::string completions_usage_event(std::string_view id, long long created, std::string_view model,
                                    const CompletionUsage& usage) {
  std::string out = "data: ";
  append_head(out, id, created, model);
  out += ",\"choices\":[],";
  append_usage(out, usage);
  out += "}\n\n";
  return out;
}

}  // namespace ember::net::openai
