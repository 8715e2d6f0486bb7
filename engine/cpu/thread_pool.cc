#include "engine/cpu/thread_pool.h"

#include <algorithm>

namespace ember {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

namespace {
// About 50 us: the gap between two regions of one forward pass, not the gap between steps.
constexpr int kSpins = 2000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::take_tasks() {
  for (;;) {
    const int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_tasks_ || failed_.load(std::memory_order_relaxed)) return;
    try {
      (*fn_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
      failed_ = true;
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    // The region's fields are written before generation_ is released (run()), so seeing the
    // new generation with acquire makes them visible here.
    bool started = false;
    for (int i = 0; i < kSpins; ++i) {
      if (stop_.load(std::memory_order_relaxed)) return;
      if (generation_.load(std::memory_order_acquire) != seen) {
        started = true;
        break;
      }
      cpu_relax();
    }
    if (!started) {
      std::unique_lock<std::mutex> lk(mu_);
      ++sleeping_;
      wake_.wait(lk, [&] { return stop_ || generation_.load() != seen; });
      --sleeping_;
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    take_tasks();
    if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(mu_);  // the caller checks busy_ under mu_ before sleeping
      done_.notify_one();
    }
  }
}

void ThreadPool::run(int64_t n_tasks, const std::function<void(int64_t)>& fn) {
  if (n_tasks <= 0) return;
  if (workers_.empty() || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; ++i) fn(i);
    return;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = &fn;
    n_tasks_ = n_tasks;
    next_ = 0;
    failed_ = false;
    error_ = nullptr;
    busy_.store(int(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleeping_ > 0;
  }
  if (wake) wake_.notify_all();
  take_tasks();
  for (int i = 0; i < kSpins && busy_.load(std::memory_order_acquire) > 0; ++i) cpu_relax();
  std::exception_ptr err;
  {
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return busy_.load(std::memory_order_acquire) == 0; });
    fn_ = nullptr;
    err = error_;
    error_ = nullptr;
  }
  if (err) std::rethrow_exception(err);
}

}  // namespace ember
