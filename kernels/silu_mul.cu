// SwiGLU's elementwise half: silu(gate) * up, reading the fused gate_up rows.
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

template <typename T>
__global__ void silu_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out,
                                int64_t num_tokens, int inter) {
  const int64_t n = num_tokens * inter;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / inter, i = idx % inter;
    const float g = to_f(gate_up[t * 2 * inter + i]);
    const float u = to_f(gate_up[t * 2 * inter + inter + i]);
    out[idx] = from_f<T>(g / (1.f + expf(-g)) * u);
  }
}

}  // namespace

void silu_mul(const void* gate_up, void* out, int act, int num_tokens, int inter,
              cudaStream_t s) {
  const int64_t n = int64_t(num_tokens) * inter;
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65535));
  if (act == kBF16)
    silu_mul_kernel<<<blocks, 256, 0, s>>>(static_cast<const __nv_bfloat16*>(gate_up),
                                           static_cast<__nv_bfloat16*>(out), num_tokens, inter);
  else
    silu_mul_kernel<<<blocks, 256, 0, s>>>(static_cast<const float*>(gate_up),
                                           static_cast<float*>(out), num_tokens, inter);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
