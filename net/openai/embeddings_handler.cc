#include "net/openai/embeddings_handler.h"

#include <cstring>
#include <exception>

#include <fmt/format.h>
#include <simdjson.h>

#include "net/http/json_text.h"
#include "net/openai/handler_support.h"
#include "net/openai/request_fields.h"

namespace ember::net::openai {
namespace {

using simdjson::dom::element;

std::string base64_floats(const std::vector<float>& v) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  // Little-endian float32, as numpy's frombuffer(dtype="float32") reads it (OpenAI's SDK does).
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[4 * i + size_t(b)] = char((u >> (8 * b)) & 0xFF);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t w = 0;
    for (size_t k = 0; k < 3; ++k)
      w = (w << 8) | (k < n ? uint8_t(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k)
      out.push_back(k <= n ? kAlphabet[(w >> (18 - 6 * k)) & 63] : '=');
  }
  return out;
}

}  // namespace

EmbeddingsRequest decode_embeddings_request(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  const simdjson::dom::object obj = parse_body(body, parser);
  EmbeddingsRequest r;
  bool have_input = false;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (v.is_null()) continue;
    if (key == "input") {
      have_input = true;
      std::string_view s;
      simdjson::dom::array arr;
      if (!v.get_string().get(s)) {
        r.input.emplace_back(s);
      } else if (!v.get_array().get(arr)) {
        for (element e : arr) {
          if (e.get_string().get(s))
            bad_request(e.is_int64() || e.is_array()
                            ? "'input' as token ids is not supported: send text"
                            : "'input' must be a string or a list of strings",
                        "input");
          r.input.emplace_back(s);
          if (r.input.size() > kMaxEmbeddingInputs)
            bad_request(fmt::format("'input' holds more than {} items", kMaxEmbeddingInputs),
                        "input");
        }
        if (r.input.empty()) bad_request("'input' must not be an empty list", "input");
      } else {
        bad_request("'input' must be a string or a list of strings", "input");
      }
    } else if (key == "model") {
      r.model = string_field(v, "model");
    } else if (key == "encoding_format") {
      std::string_view f;
      if (v.get_string().get(f) || (f != "float" && f != "base64"))
        bad_request("'encoding_format' must be \"float\" or \"base64\"", "encoding_format");
      r.base64 = f == "base64";
    } else if (key == "dimensions") {
      const int64_t d = integer_field(v, "dimensions");
      if (d < 1 || d > (1 << 20)) bad_request("'dimensions' must be a positive integer", "dimensions");
      r.dimensions = int(d);
    }
    // Other fields (user, ...) are ignored, as vLLM ignores them.
  }
  if (!have_input) bad_request("'input' is required", "input");
  return r;
}

std::string embeddings_body(const EmbeddingResult& r, const std::string& model, bool base64) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < r.vectors.size(); ++i) {
    if (i) out += ',';
    fmt::format_to(std::back_inserter(out), "{{\"object\":\"embedding\",\"index\":{},\"embedding\":", i);
    if (base64) {
      out += '"' + base64_floats(r.vectors[i]) + '"';
    } else {
      out += '[';
      for (size_t j = 0; j < r.vectors[i].size(); ++j) {
        if (j) out += ',';
        fmt::format_to(std::back_inserter(out), "{}", r.vectors[i][j]);
      }
      out += ']';
    }
    out += '}';
  }
  fmt::format_to(std::back_inserter(out),
                 "],\"model\":{},\"usage\":{{\"prompt_tokens\":{},\"total_tokens\":{}}}}}",
                 http::json_string(model), r.prompt_tokens, r.prompt_tokens);
  return out;
}

EmbeddingsHandler::EmbeddingsHandler(OpenAIOptions opts, EmbeddingService& service,
                                     metrics::ServerMetrics* metrics)
    : opts_(std::move(opts)), service_(service), metrics_(metrics) {}

void EmbeddingsHandler::register_routes(http::Router& router) {
  router.add("POST", "/v1/embeddings",
             [this](http::HttpRequest& req, http::ResponseWriter& w) { embeddings(req, w); });
}

bool EmbeddingsHandler::authorized(const http::HttpRequest& req, http::ResponseWriter& w) {
  return admit_v1_request(opts_, metrics_, req, w);
}

void EmbeddingsHandler::embeddings(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  EmbeddingsRequest er;
  const std::string name = service_.model_name();
  try {
    er = decode_embeddings_request(req.body);
    if (!er.model.empty() && er.model != name && !opts_.accept_any_model)
      throw unknown_model(er.model);
    if (er.dimensions && er.dimensions != service_.dim())
      bad_request(fmt::format("'dimensions' {} is not supported: {} gives {}-dimensional "
                              "embeddings only", er.dimensions, name, service_.dim()),
                  "dimensions");
  } catch (const RequestError& e) {
    w.send(request_error(e));
    return;
  }
  try {
    const EmbeddingResult r = service_.embed(er.input);
    w.send(json_ok(embeddings_body(r, er.model.empty() ? name : er.model, er.base64)));
  } catch (const std::exception& e) {
    w.send(api_error(500, std::string("embedding failed: ") + e.what(), "server_error"));
  }
}

}  // namespace ember::net::openai
