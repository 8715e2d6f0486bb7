#include "engine/serve/engine.h"

#include "engine/core/error.h"
#include "engine/sample/sampler.h"
#include "engine/serve/scheduler.h"

namespace ember {

// Shared with every handle, so a cancel after the engine is gone is harmless.
struct Engine::Signal {
  std::mutex mu;
  std::condition_variable cv;
  bool pending = false;
  void notify() {
    {
      std::lock_guard lock(mu);
      pending = true;
    }
    cv.notify_all();
  }
};

Engine::Engine(std::shared_ptr<ModelRunner> runner, EngineConfig cfg,
               std::shared_ptr<TextCodec> text)
    : runner_(std::move(runner)), cfg_(std::move(cfg)), text_(std::move(text)),
      sig_(std::make_shared<Signal>()) {
  if (!runner_) fail("engine: no model runner");
  sched_ = std::make_unique<Scheduler>(*runner_, cfg_, text_.get());
  stats_ = sched_->stats();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(sig_->mu);
    stop_ = true;
  }
  sig_->cv.notify_all();
  thread_.join();
}

RequestHandle Engine::submit(ChatRequest req) {
  const int n = req.sampling.n >= 1 && req.sampling.n <= 64 ? req.sampling.n : 1;
  uint64_t id;
  {
    std::lock_guard lock(sig_->mu);
    id = next_id_++;
  }
  auto stream = std::make_shared<RequestStream>(id, n, [sig = sig_] { sig->notify(); });
  try {
    validate(req.sampling, runner_->vocab_size());
    PreparedRequest p;
    p.stream = stream;
    if (!req.prompt_ids.empty()) {
      p.prompt = std::move(req.prompt_ids);
      for (int32_t t : p.prompt)
        if (t < 0 || t >= runner_->vocab_size())
          fail("prompt_ids: token id {} is out of range [0, {})", t, runner_->vocab_size());
    } else if (!req.messages.empty()) {
      if (!text_) fail("messages: this engine has no tokenizer/chat template; send prompt ids");
      p.prompt = text_->encode_chat(req.messages);
    } else {
      fail("prompt: the request has neither prompt ids nor messages");
    }
    if (p.prompt.empty()) fail("prompt: the prompt is empty after templating");
    if (!req.sampling.stop.empty() && !text_)
      fail("stop: stop strings need a tokenizer; this engine has none (use stop_token_ids)");
    if (int(p.prompt.size()) >= runner_->max_context())
      fail("prompt: {} tokens leave no room in the model's context of {}", p.prompt.size(),
           runner_->max_context());
    const int64_t capacity = int64_t(runner_->num_kv_blocks()) * runner_->kv_block_size();
    if (int64_t(p.prompt.size()) + 1 > capacity)
      fail("prompt: {} tokens do not fit in the KV cache ({} tokens); raise --kv-cache-gb",
           p.prompt.size(), capacity);
    p.sampling = std::move(req.sampling);
    p.seed = p.sampling.seed ? *p.sampling.seed : fresh_seed();
    p.deadline = req.deadline;
    p.priority = req.priority;
    stream->prompt_tokens = int(p.prompt.size());
    {
      std::lock_guard lock(sig_->mu);
      inbox_.push_back(std::move(p));
      sig_->pending = true;
    }
    sig_->cv.notify_all();
  } catch (const std::exception& e) {
    for (int i = 0; i < n; ++i) {
      StreamEvent ev;
      ev.index = i;
      ev.finish = FinishReason::Error;
      ev.error = e.what();
      ev.time = Clock::now();
      stream->push(std::move(ev));
    }
  }
  return RequestHandle(stream);
}

void Engine::loop() {
  for (;;) {
    std::vector<PreparedRequest> in;
    {
      std::unique_lock lock(sig_->mu);
      busy_ = sched_->has_work() || !inbox_.empty();
      if (!busy_) idle_cv_.notify_all();
      sig_->cv.wait(lock, [&] { return stop_ || sig_->pending || sched_->has_work(); });
      if (stop_) break;
      sig_->pending = false;
      in.swap(inbox_);
      busy_ = true;
    }
    try {
      for (auto& p : in) sched_->add(std::move(p));
      sched_->step();
    } catch (const std::exception& e) {
      // A defect in the serving loop must not hang clients: end everyone with the message.
      sched_->abort_all(FinishReason::Error, fmt::format("engine: {}", e.what()));
    }
    std::lock_guard lock(sig_->mu);
    stats_ = sched_->stats();
  }
  sched_->abort_all(FinishReason::Cancelled, "engine shut down");
  std::lock_guard lock(sig_->mu);
  stats_ = sched_->stats();
  busy_ = false;
  idle_cv_.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(sig_->mu);
  return stats_;
}

EngineStats Engine::wait_idle() {
  std::unique_lock lock(sig_->mu);
  idle_cv_.wait(lock, [&] { return stop_ || (!busy_ && inbox_.empty()); });
  return stats_;
}

}  // namespace ember
