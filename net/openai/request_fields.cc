#include "net/openai/request_fields.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace ember::net::openai {
namespace {

using simdjson::dom::element;

std::string p(std::string_view s) { return std::string(s); }

float ranged(element v, std::string_view param, double lo, double hi, bool lo_open = false) {
  const double d = number_field(v, param);
  if (!(lo_open ? d > lo : d >= lo) || !(d <= hi))
    bad_request(fmt::format("'{}' must be in {}{}, {}]", param, lo_open ? "(" : "[", lo, hi),
                p(param));
  return static_cast<float>(d);
}

int positive_int(element v, std::string_view param) {
  const int64_t i = integer_field(v, param);
  if (i < 1 || i > 1'000'000'000) bad_request(fmt::format("'{}' must be a positive integer", param), p(param));
  return static_cast<int>(i);
}

// vLLM's top_k: -1 (or 0) disables it, else at least 1.
int top_k_value(element v, std::string_view param) {
  const int64_t i = integer_field(v, param);
  if (i < -1 || i > 1'000'000'000) bad_request(fmt::format("'{}' must be -1 (off) or a positive integer", param), p(param));
  return i < 0 ? 0 : static_cast<int>(i);
}

uint64_t seed_value(element v, std::string_view param) {
  int64_t s = 0;
  uint64_t u = 0;
  if (v.get_int64().get(s) == simdjson::SUCCESS) return static_cast<uint64_t>(s);
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return u;
  bad_request(fmt::format("'{}' must be an integer", param), p(param));
}

std::vector<int32_t> token_ids(element v, std::string_view param) {
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS)
    bad_request(fmt::format("'{}' must be a list of token ids", param), p(param));
  std::vector<int32_t> out;
  for (element e : arr) {
    const int64_t id = integer_field(e, param);
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      bad_request(fmt::format("'{}' holds {}, which is not a token id", param, id), p(param));
    out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

void decode_sampling_parameters(element v, CommonFields& c) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS)
    bad_request("'sampling_parameters' must be an object", "sampling_parameters");
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element f = field.value;
    if (f.is_null()) continue;
    const std::string param = fmt::format("sampling_parameters.{}", key);
    if (key == "temperature") c.sp_temperature = ranged(f, param, 0, 100);
    else if (key == "top_p") c.sp_top_p = ranged(f, param, 0, 1, true);
    else if (key == "top_k") c.sp_top_k = top_k_value(f, param);
    else if (key == "max_tokens" || key == "max_new_tokens") c.sp_max_tokens = positive_int(f, param);
    else if (key == "repetition_penalty") c.sp_repetition_penalty = ranged(f, param, 0, 10, true);
    else if (key == "seed") c.sp_seed = seed_value(f, param);
    else if (key == "do_sample") c.sp_greedy = !bool_field(f, param);
    // Anything else (num_beams, stop, ...) is the validator's business: ignored, as vLLM does.
  }
}

}  // namespace

simdjson::dom::object parse_body(std::string_view body, simdjson::dom::parser& parser) {
  simdjson::padded_string padded(body);
  element root;
  if (auto err = parser.parse(padded).get(root))
    bad_request(std::string("invalid JSON body: ") + simdjson::error_message(err), "");
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) bad_request("the body must be a JSON object", "");
  return obj;
}

double number_field(element v, std::string_view param) {
  double d = 0;
  if (v.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i = 0;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  uint64_t u = 0;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  bad_request(fmt::format("'{}' must be a number", param), p(param));
}

int64_t integer_field(element v, std::string_view param) {
  int64_t i = 0;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return i;
  // Python clients send 16.0 for 16 now and then; an integral float is an integer.
  double d = 0;
  if (v.get_double().get(d) == simdjson::SUCCESS && d == std::floor(d) && std::fabs(d) < 9e15)
    return static_cast<int64_t>(d);
  bad_request(fmt::format("'{}' must be an integer", param), p(param));
}

bool bool_field(element v, std::string_view param) {
  bool b = false;
  if (v.get_bool().get(b) != simdjson::SUCCESS)
    bad_request(fmt::format("'{}' must be a boolean", param), p(param));
  return b;
}

std::string string_field(element v, std::string_view param) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    bad_request(fmt::format("'{}' must be a string", param), p(param));
  return std::string(s);
}

