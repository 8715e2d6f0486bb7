#include "net/openai/openai_handler.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "net/http/completion_pump.h"
#include "net/openai/chat_request.h"

namespace ember::net::openai {
namespace {

using Clock = std::chrono::steady_clock;

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string next_id() {
  static std::atomic<uint64_t> n{0};
  return fmt::format("chatcmpl-{:x}{:06x}", unix_now(), n.fetch_add(1) + 1);
}

http::HttpResponse api_error(int status, std::string_view message, std::string_view type,
                             std::string_view param = {}) {
  http::HttpResponse r;
  r.status = status;
  r.header("Content-Type", "application/json");
  r.body = error_body(message, type, param);
  return r;
}

}  // namespace

OpenAIHandler::OpenAIHandler(OpenAIOptions opts, CompletionService& service,
                             metrics::ServerMetrics* metrics)
    : opts_(std::move(opts)), service_(service), metrics_(metrics), created_(unix_now()) {}

void OpenAIHandler::register_routes(http::Router& router) {
  router.add("POST", "/v1/chat/completions",
             [this](http::HttpRequest& req, http::ResponseWriter& w) { chat_completions(req, w); });
  router.add("GET", "/v1/models",
             [this](http::HttpRequest& req, http::ResponseWriter& w) { models(req, w); });
}

bool OpenAIHandler::authorized(const http::HttpRequest& req, http::ResponseWriter& w) {
  if (opts_.authorize) {
    const AccessVerdict v = opts_.authorize(req);
    if (v.ok) return true;
    if (metrics_) metrics_->observe_auth_rejection(v.protocol, v.reason);
    w.send(api_error(v.status, v.message, v.status >= 500 ? "server_error" : "invalid_request_error"));
    return false;
  }
  if (opts_.api_key.empty()) return true;
  const std::string* auth = req.header("authorization");
  if (auth && *auth == "Bearer " + opts_.api_key) return true;
  w.send(api_error(401, "Incorrect API key provided.", "invalid_request_error"));
  return false;
}

void OpenAIHandler::models(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  http::HttpResponse r;
  r.header("Content-Type", "application/json");
  r.body = models_body(service_.model_name(), created_);
  w.send(r);
}

void OpenAIHandler::chat_completions(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  const auto start = Clock::now();
  ChatRequest cr;
  try {
    cr = decode_chat_request(req.body, opts_.default_max_tokens);
  } catch (const RequestError& e) {
    w.send(api_error(400, e.what(), "invalid_request_error", e.param()));
    return;
  }
  CompletionRequest& creq = cr.completion;
  const std::string id = next_id();
  creq.request_id = id;
  auto hard = Clock::time_point::max();
  if (opts_.request_timeout_s > 0) {
    creq.deadline = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(opts_.request_timeout_s));
    hard = creq.deadline + std::chrono::seconds(1);
  }

  std::shared_ptr<CompletionStream> stream;
  try {
    stream = service_.start(creq);
  } catch (const ServiceBusy& b) {
    w.send(api_error(429, b.message.empty() ? "server is busy, retry later" : b.message,
                     "rate_limit_error"));
    return;
  } catch (const std::invalid_argument& e) {
    w.send(api_error(400, e.what(), "invalid_request_error"));
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember: openai: %s: %s\n", id.c_str(), e.what());
    w.send(api_error(500, "internal error", "server_error"));
    return;
  }
  if (!stream) {
    w.send(api_error(500, "internal error", "server_error"));
    return;
  }
  const std::string model = service_.model_name();
  const long long created = unix_now();

  if (creq.stream) {
    http::HeaderList hdrs = {{"Content-Type", "text/event-stream"},
                             {"Cache-Control", "no-cache"}};
    if (!w.begin_stream(200, hdrs)) {
      stream->cancel();
      return;
    }
    bool ok = w.write_chunk(chunk_event(id, created, model, "", true, FinishReason::kNone));
    auto res = http::pump_completion(stream, w, hard, [&](std::string_view t) {
      ok = ok && w.write_chunk(chunk_event(id, created, model, t, false, FinishReason::kNone));
      return ok;
    });
    if (res.finish == FinishReason::kError) {
      // The status line is gone: report the failure in-band, as OpenAI does for stream errors.
      w.write_chunk("data: " + error_body(res.error, "server_error", {}) + "\n\n");
    } else {
      w.write_chunk(chunk_event(id, created, model, "", false,
                                res.finish == FinishReason::kNone ? FinishReason::kStop
                                                                  : res.finish));
      if (cr.include_usage) w.write_chunk(usage_event(id, created, model, res.usage));
    }
    w.write_chunk(kDoneEvent);
    w.end_stream();
    if (metrics_)
      metrics_->observe_completion("openai", res.usage.completion_tokens,
                                   finish_reason_name(res.finish));
    return;
  }

  std::string text;
  auto res = http::pump_completion(stream, w, hard, [&](std::string_view t) {
    text.append(t);
    return true;
  });
  if (metrics_)
    metrics_->observe_completion("openai", res.usage.completion_tokens,
                                 finish_reason_name(res.finish));
  if (res.client_gone) return;
  if (res.finish == FinishReason::kError) {
    w.send(api_error(500, res.error.empty() ? "generation failed" : res.error, "server_error"));
    return;
  }
  http::HttpResponse r;
  r.header("Content-Type", "application/json");
  r.body = completion_body(id, created, model, text, res.finish, res.usage);
  w.send(r);
}

}  // namespace ember::net::openai
