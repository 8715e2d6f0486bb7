#pragma once
// The state one request shares between its handle (any thread) and the scheduler thread: an
// event queue and the cancel flag. Internal to engine/serve.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "engine/serve/request.h"

namespace ember {

class RequestStream {
 public:
  RequestStream(uint64_t id, int n, std::function<void()> wake_scheduler)
      : id_(id), open_(n), wake_(std::move(wake_scheduler)) {}

  uint64_t id() const { return id_; }
  void push(StreamEvent e) {
    {
      std::lock_guard lock(mu_);
      if (e.finish) --open_;
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }
  // nullopt when closed and drained, or on timeout.
  std::optional<StreamEvent> pop(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock lock(mu_);
    auto ready = [&] { return !events_.empty() || open_ == 0; };
    if (timeout) {
      if (!cv_.wait_for(lock, *timeout, ready)) return std::nullopt;
    } else {
      cv_.wait(lock, ready);
    }
    if (events_.empty()) return std::nullopt;
    StreamEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  // The next event if one is queued, without waiting (no system call when there is none).
  std::optional<StreamEvent> try_pop() {
    std::lock_guard lock(mu_);
    if (events_.empty()) return std::nullopt;
    StreamEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  bool drained() const {
    std::lock_guard lock(mu_);
    return open_ == 0 && events_.empty();
  }
  void request_cancel() {
    cancel_.store(true);
    if (wake_) wake_();
  }
  bool cancel_requested() const { return cancel_.load(); }

  std::atomic<int> prompt_tokens{0};
  std::atomic<int> cached_prompt_tokens{-1};  // set at the first admission

 private:
  uint64_t id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  int open_;  // completions not yet finished
  std::atomic<bool> cancel_{false};
  std::function<void()> wake_;
};

}  // namespace ember
