#include "kernels/cuda_graph_accelerator.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <memory>
#include <utility>

#include "engine/core/error.h"

namespace ember {

namespace {

class CudaGraphAccelerator : public StepAccelerator {
 public:
  CudaGraphAccelerator(Transformer& model, CudaBackend& backend, KvCache& kv, CudaGraphOptions o)
      : model_(model), kv_(kv), graphs_(model, backend, kv, std::move(o)) {}

  bool accepts(const StepInput& step) const override {
    return !disabled_ && graphs_.accepts(step);
  }

  // A step the backend would reject throws here as it would eagerly (check_step: the replay
  // itself skips those checks). Any other failure (a capture the driver refuses) turns graphs
  // off for good and the step runs eagerly: a serving engine must not lose every decode step
  // to it. Rerunning is safe: the step rewrites the same K/V slots with the same values.
  // Waiting at once keeps forward() synchronous; overlapping the host's next step with the GPU
  // would need the scheduler to split launch and wait.
  void forward(const StepInput& step, std::vector<float>& logits) override {
    graphs_.check_step(step);
    try {
      settle();
      graphs_.decode(step, logits);
      return;
    } catch (const std::exception& e) {
      disabled_ = true;
      std::fprintf(stderr, "ember: warning: CUDA graphs off, decode steps run eagerly (%s)\n",
                   e.what());
    }
    model_.forward(step, kv_, logits);
  }

  // The sample op reads the graph's own logits buffer: nothing is copied to the host, and no
  // wait here. The op's copy of the ids back synchronises the stream after the graph, so by the
  // next step the graph is done; its wait() (which lets the next launch restage the pinned
  // inputs) is then taken lazily and returns at once. Row i of the buffer is sequence i, so only
  // steps whose logit rows are 0..n-1 (every decode step) take this path.
  bool forward_device(const StepInput& step, Tensor& logits) override {
    if (disabled_) return false;
    for (size_t i = 0; i < step.logit_rows.size(); ++i)
      if (step.logit_rows[i] != int32_t(i)) return false;
    graphs_.check_step(step);
    try {
      settle();
      graphs_.launch(step, /*copy_logits=*/false);
      launched_ = true;
    } catch (const std::exception& e) {
      disabled_ = true;
      std::fprintf(stderr, "ember: warning: CUDA graphs off, decode steps run eagerly (%s)\n",
                   e.what());
      logits = model_.forward_logits(step, kv_);
      return true;
    }
    logits = graphs_.device_logits();
    logits.shape = {int64_t(step.logit_rows.size()), logits.shape.back()};
    return true;
  }

 private:
  // The wait of a launch forward_device left (see there).
  void settle() {
    if (!launched_) return;
    launched_ = false;
    graphs_.wait(scratch_);
  }
  std::vector<float> scratch_;
  bool launched_ = false;
  Transformer& model_;
  KvCache& kv_;
  CudaGraphRunner graphs_;
  bool disabled_ = false;
};

// The largest decode batch the scheduler can form: one token per sequence under both limits.
int largest_decode_batch(const StepAcceleratorContext& c) {
  int n = 0;
  for (int limit : {c.max_num_seqs, c.max_batched_tokens})
    if (limit > 0) n = n > 0 ? std::min(n, limit) : limit;
  return n;
}

}  // namespace

StepAcceleratorFactory cuda_graph_accelerator(CudaGraphOptions base) {
  return [base](const StepAcceleratorContext& c) -> std::unique_ptr<StepAccelerator> {
    auto* cuda = dynamic_cast<CudaBackend*>(&c.backend);
    if (!cuda) fail("cuda graphs: the model does not run on the CUDA backend");
    CudaGraphOptions o = base;
    o.pad_block = c.pad_block;
    std::sort(o.batch_buckets.begin(), o.batch_buckets.end());
    if (const int top = largest_decode_batch(c); top > 0) {
      // Keep the buckets below `top` and the first one at or above it.
      auto first_fit = std::lower_bound(o.batch_buckets.begin(), o.batch_buckets.end(), top);
      if (first_fit != o.batch_buckets.end())
        o.batch_buckets.erase(first_fit + 1, o.batch_buckets.end());
    }
    return std::make_unique<CudaGraphAccelerator>(c.model, *cuda, c.kv, std::move(o));
  };
}

}  // namespace ember
