#pragma once
// The Engine: submit(ChatRequest) -> RequestHandle. One scheduler thread owns the batch and the
// KV cache; submit() and cancel (on the handle) are thread-safe and never block on a step.
// Request-level problems (bad parameters, a prompt that does not fit, a model error) end the
// handle with FinishReason::Error and a message; submit() itself does not throw for them.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/serve/engine_config.h"
#include "engine/serve/model_runner.h"
#include "engine/serve/request.h"
#include "engine/serve/text_codec.h"

namespace ember {

class Scheduler;
struct PreparedRequest;

class Engine {
 public:
  // `text` may be null: the engine then takes prompt ids only and streams ids without text.
  Engine(std::shared_ptr<ModelRunner> runner, EngineConfig cfg = {},
         std::shared_ptr<TextCodec> text = nullptr);
  ~Engine();  // outstanding requests end with reason Cancelled ("engine shut down")
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  RequestHandle submit(ChatRequest req);
  // Counters as of the end of the last step.
  EngineStats stats() const;
  // Blocks until every submitted request has finished; returns the stats then.
  EngineStats wait_idle();

  ModelRunner& runner() { return *runner_; }
  TextCodec* text() { return text_.get(); }

 private:
  struct Signal;
  void loop();

  std::shared_ptr<ModelRunner> runner_;
  EngineConfig cfg_;
  std::shared_ptr<TextCodec> text_;
  std::unique_ptr<Scheduler> sched_;
  std::shared_ptr<Signal> sig_;
  std::vector<PreparedRequest> inbox_;  // guarded by sig_->mu
  bool stop_ = false;                   // guarded by sig_->mu
  bool busy_ = false;                   // guarded by sig_->mu: the scheduler has work
  EngineStats stats_;                   // guarded by sig_->mu
  std::condition_variable idle_cv_;
  uint64_t next_id_ = 1;                // guarded by sig_->mu
  std::thread thread_;
};

}  // namespace ember
