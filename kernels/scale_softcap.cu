// Gemma's pointwise passes: the embedding scaled by sqrt(hidden_size), and Gemma 2's final
// logit soft-capping.
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

template <typename T>
__global__ void scale_kernel(T* __restrict__ x, int64_t n, float factor) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = from_f<T>(to_f(x[i]) * factor);
}

__global__ void softcap_kernel(float* __restrict__ x, int64_t n, float cap) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = tanhf(x[i] / cap) * cap;
}

unsigned blocks_for(int64_t n) { return unsigned(std::min<int64_t>((n + 255) / 256, 65535)); }

}  // namespace

void scale(void* x, int act, int64_t n, float factor, cudaStream_t s) {
  if (n == 0) return;
  if (act == kBF16)
    scale_kernel<<<blocks_for(n), 256, 0, s>>>(static_cast<__nv_bfloat16*>(x), n, factor);
  else
    scale_kernel<<<blocks_for(n), 256, 0, s>>>(static_cast<float*>(x), n, factor);
  EMBER_CUDA_CHECK_LAUNCH();
}

void softcap(float* x, int64_t n, float cap, cudaStream_t s) {
  if (n == 0) return;
  softcap_kernel<<<blocks_for(n), 256, 0, s>>>(x, n, cap);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
