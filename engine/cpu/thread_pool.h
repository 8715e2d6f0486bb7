#pragma once
// A fixed set of worker threads that run the tasks of one parallel region at a time. The calling
// thread takes tasks too, so a pool of size 1 has no workers and runs everything inline.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ember {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads <= 0: one per hardware thread
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Runs fn(task) for every task in [0, n_tasks) across the pool and returns when all are done.
  // The first exception thrown by a task is rethrown here (remaining tasks are skipped).
  // Not reentrant: a task must not call run() on the same pool.
  void run(int64_t n_tasks, const std::function<void(int64_t)>& fn);

 private:
  void worker_loop();
  void take_tasks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  // A forward pass is ~100 regions a few microseconds apart; waking a sleeping thread costs
  // ~17 us on a VM. So workers spin briefly for the next region and the caller for the end of
  // this one, and only then sleep on the condition variables.
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};  // workers still inside the current region
  int sleeping_ = 0;          // workers waiting on wake_ (under mu_)

  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

}  // namespace ember
