#pragma once
// The OpenAI-compatible endpoints for ordinary clients: POST /v1/chat/completions (whole or
// streamed as server-sent events) and GET /v1/models.
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
};

class OpenAIHandler {
 public:
  OpenAIHandler(OpenAIOptions opts, CompletionService& service, metrics::ServerMetrics* metrics);
  void register_routes(http::Router& router);
  void chat_completions(http::HttpRequest& req, http::ResponseWriter& w);
  void models(http::HttpRequest& req, http::ResponseWriter& w);

 private:
  bool authorized(const http::HttpRequest& req, http::ResponseWriter& w);

  OpenAIOptions opts_;
  CompletionService& service_;
  metrics::ServerMetrics* metrics_;
  long long created_;   // when this server started, for /v1/models
};

}  // namespace ember::net::openai
