#pragma once
// The seam between net/ and the engine. The HTTP front ends (axon, OpenAI API) decode a request
// into a CompletionRequest and pull text from a CompletionStream; the engine side (an adapter
// around engine/serve's Engine) implements CompletionService. net/ never sees tensors; token ids
// cross the seam only as plain integers (vLLM's /tokenize, prompts given as ids, logprobs).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember::net {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", ...
  std::string content;
};

struct CompletionRequest {
  std::vector<ChatMessage> messages;
  // A raw prompt (the completions API): no chat template. Ids win over text when both are set;
  // either one set means `messages` is ignored.
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_ids;
  int max_tokens = 0;                 // 0: the service's default
  // Sampling: unset fields take the service's defaults (the miner's own sampling flags).
  std::optional<float> temperature;   // 0: greedy
  std::optional<float> top_p;
  std::optional<int> top_k;           // 0 or -1: off (vLLM's -1)
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<float> presence_penalty;
  std::optional<float> frequency_penalty;
  std::map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;      // stop strings (not included in the output unless below)
  bool include_stop_str_in_output = false;
  std::vector<int32_t> stop_token_ids;
  int min_tokens = 0;                 // stop tokens and strings are not honoured before this many
  bool ignore_eos = false;
  bool skip_special_tokens = true;    // in the returned text
  // -1: no logprobs. 0..N: with every generated token, its log-probability and the N most likely
  // alternatives (the service refuses N above its maximum with std::invalid_argument). Streams
  // then yield exactly one token per piece.
  int logprobs = -1;
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

// A token as a logprobs entry shows it: `token` is the id decoded alone, as vLLM's entries hold
// it (bytes that are not valid UTF-8 on their own become U+FFFD, as the Hugging Face decoder
// writes them); `logprob` is natural-log probability in fp32.
struct TokenLogprob {
  int32_t id = 0;
  std::string token;
  float logprob = 0;
};

struct GeneratedToken {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;  // most likely first; ties by ascending id
};

// What one call of CompletionStream::next yields: new text (possibly empty), and when `done`
// the reason the generation ended. After a piece with done=true, next() is not called again.
// With logprobs requested, a piece that is not `done` carries exactly one token in `tokens`
// (its text may be empty: part of a character, or held back as a possible stop string).
struct CompletionPiece {
  std::string text;
  std::vector<GeneratedToken> tokens;  // only with CompletionRequest::logprobs >= 0
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
  // Every name a request's `model` may use (--served-model-name); the first is model_name().
  virtual std::vector<std::string> served_model_names() const { return {model_name()}; }
  virtual EngineStats stats() const { return {}; }

  // The model's tokenizer, for vLLM's /tokenize and /detokenize and raw prompts. `add_special`
  // adds the tokenizer's BOS as the model's own post-processor does. Throw std::invalid_argument
  // on bad input (ids out of range); std::logic_error when the service has no tokenizer.
  virtual std::vector<int32_t> tokenize(const std::string& text, bool add_special) const {
    throw std::logic_error("this service has no tokenizer");
  }
  // The conversation rendered with the chat template (with the assistant turn's prefix) and
  // tokenized, exactly as a chat request's prompt.
  virtual std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages) const {
    throw std::logic_error("this service has no tokenizer");
  }
  virtual std::string detokenize(const std::vector<int32_t>& ids) const {
    throw std::logic_error("this service has no tokenizer");
  }
  // Prompt + completion tokens one sequence may hold (vLLM's max_model_len).
  virtual int max_model_len() const { return 0; }
  // The most top alternatives a request may ask for (--max-logprobs).
  virtual int max_logprobs() const { return 20; }
};

}  // namespace ember::net
