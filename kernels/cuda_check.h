#pragma once
// Error checks for CUDA runtime and cuBLASLt calls: a failure throws ember::Error naming the call
// and where it was made, so a broken launch never goes unnoticed.
#include <cuda_runtime_api.h>

#include <string>

namespace ember::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas_error(int status, const char* what, const char* file, int line);

}  // namespace ember::cuda

#define EMBER_CUDA_CHECK(call)                                                   \
  do {                                                                           \
    cudaError_t ember_err_ = (call);                                             \
    if (ember_err_ != cudaSuccess)                                               \
      ::ember::cuda::throw_cuda_error(ember_err_, #call, __FILE__, __LINE__);    \
  } while (0)

// After every launch: catches bad launch configurations at once (execution errors surface at
// the next synchronising call, which is checked too).
#define EMBER_CUDA_CHECK_LAUNCH() EMBER_CUDA_CHECK(cudaGetLastError())

#define EMBER_CUBLAS_CHECK(call)                                                 \
  do {                                                                           \
    int ember_st_ = int(call);                                                   \
    if (ember_st_ != 0)                                                          \
      ::ember::cuda::throw_cublas_error(ember_st_, #call, __FILE__, __LINE__);   \
  } while (0)
