#include "net/openai/openai_handler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "net/http/completion_pump.h"
#include "net/metrics/request_timing.h"
#include "net/net_version.h"
#include "net/openai/chat_request.h"
#include "net/openai/handler_support.h"
#include "net/openai/logprobs_json.h"
#include "net/openai/tokenize_api.h"

namespace ember::net::openai {

OpenAIHandler::OpenAIHandler(OpenAIOptions opts, CompletionService& service,
                             metrics::ServerMetrics* metrics)
    : opts_(std::move(opts)), service_(service), metrics_(metrics), created_(unix_now()) {}

void OpenAIHandler::register_routes(http::Router& router) {
  auto route = [&](const char* method, const char* path, void (OpenAIHandler::*fn)(http::HttpRequest&, http::ResponseWriter&)) {
    router.add(method, path, [this, fn](http::HttpRequest& req, http::ResponseWriter& w) { (this->*fn)(req, w); });
  };
  route("POST", "/v1/chat/completions", &OpenAIHandler::chat_completions);
  route("POST", "/v1/completions", &OpenAIHandler::completions);
  route("GET", "/v1/models", &OpenAIHandler::models);
  route("POST", "/tokenize", &OpenAIHandler::tokenize);
  route("POST", "/detokenize", &OpenAIHandler::detokenize);
  router.add("GET", "/version", [](http::HttpRequest&, http::ResponseWriter& w) { w.send(json_ok(version_body(net_version()))); });
}

bool admit_v1_request(const OpenAIOptions& opts, metrics::ServerMetrics* metrics,
                      const http::HttpRequest& req, http::ResponseWriter& w) {
  if (opts.authorize) {
    const AccessVerdict v = opts.authorize(req);
    if (v.ok) return true;
    if (metrics) metrics->observe_auth_rejection(v.protocol, v.reason);
    w.send(api_error(v.status, v.message, v.status >= 500 ? "server_error" : "invalid_request_error"));
    return false;
  }
  if (opts.api_key.empty()) return true;
  const std::string* auth = req.header("authorization");
  if (auth && *auth == "Bearer " + opts.api_key) return true;
  w.send(api_error(401, "Incorrect API key provided.", "invalid_request_error"));
  return false;
}

bool OpenAIHandler::authorized(const http::HttpRequest& req, http::ResponseWriter& w) {
  return admit_v1_request(opts_, metrics_, req, w);
}

std::string OpenAIHandler::reply_model(const std::string& requested) const {
  const std::vector<std::string> names = service_.served_model_names();
  const std::string first = names.empty() ? service_.model_name() : names.front();
  if (requested.empty()) return first;  // validators may send null
  if (std::find(names.begin(), names.end(), requested) != names.end()) return requested;
  if (opts_.accept_any_model) return first;
  throw unknown_model(requested);
}

OpenAIHandler::Clock::time_point OpenAIHandler::set_deadline(const http::HttpRequest& req,
                                                             Clock::time_point start,
                                                             CompletionRequest& creq) const {
  auto to_dur = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  double timeout = opts_.request_timeout_s > 0 ? opts_.request_timeout_s : 0;
  double client = 0;
  if (const std::string* h = req.header("x-client-timeout")) {
    char* end = nullptr;
    client = std::strtod(h->c_str(), &end);
    // A bad or absurd value is ignored, as a synapse's is: the header is a hint, not a contract.
    if (end == h->c_str() || !(client > 0) || client > 3600) client = 0;
  }
  if (client > 0) {
    timeout = timeout > 0 ? std::min(timeout, client) : client;
    // As the axon does: the reply must be complete a margin before the caller gives up.
    const double margin = std::min(opts_.deadline_margin_s, timeout * 0.25);
    creq.deadline = start + to_dur(timeout - margin);
    return start + to_dur(timeout - margin * 0.5);
  }
  if (timeout <= 0) return Clock::time_point::max();
  creq.deadline = start + to_dur(timeout);
  return creq.deadline + std::chrono::seconds(1);
}

std::shared_ptr<CompletionStream> OpenAIHandler::start_stream(const CompletionRequest& creq,
                                                              http::ResponseWriter& w) {
  std::shared_ptr<CompletionStream> stream;
  try {
    stream = service_.start(creq);
  } catch (const ServiceBusy& b) {
    w.send(api_error(429, b.message.empty() ? "server is busy, retry later" : b.message,
                     "rate_limit_error"));
    return nullptr;
  } catch (const std::invalid_argument& e) {
    w.send(api_error(400, e.what(), "invalid_request_error"));
    return nullptr;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember: openai: %s: %s\n", creq.request_id.c_str(), e.what());
    w.send(api_error(500, "internal error", "server_error"));
    return nullptr;
  }
  if (!stream) w.send(api_error(500, "internal error", "server_error"));
  return stream;
}

void OpenAIHandler::models(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  std::vector<std::string> names = service_.served_model_names();
  if (names.empty()) names.push_back(service_.model_name());
  w.send(json_ok(models_body(names, created_, service_.max_model_len())));
}

void OpenAIHandler::chat_completions(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  const auto start = Clock::now();
  ChatRequest cr;
  std::string model;
  try {
    cr = decode_chat_request(req.body, DecodeLimits{opts_.default_max_tokens, service_.max_logprobs()});
    model = reply_model(cr.model);
  } catch (const RequestError& e) {
    w.send(request_error(e));
    return;
  }
  CompletionRequest& creq = cr.completion;
  const std::string id = next_id("chatcmpl");
  creq.request_id = id;
  const auto hard = set_deadline(req, start, creq);
  std::shared_ptr<CompletionStream> stream = start_stream(creq, w);
  if (!stream) return;
  const long long created = unix_now();
  const bool logprobs = cr.top_logprobs >= 0;
  metrics::RequestTiming timing(metrics_, "openai", start);
  auto token_logprobs = [&](const GeneratedToken& t) {
    std::string lp;
    append_chat_logprobs(lp, {t}, cr.top_logprobs, cr.return_tokens_as_token_ids);
    return lp;
  };

  if (creq.stream) {
    http::HeaderList hdrs = {{"Content-Type", "text/event-stream"},
                             {"Cache-Control", "no-cache"}};
    if (!w.begin_stream(200, hdrs)) {
      stream->cancel();
      return;
    }
    bool ok = w.write_chunk(chunk_event(id, created, model, "", true, FinishReason::kNone));
    // Text that came without a token of its own (held back, then flushed at the end) rides on
    // the next token's chunk or the finishing one, so that every chunk with logprobs is one
    // generated token: validators count chunks as tokens.
    std::string carry;
    auto res = http::pump_pieces(stream, w, hard, [&](std::string_view t, const CompletionPiece& p) {
      timing.on_piece(p);
      if (!logprobs || p.tokens.empty()) {
        if (logprobs) carry.append(t);
        else if (!t.empty()) ok = ok && w.write_chunk(chunk_event(id, created, model, t, false, FinishReason::kNone));
        return ok;
      }
      carry.append(t);
      for (size_t i = 0; i < p.tokens.size() && ok; ++i) {
        // A piece holds one token when logprobs are asked for; its text goes with the last.
        const bool last = i + 1 == p.tokens.size();
        ok = w.write_chunk(chunk_event(id, created, model, last ? std::string_view(carry) : "", false,
                                       FinishReason::kNone, token_logprobs(p.tokens[i])));
      }
      carry.clear();
      return ok;
    });
    if (res.finish == FinishReason::kError) {
      // The status line is gone: report the failure in-band, as OpenAI does for stream errors.
      w.write_chunk("data: " + error_body(res.error, "server_error", {}) + "\n\n");
    } else {
      w.write_chunk(chunk_event(id, created, model, carry, false,
                                res.finish == FinishReason::kNone ? FinishReason::kStop
                                                                  : res.finish));
      if (cr.include_usage) w.write_chunk(usage_event(id, created, model, res.usage));
    }
    w.write_chunk(kDoneEvent);
    w.end_stream();
    timing.finish();
    if (metrics_)
      metrics_->observe_completion("openai", res.usage.completion_tokens,
                                   finish_reason_name(res.finish));
    return;
  }

  std::string text;
  std::vector<GeneratedToken> tokens;
  auto res = http::pump_pieces(stream, w, hard, [&](std::string_view t, const CompletionPiece& p) {
    timing.on_piece(p);
    text.append(t);
    if (logprobs) tokens.insert(tokens.end(), p.tokens.begin(), p.tokens.end());
    return true;
  });
  timing.finish();
  if (metrics_)
    metrics_->observe_completion("openai", res.usage.completion_tokens,
                                 finish_reason_name(res.finish));
  if (res.client_gone) return;
  if (res.finish == FinishReason::kError) {
    w.send(api_error(500, res.error.empty() ? "generation failed" : res.error, "server_error"));
    return;
  }
  std::string lp;
  if (logprobs) append_chat_logprobs(lp, tokens, cr.top_logprobs, cr.return_tokens_as_token_ids);
  w.send(json_ok(completion_body(id, created, model, text, res.finish, res.usage, lp)));
}

}  // namespace ember::net::openai
