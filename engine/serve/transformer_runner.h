#pragma once
// The ModelRunner over the real Transformer: owns the backend, the loaded model and the KV
// pools (one K and one V pool per layer, sized by a memory budget). An optional StepAccelerator
// (engine/model/step_accelerator.h) runs the steps it accepts, e.g. decode steps as CUDA graphs.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/generate.h"
#include "engine/model/step_accelerator.h"
#include "engine/serve/engine_config.h"
#include "engine/serve/kv_budget.h"
#include "engine/serve/model_runner.h"

namespace ember {

struct LoadSummary {
  double seconds = 0;       // from the first file opened to the KV cache allocated
  size_t weight_bytes = 0;  // as stored in the files (0 for random weights)
  int kv_blocks = 0, block_size = 0;
  DType kv_dtype = DType::F32;
  std::string backend;
};

struct RunnerOptions {
  KvBudget kv;
  int block_size = 16;
  // The KV cache's element type; empty: the backend's activation dtype. BF16 on the CPU halves
  // the cache's memory and the bytes attention reads per step, at K and V rounded to bf16.
  std::optional<DType> kv_dtype;
  // Upper bound on tokens worth caching (e.g. max_num_seqs * max context); 0: no bound.
  int64_t max_useful_tokens = 0;
  // Loading progress (bytes mapped, tensors checked), for a terminal.
  ProgressFn progress;
  // Called once the weights are on the backend and the KV cache is allocated.
  std::function<void(const LoadSummary&)> on_loaded;
  // The scheduler's limits (EngineConfig), so that the activation buffers are sized once at
  // load and never move later (a CUDA graph holds their addresses); 0: unknown (they grow to
  // the largest step seen).
  int max_batched_tokens = 0, max_num_seqs = 0;
  void limits_from(const EngineConfig& ec) {
    max_batched_tokens = ec.max_batched_tokens;
    max_num_seqs = ec.max_num_seqs;
  }
  // Set: one extra KV block is allocated and hidden from the scheduler (the accelerator's
  // pad_block), and steps it accepts bypass Transformer::forward.
  StepAcceleratorFactory accelerator;
};

class TransformerRunner : public ModelRunner {
 public:
  // Loads DIR onto `backend` and allocates the KV cache.
  static std::shared_ptr<TransformerRunner> open(const std::string& dir,
                                                 std::unique_ptr<Backend> backend,
                                                 const RunnerOptions& opts);
  // A model of the architecture in CONFIG (a config.json path) with random weights
  // (engine/model/dummy_weights.h): benchmarks without a download.
  static std::shared_ptr<TransformerRunner> open_dummy(const std::string& config_json,
                                                       std::unique_ptr<Backend> backend,
                                                       const RunnerOptions& opts,
                                                       uint64_t seed = 0);
  // A tensor-parallel rank (engine/dist/tensor_parallel_runner.h): loads the shard `plan`
  // names (random weights of the shard's shapes when `dummy_seed` is set, `dir` then being a
  // config.json) and stops before the KV cache, which allocate_kv() makes once every rank is
  // loaded, so that all ranks hold the same number of blocks. Reports nothing.
  static std::shared_ptr<TransformerRunner> open_shard(const std::string& dir,
                                                       std::unique_ptr<Backend> backend,
                                                       const RunnerOptions& opts,
                                                       const ShardPlan& plan,
                                                       std::optional<uint64_t> dummy_seed = {});
  // KV blocks the budget buys on this runner's backend now; `sharers` runners draw on the same
  // memory (CPU ranks share the host's), each taking an equal part.
  int affordable_kv_blocks(const RunnerOptions& opts, int sharers = 1) const;
  // Allocates the KV cache of `blocks` usable blocks (and the accelerator's pad block).
  void allocate_kv(int blocks, const RunnerOptions& opts);

  std::string name() const override;
  int vocab_size() const override { return model_.cfg.vocab_size; }
  int max_context() const override { return model_.cfg.max_position_embeddings; }
  std::vector<int32_t> eos_token_ids() const override;
  int num_kv_blocks() const override { return usable_blocks_; }
  int kv_block_size() const override { return kv_.spec.block_size; }
  void copy_blocks(std::span<const BlockCopy> copies) override;
  void forward(const StepInput& step, std::vector<float>& logits) override;
  // The logits stay on the backend, which draws there (Backend::sample).
  void run(StepPlan& plan, std::vector<SampledRow>& out) override;

  // The whole model's config (a rank's own shapes: model().config()).
  const ModelConfig& config() const { return model_.cfg; }
  Transformer& model() { return *model_.model; }
  Backend& backend() { return *backend_; }
  size_t weight_bytes() const;  // as stored in the files (0 for random weights)
  size_t kv_bytes() const { return kv_.spec.bytes(); }  // including a hidden pad block
  bool accelerated() const { return accel_ != nullptr; }
  int64_t accelerated_steps() const { return accelerated_steps_; }
  int64_t eager_steps() const { return eager_steps_; }

 private:
  TransformerRunner() = default;
  // Reserves activations when an accelerator will hold their addresses.
  void reserve(const RunnerOptions& opts);
  // reserve(), then the KV cache (with the pad block) and the accelerator.
  void prepare(const RunnerOptions& opts);
  void report_loaded(const RunnerOptions& opts, std::chrono::steady_clock::time_point t0,
                     size_t weight_bytes) const;
  std::unique_ptr<Backend> backend_;
  LoadedModel model_;
  KvCache kv_;
  int usable_blocks_ = 0;  // kv_ minus the accelerator's pad block
  std::unique_ptr<StepAccelerator> accel_;
  int64_t accelerated_steps_ = 0, eager_steps_ = 0;
  std::vector<std::pair<int32_t, int32_t>> pairs_;  // copy_blocks' staging, reused across steps
  std::vector<float> host_logits_;  // an accelerator without a device path returns them here
};

}  // namespace ember
