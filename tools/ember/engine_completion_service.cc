#include "tools/ember/engine_completion_service.h"

#include <algorithm>
#include <stdexcept>

#include "engine/core/error.h"

namespace ember::cli {

namespace {

using Clock = std::chrono::steady_clock;

net::FinishReason to_net(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return net::FinishReason::kStop;
    case FinishReason::Length: return net::FinishReason::kLength;
    case FinishReason::Deadline: return net::FinishReason::kDeadline;
    case FinishReason::Cancelled: return net::FinishReason::kCancelled;
    case FinishReason::Error: return net::FinishReason::kError;
  }
  return net::FinishReason::kError;
}

class EngineStream : public net::CompletionStream {
 public:
  EngineStream(RequestHandle h, EngineCompletionService& svc)
      : h_(std::move(h)), svc_(svc), started_(Clock::now()) {}

  bool next(net::CompletionPiece& out, Clock::time_point until) override {
    for (;;) {
      const auto now = Clock::now();
      // Waits in slices of at most a second, so a far-away `until` cannot overflow.
      const auto left = until <= now ? std::chrono::milliseconds(0)
                                     : std::min<std::chrono::milliseconds>(
                                           std::chrono::duration_cast<std::chrono::milliseconds>(until - now),
                                           std::chrono::milliseconds(1000));
      std::optional<StreamEvent> e = h_.next_for(left);
      if (!e) {
        if (h_.done()) {  // every event was read but none carried the finish: treat as cancelled
          out = piece("", net::FinishReason::kCancelled, "");
          return true;
        }
        if (Clock::now() >= until) return false;
        continue;
      }
      completion_tokens_ += static_cast<int64_t>(e->tokens.size());
      if (!first_seen_ && !e->tokens.empty()) {
        first_seen_ = true;
        svc_.record_ttft(std::chrono::duration<double>(e->time - started_).count());
      }
      if (e->finish) {
        out = piece(std::move(e->text), to_net(*e->finish), e->error);
        return true;
      }
      if (e->text.empty() && Clock::now() < until) continue;  // tokens still mid-character
      out = piece(std::move(e->text), net::FinishReason::kNone, "");
      return true;
    }
  }

  void cancel() override { h_.cancel(); }

 private:
  net::CompletionPiece piece(std::string text, net::FinishReason finish, std::string error) {
    net::CompletionPiece p;
    p.text = std::move(text);
    p.done = finish != net::FinishReason::kNone;
    p.finish = finish;
    p.error = std::move(error);
    p.usage.prompt_tokens = h_.prompt_tokens();
    p.usage.completion_tokens = completion_tokens_;
    return p;
  }

  RequestHandle h_;
  EngineCompletionService& svc_;
  Clock::time_point started_;
  bool first_seen_ = false;
  int64_t completion_tokens_ = 0;
};

const std::vector<double> kTtftBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

}  // namespace

EngineCompletionService::EngineCompletionService(Engine& engine, CompletionServiceOptions opts)
    : engine_(engine), opts_(std::move(opts)) {
  ttft_.upper_bounds = kTtftBounds;
  ttft_.bucket_counts.assign(kTtftBounds.size() + 1, 0);
}

std::unique_ptr<net::CompletionStream> EngineCompletionService::start(const net::CompletionRequest& req) {
  ChatRequest cr;
  cr.messages.reserve(req.messages.size());
  for (const auto& m : req.messages) cr.messages.push_back({m.role, m.content});
  SamplingParams& sp = cr.sampling;
  sp = opts_.defaults;
  sp.max_tokens = req.max_tokens > 0 ? req.max_tokens : opts_.default_max_tokens;
  if (req.temperature) sp.temperature = *req.temperature;
  if (req.top_p) sp.top_p = *req.top_p;
  sp.seed = req.seed;
  sp.stop = req.stop;
  if (req.deadline != Clock::time_point::max()) cr.deadline = req.deadline;
  cr.priority = req.priority;
  try {
    validate(sp, engine_.runner().vocab_size());
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
  return std::make_unique<EngineStream>(engine_.submit(std::move(cr)), *this);
}

void EngineCompletionService::record_ttft(double seconds) {
  std::lock_guard lk(mu_);
  const size_t i = static_cast<size_t>(
      std::lower_bound(ttft_.upper_bounds.begin(), ttft_.upper_bounds.end(), seconds) - ttft_.upper_bounds.begin());
  ++ttft_.bucket_counts[i];
  ttft_.sum += seconds;
  ++ttft_.count;
}

net::EngineStats EngineCompletionService::stats() const {
  const EngineStats s = engine_.stats();
  net::EngineStats o;
  o.queue_depth = s.waiting;
  o.running = s.running;
  o.kv_blocks_used = s.kv_blocks_in_use;
  o.kv_blocks_total = s.kv_blocks_total;
  o.prompt_tokens_total = static_cast<uint64_t>(s.prompt_tokens_computed);
  o.generated_tokens_total = static_cast<uint64_t>(s.generated_tokens);
  o.preemptions_total = static_cast<uint64_t>(s.preemptions);
  o.step_seconds.upper_bounds.assign(s.kStepTimeBounds.begin(), s.kStepTimeBounds.end());
  o.step_seconds.bucket_counts.assign(s.step_time_buckets.begin(), s.step_time_buckets.end());
  o.step_seconds.sum = s.step_time_sum_s;
  for (int64_t c : s.step_time_buckets) o.step_seconds.count += uint64_t(c);
  std::lock_guard lk(mu_);
  o.time_to_first_token_seconds = ttft_;
  return o;
}

}  // namespace ember::cli
