#pragma once
// What the OpenAI-compatible handlers (chat, completions, tokenizer) share: response ids,
// timestamps and error responses in OpenAI's JSON shape.
#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "net/http/server.h"
#include "net/openai/api_error.h"

namespace ember::net::openai {

inline long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "chatcmpl-...", "cmpl-...": unique per server (time + counter).
inline std::string next_id(std::string_view prefix) {
  static std::atomic<uint64_t> n{0};
  return fmt::format("{}-{:x}{:06x}", prefix, unix_now(), n.fetch_add(1) + 1);
}

inline http::HttpResponse api_error(int status, std::string_view message, std::string_view type,
                                    std::string_view param = {}, int code = 0) {
  http::HttpResponse r;
  r.status = status;
  r.header("Content-Type", "application/json");
  r.body = error_body(message, type, param, code);
  return r;
}

// 404 in vLLM's shape (type NotFoundError, code 404); anything else as OpenAI's 400.
inline http::HttpResponse request_error(const RequestError& e) {
  if (e.status() == 404) return api_error(404, e.what(), "NotFoundError", e.param(), 404);
  return api_error(e.status(), e.what(), "invalid_request_error", e.param());
}

inline http::HttpResponse json_ok(std::string body) {
  http::HttpResponse r;
  r.header("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

}  // namespace ember::net::openai
