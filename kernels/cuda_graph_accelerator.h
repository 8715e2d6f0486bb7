#pragma once
// CudaGraphRunner behind the engine's StepAccelerator seam (engine/model/step_accelerator.h):
// tools/ installs this factory in RunnerOptions when the CUDA backend is chosen, and the
// TransformerRunner then replays decode-only steps as CUDA graphs; every other step (prefill,
// mixed batches, batches above the largest bucket) stays on Transformer::forward. Plain C++:
// without CUDA a stub links and fails if called.
#include "engine/model/step_accelerator.h"
#include "kernels/cuda_graph_runner.h"

namespace ember {

// `base` gives the buckets; pad_block comes from the runner. Batch buckets above the first one
// that holds the scheduler's largest decode batch (min of max_num_seqs and max_batched_tokens)
// are dropped: they would never be used. Fails on a backend other than CUDA.
StepAcceleratorFactory cuda_graph_accelerator(CudaGraphOptions base = {});

}  // namespace ember
