// Built instead of kernels/cuda_graph_accelerator.cc without CUDA: the factory links, and
// calling it fails (no CUDA backend can exist in such a build, so nothing should).
#include "engine/core/error.h"
#include "kernels/cuda_graph_accelerator.h"

namespace ember {

StepAcceleratorFactory cuda_graph_accelerator(CudaGraphOptions) {
  return [](const StepAcceleratorContext&) -> std::unique_ptr<StepAccelerator> {
    fail("cuda graphs: this ember was built without CUDA");
  };
}

}  // namespace ember
