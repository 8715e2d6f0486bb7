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
  std::function<EngineStats()> engine_stats_;
  std::function<double()> connections_, in_flight_;
};

}  // namespace ember::net::metrics
