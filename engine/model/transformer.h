#pragma once
// The decoder-only transformer, written once against the Backend op set.
#include <memory>
#include <optional>
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace ember {

class Transformer {
 public:
  // `plan`: the tensor-parallel rank these weights are the shard of (load_weights with the same
  // plan); the backend then needs a communicator for its all_reduce.
  Transformer(const ModelConfig& cfg, Backend& backend, ModelWeights weights,
              const ShardPlan& plan = {});

  // The rank's shapes (ShardPlan::local): its heads, its MLP share and its vocabulary slice,
  // the width of the logits it returns. The whole model's config at TP=1.
  const ModelConfig& config() const { return cfg_; }
  const ShardPlan& shard() const { return plan_; }
  // Token ids the model embeds: the whole vocabulary, whatever the rank's slice.
  int input_vocab() const { return input_vocab_; }
  Backend& backend() { return backend_; }
  // dtype: the cache's element type; empty: the backend's activation dtype.
  KvCacheSpec kv_spec(int num_blocks, int block_size, std::optional<DType> dtype = {}) const;

  // Runs one step over the batch and writes the fp32 logits of step.logit_rows to `logits`
  // ([rows, vocab], row-major, host memory).
  void forward(const StepInput& step, KvCache& kv, std::vector<float>& logits);

  // forward() without the download: the fp32 logits of step.logit_rows, [R, vocab] in backend
  // memory (valid until the next step), for the backend's sample op.
  Tensor forward_logits(const StepInput& step, KvCache& kv);

  // The device half of forward(): the step's tensors are already on the backend (upload_step,
  // or static buffers a CUDA graph replays); returns the fp32 logits of the step's logit rows,
  // [R, vocab] in backend memory (a scratch buffer, valid until the next step). Launches work
  // only: no host synchronisation, so a CUDA graph can capture it, when every row of the step
  // wants logits; otherwise it also uploads a step of the logit rows for the last layer.
  Tensor forward_device(const StepTensors& st, KvCache& kv);

  // Grows the activation buffers to hold a step of `tokens` tokens and `rows` logit rows, so
  // later steps up to that size allocate nothing. Each growth bumps scratch_generation(): a
  // captured CUDA graph holds the old addresses and must be captured again.
  void reserve(int64_t tokens, int64_t rows);
  uint64_t scratch_generation() const;

 private:
  ModelConfig cfg_;
  ShardPlan plan_;
  int input_vocab_ = 0;
  int64_t vocab_begin_ = 0;  // the first id of the rank's vocabulary slice
  Backend& backend_;
  ModelWeights w_;
  // Activation buffers reused across steps, grown to the largest step seen.
  std::shared_ptr<struct TransformerScratch> scratch_;
};

}  // namespace ember
