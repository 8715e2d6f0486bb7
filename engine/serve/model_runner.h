#pragma once
// The scheduler's view of a model: run one batched step (engine/model/step.h) and copy KV
// blocks. The runner owns the KV pools; the scheduler owns which block belongs to whom. Tests
// put a small deterministic model behind this; transformer_runner.h puts the Transformer.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/model/step.h"
#include "engine/serve/kv_block_manager.h"

namespace ember {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual std::string name() const = 0;
  virtual int vocab_size() const = 0;
  virtual int max_context() const = 0;  // positions the model supports
  virtual std::vector<int32_t> eos_token_ids() const = 0;
  virtual int num_kv_blocks() const = 0;
  virtual int kv_block_size() const = 0;

  // Copies the K and V of every layer from block src to block dst (copy-on-write).
  virtual void copy_blocks(std::span<const BlockCopy> copies) = 0;
  // Writes the KV of step.tokens into their slots and the fp32 logits of step.logit_rows to
  // `logits` ([rows, vocab], row-major). Must be batch-invariant: a row's logits may not depend
  // on the other sequences of the step.
  virtual void forward(const StepInput& step, std::vector<float>& logits) = 0;
};

}  // namespace ember
