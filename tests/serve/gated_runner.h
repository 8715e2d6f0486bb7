#pragma once
// A ModelRunner decorator whose steps wait until the test opens the gate. The engine's thread
// starts stepping as soon as the first request is submitted, so without it a test that needs
// every request queued at once (to force preemption, say) depends on how fast the submitting
// thread runs; on a loaded CI machine the early requests can finish before the late ones arrive.
#include <condition_variable>
#include <memory>
#include <mutex>

#include "engine/serve/model_runner.h"

namespace ember::test {

class GatedRunner : public ModelRunner {
 public:
  explicit GatedRunner(std::shared_ptr<ModelRunner> inner) : inner_(std::move(inner)) {}

  void open() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

  std::string name() const override { return inner_->name(); }
  int vocab_size() const override { return inner_->vocab_size(); }
  int max_context() const override { return inner_->max_context(); }
  std::vector<int32_t> eos_token_ids() const override { return inner_->eos_token_ids(); }
  int num_kv_blocks() const override { return inner_->num_kv_blocks(); }
  int kv_block_size() const override { return inner_->kv_block_size(); }
  void copy_blocks(std::span<const BlockCopy> copies) override {
    wait_open();
    inner_->copy_blocks(copies);
  }
  void forward(const StepInput& step, std::vector<float>& logits) override {
    wait_open();
    inner_->forward(step, logits);
  }

 private:
  void wait_open() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return open_; });
  }

  std::shared_ptr<ModelRunner> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace ember::test
