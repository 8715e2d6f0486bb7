#include "engine/dist/lockstep.h"

#include <utility>

#include "engine/core/error.h"

namespace ember {

Lockstep::Lockstep(int ranks, std::function<void(int)> init, std::function<void()> on_error)
    : init_(std::move(init)), on_error_(std::move(on_error)) {
  if (ranks < 1) fail("tensor parallel: {} ranks", ranks);
  threads_.reserve(size_t(ranks));
  for (int r = 0; r < ranks; ++r) threads_.emplace_back([this, r] { loop(r); });
}

Lockstep::~Lockstep() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Lockstep::run(const std::function<void(int)>& job) {
  std::unique_lock lk(m_);
  job_ = &job;
  first_error_ = nullptr;
  running_ = ranks();
  ++generation_;
  start_.notify_all();
  done_.wait(lk, [&] { return running_ == 0; });
  job_ = nullptr;
  if (first_error_) std::rethrow_exception(std::exchange(first_error_, nullptr));
}

void Lockstep::loop(int rank) {
  std::exception_ptr init_error;
  try {
    if (init_) init_(rank);
  } catch (...) {
    init_error = std::current_exception();  // every job of this rank fails with it
  }
  unsigned long long seen = 0;
  for (;;) {
    const std::function<void(int)>* job = nullptr;
    {
      std::unique_lock lk(m_);
      start_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    std::exception_ptr error = init_error;
    if (!error) {
      try {
        (*job)(rank);
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (error) {
      // Recorded before the others are told, whose errors ("another rank failed") follow it.
      {
        std::lock_guard lk(m_);
        if (!first_error_) first_error_ = error;
      }
      if (on_error_) on_error_();
    }
    std::lock_guard lk(m_);
    if (--running_ == 0) done_.notify_all();
  }
}

}  // namespace ember
