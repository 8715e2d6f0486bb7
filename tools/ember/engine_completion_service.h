#pragma once
// The adapter between net/ and the engine: net::CompletionService over an ember::Engine.
// A CompletionRequest becomes a ChatRequest (messages, max_tokens, temperature/top_p/seed,
// stop strings, deadline); the stream pulls the engine's events for the HTTP handlers.
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <vector>

#include "engine/serve/engine.h"
#include "engine/sample/sampling_params.h"
#include "net/completion_service.h"

namespace ember::cli {

struct CompletionServiceOptions {
  std::string model_name;
  // Every name a request's `model` may use (--served-model-name); empty: {model_name}.
  std::vector<std::string> served_model_names;
  int default_max_tokens = 512;  // when the request gives none
  // Top alternatives a request may ask for with each token (--max-logprobs), and which
  // distribution they describe (--logprobs-mode).
  int max_logprobs = 20;
  // Every request's top_k is at most this (0: no cap), so that each drawn token is among the
  // top logprobs a validator asks for (--top-k-cap).
  int top_k_cap = 0;
  SamplingParams::LogprobsMode logprobs_mode = SamplingParams::LogprobsMode::Raw;
  // Prompt + completion tokens of one request (--max-model-len); 0: the model's context.
  int max_model_len = 0;
  // The operator's sampling for every request; a request's own temperature, top_p, seed and
  // stop override it (validators send none, so this is how a miner shapes its replies).
  SamplingParams defaults;
};

class EngineCompletionService : public net::CompletionService {
 public:
  // `engine` must outlive the service and every stream it returns.
  EngineCompletionService(Engine& engine, CompletionServiceOptions opts);

  // Throws std::invalid_argument for out-of-range sampling values (the client sees a 400).
  std::unique_ptr<net::CompletionStream> start(const net::CompletionRequest& req) override;
  std::string model_name() const override { return opts_.model_name; }
  std::vector<std::string> served_model_names() const override {
    return opts_.served_model_names.empty() ? std::vector<std::string>{opts_.model_name}
                                            : opts_.served_model_names;
  }
  net::EngineStats stats() const override;
  std::vector<int32_t> tokenize(const std::string& text, bool add_special) const override;
  std::vector<int32_t> tokenize_chat(const std::vector<net::ChatMessage>& messages) const override;
  std::string detokenize(const std::vector<int32_t>& ids) const override;
  int max_model_len() const override;
  int max_logprobs() const override { return opts_.max_logprobs; }

  // A token's string in logprobs entries (the codec's token_text), cached: the same few
  // thousand ids recur in every reply's top lists.
  std::string token_text(int32_t id);

  // Called by a stream when its first text arrives: seconds since start().
  void record_ttft(double seconds);

 private:
  Engine& engine_;
  CompletionServiceOptions opts_;
  TextCodec& codec() const;
  SamplingParams sampling_for(const net::CompletionRequest& req) const;

  mutable std::mutex mu_;
  net::HistogramSnapshot ttft_;  // guarded by mu_
  std::mutex token_mu_;
  std::unordered_map<int32_t, std::string> token_text_;  // guarded by token_mu_
};

}  // namespace ember::cli
