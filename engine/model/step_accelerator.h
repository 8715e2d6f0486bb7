#pragma once
// A faster way to run some steps than Transformer::forward (today: CUDA graphs for decode
// steps, kernels/cuda_graph_accelerator.h). It is plugged in as a factory from outside engine/
// (tools/ picks the backend and installs the matching one in RunnerOptions), so that engine/
// never includes a backend's headers.
#include <functional>
#include <memory>
#include <vector>

#include "engine/model/step.h"
#include "engine/model/tensor.h"

namespace ember {

class Backend;
class Transformer;

class StepAccelerator {
 public:
  virtual ~StepAccelerator() = default;
  // True when forward() can run this step; the runner runs every other step eagerly.
  virtual bool accepts(const StepInput& step) const = 0;
  // ModelRunner::forward's contract: writes the step's K/V and the fp32 logits of
  // step.logit_rows ([rows, vocab]) to `logits`.
  virtual void forward(const StepInput& step, std::vector<float>& logits) = 0;
  // As forward(), but leaves the logits on the device: `logits` gets the [rows, vocab] fp32
  // logits of step.logit_rows in backend memory, valid until the next step. False when this
  // accelerator cannot (the runner then calls forward()).
  virtual bool forward_device(const StepInput& step, Tensor& logits) {
    (void)step;
    (void)logits;
    return false;
  }
};

// What a factory is given. model, backend and kv outlive the accelerator. pad_block is a KV
// block no sequence is ever given (padding rows may write into it). The scheduler's limits
// bound the steps the accelerator will see (0: unknown).
struct StepAcceleratorContext {
  Transformer& model;
  Backend& backend;
  KvCache& kv;
  int pad_block = -1;
  int max_num_seqs = 0;
  int max_batched_tokens = 0;
};

// May return nullptr (no acceleration): the runner then runs every step eagerly.
using StepAcceleratorFactory =
    std::function<std::unique_ptr<StepAccelerator>(const StepAcceleratorContext&)>;

}  // namespace ember
