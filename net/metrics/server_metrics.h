#pragma once
// The numbers GET /metrics shows: HTTP requests by route and status (every rejection included),
// request latency, completion tokens sent, and the engine's own numbers sampled at scrape time
// through a callback (queue depth, KV-cache use, step-time histograms).
#include <functional>
#include <string>
#include <string_view>

#include "net/completion_service.h"
#include "net/metrics/prometheus.h"

namespace ember::net::metrics {

class ServerMetrics {
 public:
  ServerMetrics();

  // route: the matched route, or "" for requests no route took (label "unmatched").
  void observe_request(std::string_view route, int status, double seconds);
  // api: "axon" or "openai"; reason: FinishReason name.
  void observe_completion(std::string_view api, int64_t completion_tokens,
                          std::string_view finish_reason);

  // A request refused before it reached the engine: protocol "epistula", "api_key" or "http"
  // (size limits); reason a short fixed label such as "stale".
  void observe_auth_rejection(std::string_view protocol, std::string_view reason);
  double auth_rejections(std::string_view protocol, std::string_view reason) const;

  // Measured where replies are written (api: "axon" or "openai"): the gap before each generated
  // token after a request's first (`tokens` arriving together share the gap), and each request
  // from arrival to its last byte.
  void observe_inter_token(std::string_view api, double seconds, int64_t tokens = 1);
  void observe_e2e(std::string_view api, double seconds);
  uint64_t e2e_count(std::string_view api) const;

  void set_engine_stats(std::function<EngineStats()> fn) { engine_stats_ = std::move(fn); }
  void set_connection_gauges(std::function<double()> connections, std::function<double()> requests) {
    connections_ = std::move(connections);
    in_flight_ = std::move(requests);
  }

  std::string render() const;

  double requests(std::string_view route, int status) const;

 private:
  CounterFamily requests_;
  HistogramFamily latency_;
  CounterFamily tokens_;
  CounterFamily completions_;
  HistogramFamily inter_token_;
  HistogramFamily e2e_;
  CounterFamily auth_rejections_;
  std::function<EngineStats()> engine_stats_;
  std::function<double()> connections_, in_flight_;
};

}  // namespace ember::net::metrics
