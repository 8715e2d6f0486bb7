// The gated MLPs' elementwise half, reading the fused gate_up rows: silu(gate) * up (SwiGLU)
// or gelu_tanh(gate) * up (Gemma's GeGLU).
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

struct Silu {
  __device__ float operator()(float g) const { return g / (1.f + expf(-g)); }
};
// torch's gelu(approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
struct GeluTanh {
  __device__ float operator()(float x) const {
    const float kBeta = 0.7978845608028654f, kKappa = 0.044715f;
    return 0.5f * x * (1.f + tanhf(kBeta * (x + kKappa * (x * x * x))));
  }
};

template <typename T, typename Act>
__global__ void gated_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out,
                                 int64_t num_tokens, int inter, Act act) {
  const int64_t n = num_tokens * inter;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / inter, i = idx % inter;
    const float g = to_f(gate_up[t * 2 * inter + i]);
    const float u = to_f(gate_up[t * 2 * inter + inter + i]);
    out[idx] = from_f<T>(act(g) * u);
  }
}

template <typename Act>
void gated_mul(const void* gate_up, void* out, int act, int num_tokens, int inter, Act fn,
               cudaStream_t s) {
  const int64_t n = int64_t(num_tokens) * inter;
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65535));
  if (act == kBF16)
    gated_mul_kernel<<<blocks, 256, 0, s>>>(static_cast<const __nv_bfloat16*>(gate_up),
                                            static_cast<__nv_bfloat16*>(out), num_tokens, inter,
                                            fn);
  else
    gated_mul_kernel<<<blocks, 256, 0, s>>>(static_cast<const float*>(gate_up),
                                            static_cast<float*>(out), num_tokens, inter, fn);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace

void silu_mul(const void* gate_up, void* out, int act, int num_tokens, int inter,
              cudaStream_t s) {
  gated_mul(gate_up, out, act, num_tokens, inter, Silu{}, s);
}

void gelu_tanh_mul(const void* gate_up, void* out, int act, int num_tokens, int inter,
                   cudaStream_t s) {
  gated_mul(gate_up, out, act, num_tokens, inter, GeluTanh{}, s);
}

}  // namespace ember::cuda
