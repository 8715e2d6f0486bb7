// Built instead of the CUDA backend when CMake finds no CUDA compiler, so callers link either
// way and get a clear error at run time.
#include "engine/core/error.h"
#include "kernels/cuda_backend.h"

namespace ember {

bool cuda_device_available() { return false; }

std::unique_ptr<CudaBackend> make_cuda_backend(const CudaBackendOptions&) {
  fail("this ember was built without CUDA (configure with -DEMBER_CUDA=ON where nvcc exists)");
}

std::unique_ptr<Backend> make_cuda_backend(int, double) {
  fail("this ember was built without CUDA (configure with -DEMBER_CUDA=ON where nvcc exists)");
}

}  // namespace ember