bool decode_common_field(std::string_view key, element v, CompletionRequest& req, CommonFields& c) {
  if (key == "model") {
    c.model = string_field(v, "model");
  } else if (key == "max_tokens" || key == "max_completion_tokens") {
    req.max_tokens = positive_int(v, key);
    c.max_tokens_set = true;
  } else if (key == "temperature") {
    req.temperature = ranged(v, key, 0, 100);
  } else if (key == "top_p") {
    req.top_p = ranged(v, key, 0, 1, true);
  } else if (key == "top_k") {
    req.top_k = top_k_value(v, key);
  } else if (key == "min_p") {
    req.min_p = ranged(v, key, 0, 1);
  } else if (key == "repetition_penalty") {
    req.repetition_penalty = ranged(v, key, 0, 10, true);
  } else if (key == "presence_penalty") {
    req.presence_penalty = ranged(v, key, -2, 2);
  } else if (key == "frequency_penalty") {
    req.frequency_penalty = ranged(v, key, -2, 2);
  } else if (key == "logit_bias") {
    simdjson::dom::object obj;
    if (v.get_object().get(obj) != simdjson::SUCCESS)
      bad_request("'logit_bias' must be an object of token id -> bias", "logit_bias");
    for (auto field : obj) {
      const std::string id_text(field.key);
      size_t used = 0;
      long id = -1;
      try {
        id = std::stol(id_text, &used);
      } catch (const std::exception&) {
      }
      if (used != id_text.size() || id < 0 || id > std::numeric_limits<int32_t>::max())
        bad_request(fmt::format("'logit_bias' key '{}' is not a token id", id_text), "logit_bias");
      req.logit_bias[static_cast<int32_t>(id)] =
          ranged(field.value, fmt::format("logit_bias.{}", id_text), -100, 100);
    }
  } else if (key == "seed") {
    req.seed = seed_value(v, key);
  } else if (key == "stop") {
    std::string_view s;
    simdjson::dom::array arr;
    if (v.get_string().get(s) == simdjson::SUCCESS) {
      if (!s.empty()) req.stop.emplace_back(s);
    } else if (v.get_array().get(arr) == simdjson::SUCCESS) {
      for (element e : arr) {
        if (e.get_string().get(s) != simdjson::SUCCESS) bad_request("'stop' must be strings", "stop");
        if (!s.empty()) req.stop.emplace_back(s);
      }
      if (req.stop.size() > 16) bad_request("'stop' takes at most 16 sequences", "stop");
    } else {
      bad_request("'stop' must be a string or a list of strings", "stop");
    }
  } else if (key == "stop_token_ids") {
    req.stop_token_ids = token_ids(v, key);
  } else if (key == "include_stop_str_in_output") {
    req.include_stop_str_in_output = bool_field(v, key);
  } else if (key == "min_tokens") {
    const int64_t n = integer_field(v, key);
    if (n < 0 || n > 1'000'000'000) bad_request("'min_tokens' must be >= 0", "min_tokens");
    req.min_tokens = static_cast<int>(n);
  } else if (key == "ignore_eos") {
    req.ignore_eos = bool_field(v, key);
  } else if (key == "skip_special_tokens") {
    req.skip_special_tokens = bool_field(v, key);
  } else if (key == "return_tokens_as_token_ids") {
    c.return_tokens_as_token_ids = bool_field(v, key);
  } else if (key == "stream") {
    req.stream = bool_field(v, key);
  } else if (key == "stream_options") {
    element u;
    if (v["include_usage"].get(u) == simdjson::SUCCESS && !u.is_null())
      c.include_usage = bool_field(u, "stream_options.include_usage");
  } else if (key == "n") {
    if (integer_field(v, key) != 1) bad_request("only n=1 is supported", "n");
  } else if (key == "sampling_parameters") {
    decode_sampling_parameters(v, c);
  } else {
    return false;
  }
  return true;
}

void finish_common(CompletionRequest& req, CommonFields& c, const DecodeLimits& limits) {
  if (!req.temperature && c.sp_temperature) req.temperature = c.sp_temperature;
  if (!req.top_p && c.sp_top_p) req.top_p = c.sp_top_p;
  if (!req.top_k && c.sp_top_k) req.top_k = c.sp_top_k;
  if (!req.repetition_penalty && c.sp_repetition_penalty)
    req.repetition_penalty = c.sp_repetition_penalty;
  if (!req.seed && c.sp_seed) req.seed = c.sp_seed;
  if (!c.max_tokens_set && c.sp_max_tokens) {
    req.max_tokens = *c.sp_max_tokens;
    c.max_tokens_set = true;
  }
  // do_sample=false is Hugging Face's greedy search, whatever temperature came with it.
  if (c.sp_greedy) req.temperature = 0.f;
  // Unset stays 0, the service's default: it shrinks that to fit the context (vLLM's rule),
  // where an explicit max_tokens that does not fit is refused.
  const int limit = c.max_tokens_set ? req.max_tokens : limits.default_max_tokens;
  if (req.min_tokens > limit)
    bad_request(fmt::format("'min_tokens' ({}) must not exceed the reply's length limit ({})",
                            req.min_tokens, limit),
                "min_tokens");
}

void check_logprobs_limit(int n, std::string_view param, const DecodeLimits& limits) {
  if (n < 0) bad_request(fmt::format("'{}' must be >= 0", param), p(param));
  if (n > limits.max_logprobs)
    bad_request(fmt::format("'{}' is {}, above this server's maximum of {} (--max-logprobs)", param,
                            n, limits.max_logprobs),
                p(param));
}

}  // namespace ember::net::openai
