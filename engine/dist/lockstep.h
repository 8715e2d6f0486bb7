#pragma once
// One thread per tensor-parallel rank, kept for the life of the runner: run() hands every rank
// the same job and returns when all have finished it. A rank that throws calls `on_error` at
// once (the communicator's abort, so that ranks waiting in a collective fail instead of
// waiting for it); run() then rethrows the first failure, after every rank has stopped.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ember {

class Lockstep {
 public:
  // `init(rank)` runs first on each rank's thread (e.g. binding it to the rank's GPU).
  Lockstep(int ranks, std::function<void(int)> init, std::function<void()> on_error);
  ~Lockstep();
  Lockstep(const Lockstep&) = delete;
  Lockstep& operator=(const Lockstep&) = delete;

  int ranks() const { return int(threads_.size()); }
  // Runs job(rank) on every rank's thread; one run at a time.
  void run(const std::function<void(int)>& job);

 private:
  void loop(int rank);
  std::function<void(int)> init_;
  std::function<void()> on_error_;
  std::mutex m_;
  std::condition_variable start_, done_;
  const std::function<void(int)>* job_ = nullptr;
  unsigned long long generation_ = 0;
  int running_ = 0;
  bool stop_ = false;
  std::exception_ptr first_error_;
  std::vector<std::thread> threads_;
};

}  // namespace ember
