#pragma once
// The seam between net/ and the engine. The HTTP front ends (axon, OpenAI API) decode a request
// into a CompletionRequest and pull text from a CompletionStream; the engine side (an adapter
// around engine/serve's Engine) implements CompletionService. net/ never sees tensors or tokens.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ember::net {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", ...
  std::string content;
};

struct CompletionRequest {
  std::vector<ChatMessage> messages;
  int max_tokens = 0;                 // 0: the service's default
  std::optional<float> temperature;   // unset: the service's default
  std::optional<float> top_p;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;      // stop strings (not included in the output)
  // The answer is worth nothing after this: the service should finish with kDeadline by then
  // (validators score a reply cut short, never a late one).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool stream = false;                // the client reads text as it is generated
  std::string request_id;             // for logs; unique per server
  double priority = 0;                // higher starts first when requests wait (caller's stake)
};

enum class FinishReason { kNone, kStop, kLength, kDeadline, kCancelled, kError };

// OpenAI's words for the reasons; a deadline cut is "length" to OpenAI clients.
inline const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kDeadline: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

struct CompletionUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// What one call of CompletionStream::next yields: new text (possibly empty), and when `done`
// the reason the generation ended. After a piece with done=true, next() is not called again.
struct CompletionPiece {
  std::string text;
  bool done = false;
  FinishReason finish = FinishReason::kNone;
  CompletionUsage usage;   // totals so far; final when done
  std::string error;       // when finish == kError: why (shown to the client as-is)
};

class CompletionStream {
 public:
  virtual ~CompletionStream() = default;
  // Blocks until new text or the end is available, or until `until`. Returns false on timeout
  // (out untouched); the caller may then check its own state and call again.
  virtual bool next(CompletionPiece& out, std::chrono::steady_clock::time_point until) = 0;
  // Stops generation soon (client gone, server shutting down). Thread-safe, idempotent; the
  // stream then ends with FinishReason::kCancelled (or whatever it had already reached).
  virtual void cancel() = 0;
};

// Point-in-time numbers of the engine for /metrics. Histograms are cumulative since start.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;    // ascending, +Inf implied after the last
  std::vector<uint64_t> bucket_counts; // per bucket (not cumulative), size upper_bounds+1
  double sum = 0;
  uint64_t count = 0;
};

struct EngineStats {
  int64_t queue_depth = 0;          // requests waiting for admission
  int64_t running = 0;              // sequences being generated
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  uint64_t prompt_tokens_total = 0;     // prefilled since start
  uint64_t generated_tokens_total = 0;  // decoded since start
  uint64_t preemptions_total = 0;
  HistogramSnapshot step_seconds;       // one engine step (a batch forward + sample)
  HistogramSnapshot time_to_first_token_seconds;
};

// Thrown by start() when the service cannot take the request now (queue full): the axon answers
// 503, the OpenAI API 429. Any other exception from start() is a 500.
struct ServiceBusy {
  std::string message;
};

class CompletionService {
 public:
  virtual ~CompletionService() = default;
  // Starts generating. Must not block on generation itself. Throws ServiceBusy when full,
  // std::invalid_argument for a request the model cannot serve (-> 400 with its message).
  virtual std::unique_ptr<CompletionStream> start(const CompletionRequest& req) = 0;
  // The model name shown by GET /v1/models and echoed in OpenAI responses.
  virtual std::string model_name() const = 0;
  virtual EngineStats stats() const { return {}; }
};

}  // namespace ember::net
