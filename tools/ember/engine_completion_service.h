#pragma once
// The adapter between net/ and the engine: net::CompletionService over an ember::Engine.
// A CompletionRequest becomes a ChatRequest (messages, max_tokens, temperature/top_p/seed,
// stop strings, deadline); the stream pulls the engine's events for the HTTP handlers.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/serve/engine.h"
#include "engine/serve/sampling_params.h"
#include "net/completion_service.h"

namespace ember::cli {

struct CompletionServiceOptions {
  std::string model_name;
  int default_max_tokens = 512;  // when the request gives none
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
  net::EngineStats stats() const override;

  // Called by a stream when its first text arrives: seconds since start().
  void record_ttft(double seconds);

 private:
  Engine& engine_;
  CompletionServiceOptions opts_;
  mutable std::mutex mu_;
  net::HistogramSnapshot ttft_;  // guarded by mu_
};

}  // namespace ember::cli
