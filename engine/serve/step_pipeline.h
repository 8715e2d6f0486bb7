#pragma once
// Runs the scheduler's steps on the runner, in order. Synchronous: submit() runs the step
// before it returns. Asynchronous: a worker thread runs it while the scheduler builds the next
// one (the overlap of vLLM's async scheduling and SGLang's overlap scheduler); only the drawn
// ids and logprobs come back, through collect(). On a GPU the worker's time is the device's;
// on the CPU it is the forward pass itself.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/serve/model_runner.h"
#include "engine/serve/request.h"

namespace ember {

class StepPipeline {
 public:
  // `now` times each step (the engine's clock; tests give a simulated one). It is called on the
  // worker thread when async.
  StepPipeline(ModelRunner& runner, bool async, std::function<Clock::time_point()> now);
  ~StepPipeline();  // waits for the step in flight
  StepPipeline(const StepPipeline&) = delete;
  StepPipeline& operator=(const StepPipeline&) = delete;

  // Starts `plan`; `plan` and `out` belong to the pipeline until collect() hands `out` back.
  // A step that throws ends with out->error set and no rows.
  void submit(StepPlan* plan, StepOutcome* out);
  // Waits for the oldest step submitted and returns its outcome.
  StepOutcome* collect();
  int in_flight() const { return int(queue_.size()); }
  bool async() const { return async_; }

 private:
  struct Job {
    StepPlan* plan;
    StepOutcome* out;
    bool done = false;
  };
  void run(Job& j);
  void worker();

  ModelRunner& runner_;
  const bool async_;
  std::function<Clock::time_point()> now_;
  std::deque<Job> queue_;  // submission order; the worker runs the first not done
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ember
