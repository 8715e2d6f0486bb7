#pragma once
// The OpenAI-compatible endpoints, as vLLM's OpenAI server answers them: POST
// /v1/chat/completions and /v1/completions (whole or streamed as server-sent events, with
// logprobs), GET /v1/models, vLLM's POST /tokenize and /detokenize, and GET /version.
#include <chrono>
#include <memory>
#include <string>

#include "net/completion_service.h"
#include "net/http/router.h"
#include "net/metrics/server_metrics.h"
#include "net/openai/access_verdict.h"

namespace ember::net::openai {

struct OpenAIOptions {
  std::string api_key;              // "" -> no Authorization check
  // When set, decides every /v1 request instead of api_key (net/openai/v1_access.h).
  Authorizer authorize;
  int default_max_tokens = 512;
  // 0: no deadline; else each request must finish within this many seconds.
  double request_timeout_s = 0;
  // A request whose `model` is none of the service's served names gets vLLM's 404, unless this
  // is set (then any name is answered by the one model).
  bool accept_any_model = false;
  // A caller's X-Client-Timeout (seconds) is its deadline, as a synapse's timeout is the axon's:
  // the reply is complete this long before it (at most a quarter of the timeout).
  double deadline_margin_s = 0;
};

// The /v1 access rule, shared by every /v1 handler: `opts.authorize` when set (Epistula, API
// key, both or open; refusals counted in /metrics), else the Bearer key when one is configured.
// Answers the refusal itself and returns false.
bool admit_v1_request(const OpenAIOptions& opts, metrics::ServerMetrics* metrics,
                      const http::HttpRequest& req, http::ResponseWriter& w);

class OpenAIHandler {
 public:
  OpenAIHandler(OpenAIOptions opts, CompletionService& service, metrics::ServerMetrics* metrics);
  void register_routes(http::Router& router);
  void chat_completions(http::HttpRequest& req, http::ResponseWriter& w);
  void models(http::HttpRequest& req, http::ResponseWriter& w);
  void completions(http::HttpRequest& req, http::ResponseWriter& w);
  void tokenize(http::HttpRequest& req, http::ResponseWriter& w);
  void detokenize(http::HttpRequest& req, http::ResponseWriter& w);

 private:
  bool authorized(const http::HttpRequest& req, http::ResponseWriter& w);
  using Clock = std::chrono::steady_clock;
  // The name replies carry: the requested one when served, else the first served name. Throws
  // RequestError (404) for a name not served, unless accept_any_model.
  std::string reply_model(const std::string& requested) const;
  // Sets creq.deadline from the caller's X-Client-Timeout and the server's own timeout; returns
  // the hard deadline past which the handler stops waiting.
  Clock::time_point set_deadline(const http::HttpRequest& req, Clock::time_point start,
                                 CompletionRequest& creq) const;
  // Starts generation; on failure answers the client itself and returns null.
  std::shared_ptr<CompletionStream> start_stream(const CompletionRequest& creq,
                                                 http::ResponseWriter& w);

  OpenAIOptions opts_;
  CompletionService& service_;
  metrics::ServerMetrics* metrics_;
  long long created_;   // when this server started, for /v1/models
};

}  // namespace ember::net::openai
