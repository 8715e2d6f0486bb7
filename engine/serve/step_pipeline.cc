#include "engine/serve/step_pipeline.h"

#include <chrono>
#include <exception>

#include "engine/core/error.h"

namespace ember {

StepPipeline::StepPipeline(ModelRunner& runner, bool async,
                           std::function<Clock::time_point()> now)
    : runner_(runner), async_(async), now_(std::move(now)) {
  if (async_) thread_ = std::thread([this] { worker(); });
}

StepPipeline::~StepPipeline() {
  if (!async_) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StepPipeline::run(Job& j) {
  const auto t0 = now_();
  j.out->error.clear();
  try {
    runner_.run(*j.plan, j.out->rows);
    if (j.out->rows.size() != j.plan->rows.size())
      fail("model runner returned {} draws for {} rows", j.out->rows.size(), j.plan->rows.size());
  } catch (const std::exception& e) {
    j.out->rows.clear();
    j.out->error = e.what();
  }
  j.out->seconds = std::chrono::duration<double>(now_() - t0).count();
}

void StepPipeline::submit(StepPlan* plan, StepOutcome* out) {
  if (!async_) {
    queue_.push_back(Job{plan, out});
    run(queue_.back());
    queue_.back().done = true;
    return;
  }
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Job{plan, out});
  }
  cv_.notify_all();
}

StepOutcome* StepPipeline::collect() {
  if (queue_.empty()) fail("step pipeline: collect() with no step in flight");
  if (!async_) {
    StepOutcome* out = queue_.front().out;
    queue_.pop_front();
    return out;
  }
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.front().done; });
  StepOutcome* out = queue_.front().out;
  queue_.pop_front();
  return out;
}

void StepPipeline::worker() {
  std::unique_lock lock(mu_);
  for (;;) {
    Job* next = nullptr;
    cv_.wait(lock, [&] {
      for (auto& j : queue_)
        if (!j.done) {
          next = &j;
          return true;
        }
      return stop_;
    });
    if (!next) return;
    // Deque elements stay put while others are pushed at the back, and the scheduler pops only
    // jobs marked done, so `next` survives the unlocked run.
    lock.unlock();
    run(*next);
    lock.lock();
    next->done = true;
    cv_.notify_all();
  }
}

}  // namespace ember
