#include "kernels/cuda_check.h"

#include "kernels/cublaslt_api.h"

#include "engine/core/error.h"

namespace ember::cuda {

void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line) {
  fail("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(e), cudaGetErrorString(e), what,
       file, line);
}

void throw_cublas_error(int status, const char* what, const char* file, int line) {
  fail("cuBLASLt error {} ({}) in {} at {}:{}", status,
       cublaslt().GetStatusString(cublasStatus_t(status)), what, file, line);
}

}  // namespace ember::cuda
