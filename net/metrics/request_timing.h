#pragma once
// Per-request latencies a handler observes as the pieces of a reply arrive: the inter-token gaps
// and the end-to-end time (vLLM's inter-token and e2e histograms). TTFT is the engine's own.
#include <chrono>
#include <string>

#include "net/completion_service.h"
#include "net/metrics/server_metrics.h"

namespace ember::net::metrics {

class RequestTiming {
 public:
  using Clock = std::chrono::steady_clock;
  // `metrics` may be null (then nothing is observed).
  RequestTiming(ServerMetrics* metrics, std::string api, Clock::time_point start)
      : metrics_(metrics), api_(std::move(api)), start_(start) {}

  // After each piece: the tokens it added since the last one share the gap.
  void on_piece(const CompletionPiece& p) {
    const int64_t tokens = p.usage.completion_tokens;
    if (!metrics_ || tokens <= seen_) return;
    const auto now = Clock::now();
    // The first token's wait is TTFT, not a gap; tokens that came with it have no gap either.
    if (seen_ > 0) metrics_->observe_inter_token(api_, std::chrono::duration<double>(now - last_).count(), tokens - seen_);
    seen_ = tokens;
    last_ = now;
  }
  void finish() {
    if (metrics_) metrics_->observe_e2e(api_, std::chrono::duration<double>(Clock::now() - start_).count());
  }

 private:
  ServerMetrics* metrics_;
  std::string api_;
  Clock::time_point start_, last_;
  int64_t seen_ = 0;
};

}  // namespace ember::net::metrics
