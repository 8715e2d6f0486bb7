#pragma once
// The scheduler's view of a model: run one step (engine/serve/step_plan.h) and return the
// sampled ids. The runner owns the KV pools and the sampler slots (the per-sequence history the
// draw reads); the scheduler owns which block and which slot belongs to whom. Tests put a small
// deterministic model behind this; transformer_runner.h puts the Transformer.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/model/step.h"
#include "engine/sample/sampler_slots.h"
#include "engine/serve/kv_block_manager.h"
#include "engine/serve/step_plan.h"

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

  // One whole step: the slot operations, the pending tokens, the KV copies, the forward pass
  // and the draws (out: one per plan.rows). Steps run one at a time, in the order given; a
  // failure throws. The default runs forward() into host logits and the host sampler; a runner
  // whose logits live on a device overrides it to draw there.
  virtual void run(StepPlan& plan, std::vector<SampledRow>& out);

  const SamplerSlots& sampler_slots() const { return slots_; }

 protected:
  // The part every run() starts with: slot inits and forks, then the pending input tokens
  // filled in from their slots' last draws.
  void begin_step(StepPlan& plan);

  SamplerSlots slots_;

 private:
  std::vector<float> logits_;  // the default run()'s host logits, reused
};

}  // namespace ember
