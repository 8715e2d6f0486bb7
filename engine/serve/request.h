#pragma once
// The Engine API types: what a caller submits and what its handle streams back.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/sample/sampling_params.h"
#include "engine/sample/token_logprobs.h"

namespace ember {

using Clock = std::chrono::steady_clock;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatRequest {
  // The prompt: token ids when non-empty, else `messages` rendered with the model's chat template
  // and tokenized (needs an engine with a text codec).
  std::vector<int32_t> prompt_ids;
  std::vector<ChatMessage> messages;
  SamplingParams sampling;
  // When set, the request returns what it has (reason Deadline) before this instant, keeping
  // the engine's margin and an estimate of one step's time in hand.
  std::optional<Clock::time_point> deadline;
  // Admission order: among waiting requests, a higher priority starts first (arrival breaks
  // ties). The axon sets it to the caller's stake when a metagraph is loaded.
  double priority = 0;
};

enum class FinishReason { Stop, Length, Deadline, Cancelled, Error };
std::string_view finish_reason_name(FinishReason r);  // "stop", "length", ...

// One increment of one completion. The last event of a completion carries `finish`.
struct StreamEvent {
  int index = 0;                 // which completion (0 .. n-1)
  std::vector<int32_t> tokens;   // new token ids (stop tokens are not included)
  // One entry per token of `tokens` when the request asked for logprobs, else empty.
  std::vector<TokenLogprobs> logprobs;
  std::string text;              // new text; empty when the engine has no text codec
  std::optional<FinishReason> finish;
  std::string error;             // with FinishReason::Error
  Clock::time_point time;        // when the scheduler produced it
};

struct Completion {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprobs> logprobs;  // one per token when the request asked for logprobs
  std::string text;
  FinishReason reason = FinishReason::Error;
  std::string error;
};

struct RequestResult {
  std::vector<Completion> completions;
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;  // prompt tokens found in the prefix cache (first admission)
};

class RequestStream;  // shared between the handle and the scheduler

// Returned by Engine::submit. Thread-safe; may outlive the engine (it then ends with the
// reason the engine gave on shutdown).
class RequestHandle {
 public:
  RequestHandle() = default;
  explicit RequestHandle(std::shared_ptr<RequestStream> s) : s_(std::move(s)) {}
  uint64_t id() const;
  // Blocks until the next event; nullopt once every completion has finished and been read.
  std::optional<StreamEvent> next();
  // As next(), but gives up after `timeout` (then returns nullopt with done() false).
  std::optional<StreamEvent> next_for(std::chrono::milliseconds timeout);
  bool done() const;
  // Reads every remaining event and assembles the completions.
  RequestResult wait();
  // Ends every completion with reason Cancelled; its KV blocks are freed at the scheduler's
  // next iteration (before the next model step).
  void cancel();
  int prompt_tokens() const;

 private:
  std::shared_ptr<RequestStream> s_;
  RequestResult partial_;  // what next() has handed out, for wait() after some next() calls
  void accumulate(const StreamEvent& e);
};

}  // namespace ember
