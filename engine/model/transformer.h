#pragma once
// The decoder-only transformer, written once against the Backend op set.
#include <memory>
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace ember {

class Transformer {
 public:
  Transformer(const ModelConfig& cfg, Backend& backend, ModelWeights weights);

  const ModelConfig& config() const { return cfg_; }
  Backend& backend() { return backend_; }
  KvCacheSpec kv_spec(int num_blocks, int block_size) const;

  // Runs one step over the batch and writes the fp32 logits of step.logit_rows to `logits`
  // ([rows, vocab], row-major, host memory).
  void forward(const StepInput& step, KvCache& kv, std::vector<float>& logits);

 private:
  ModelConfig cfg_;
  Backend& backend_;
  ModelWeights w_;
  // Activation buffers reused across steps, grown to the largest step seen.
  std::shared_ptr<struct TransformerScratch> scratch_;
};

}  // namespace ember
