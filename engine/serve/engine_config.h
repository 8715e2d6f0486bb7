#pragma once
// Settings of the serving core (scheduler and KV cache). Defaults suit a single GPU; the CLI
// maps its flags onto these.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>

#include "engine/serve/request.h"

namespace ember {

struct EngineConfig {
  int max_num_seqs = 256;          // sequences in one step
  int max_batched_tokens = 512;    // token budget of one step; long prompts are chunked to fit
  bool prefix_caching = true;
  // A request with a deadline is ended once now + margin + (estimated step time) passes it.
  std::chrono::milliseconds deadline_margin{50};
  double step_time_ema_alpha = 0.2;  // weight of the newest step in the moving average
  // Build step N+1 while the runner runs step N (a worker thread runs the steps; a decode's
  // input token is then the draw of the step before, read where the draws are). Tokens are the
  // same either way; off, every step finishes before the next is built.
  bool async_scheduling = false;
  // Where "now" comes from; tests substitute a simulated clock.
  std::function<Clock::time_point()> now = [] { return Clock::now(); };
};

struct EngineStats {
  int kv_blocks_total = 0;
  int kv_blocks_in_use = 0;
  int kv_blocks_peak = 0;
  int64_t prefix_queried_tokens = 0;
  int64_t prefix_hit_tokens = 0;
  int64_t preemptions = 0;
  int64_t steps = 0;
  int64_t prompt_tokens_computed = 0;  // prefill tokens actually run through the model
  int64_t generated_tokens = 0;
  int running = 0, waiting = 0;
  double step_time_ema_s = 0;
  // Distribution of step times (a batch forward + sample), for /metrics: counts per bucket of
  // kStepTimeBounds (seconds, upper bounds), the last bucket being everything slower.
  static constexpr std::array<double, 12> kStepTimeBounds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  std::array<int64_t, kStepTimeBounds.size() + 1> step_time_buckets{};
  double step_time_sum_s = 0;
};

}  // namespace ember
