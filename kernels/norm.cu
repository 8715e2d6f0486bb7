// RMSNorm family: plain, fused with the residual add, and per-head over q and k (Qwen3).
// fp32 arithmetic throughout, one rounding when a value is stored.
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rmsnorm_kernel(const T* __restrict__ x, const void* __restrict__ w, int w_dtype,
                               T* __restrict__ out, int cols, float eps) {
  __shared__ float scratch[32];
  const int64_t base = int64_t(blockIdx.x) * cols;
  float ss = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = to_f(x[base + i]);
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / float(cols) + eps);
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    out[base + i] = from_f<T>(to_f(x[base + i]) * inv * load_any(w, w_dtype, i));
}

template <typename T>
__global__ void add_rmsnorm_kernel(T* __restrict__ residual, const T* __restrict__ x,
                                   const void* __restrict__ w, int w_dtype, T* __restrict__ out,
                                   int cols, float eps) {
  __shared__ float scratch[32];
  const int64_t base = int64_t(blockIdx.x) * cols;
  float ss = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const T r = from_f<T>(to_f(residual[base + i]) + to_f(x[base + i]));
    residual[base + i] = r;
    const float v = to_f(r);
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / float(cols) + eps);
  // Each thread re-reads only the elements it wrote itself: no barrier needed.
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    out[base + i] = from_f<T>(to_f(residual[base + i]) * inv * load_any(w, w_dtype, i));
}

// One warp per (token, head); heads [0, n_heads) are q, then n_kv_heads k heads.
template <typename T>
__global__ void qk_rmsnorm_kernel(T* __restrict__ qkv, const void* __restrict__ q_w,
                                  const void* __restrict__ k_w, int w_dtype, int num_tokens,
                                  int n_heads, int n_kv_heads, int head_dim, float eps) {
  const int warps_per_block = blockDim.x >> 5;
  const int64_t item = int64_t(blockIdx.x) * warps_per_block + (threadIdx.x >> 5);
  const int heads = n_heads + n_kv_heads;
  if (item >= int64_t(num_tokens) * heads) return;
  const int lane = threadIdx.x & 31;
  const int t = int(item / heads), h = int(item % heads);
  const int row_len = (n_heads + 2 * n_kv_heads) * head_dim;
  T* p = qkv + int64_t(t) * row_len + int64_t(h) * head_dim;  // k heads follow the q heads
  const void* w = h < n_heads ? q_w : k_w;
  float ss = 0.f;
  for (int i = lane; i < head_dim; i += 32) {
    const float v = to_f(p[i]);
    ss += v * v;
  }
  const float inv = rsqrtf(warp_sum(ss) / float(head_dim) + eps);
  for (int i = lane; i < head_dim; i += 32) p[i] = from_f<T>(to_f(p[i]) * inv * load_any(w, w_dtype, i));
}

int threads_for(int cols) { return cols >= 1024 ? kThreads * 2 : cols >= 256 ? kThreads : 64; }

}  // namespace

void rmsnorm(const void* x, const void* w, int w_dtype, void* out, int act, int rows, int cols,
             float eps, cudaStream_t s) {
  if (rows == 0) return;
  const int th = threads_for(cols);
  if (act == kBF16)
    rmsnorm_kernel<<<rows, th, 0, s>>>(static_cast<const __nv_bfloat16*>(x), w, w_dtype,
                                       static_cast<__nv_bfloat16*>(out), cols, eps);
  else
    rmsnorm_kernel<<<rows, th, 0, s>>>(static_cast<const float*>(x), w, w_dtype,
                                       static_cast<float*>(out), cols, eps);
  EMBER_CUDA_CHECK_LAUNCH();
}

void add_rmsnorm(void* residual, const void* x, const void* w, int w_dtype, void* out, int act,
                 int rows, int cols, float eps, cudaStream_t s) {
  if (rows == 0) return;
  const int th = threads_for(cols);
  if (act == kBF16)
    add_rmsnorm_kernel<<<rows, th, 0, s>>>(static_cast<__nv_bfloat16*>(residual),
                                           static_cast<const __nv_bfloat16*>(x), w, w_dtype,
                                           static_cast<__nv_bfloat16*>(out), cols, eps);
  else
    add_rmsnorm_kernel<<<rows, th, 0, s>>>(static_cast<float*>(residual),
                                           static_cast<const float*>(x), w, w_dtype,
                                           static_cast<float*>(out), cols, eps);
  EMBER_CUDA_CHECK_LAUNCH();
}

void qk_rmsnorm(void* qkv, const void* q_w, const void* k_w, int w_dtype, int act,
                int num_tokens, int n_heads, int n_kv_heads, int head_dim, float eps,
                cudaStream_t s) {
  const int64_t items = int64_t(num_tokens) * (n_heads + n_kv_heads);
  if (items == 0) return;
  const int warps = 8;
  const unsigned blocks = ceil_div(items, warps);
  if (act == kBF16)
    qk_rmsnorm_kernel<<<blocks, warps * 32, 0, s>>>(static_cast<__nv_bfloat16*>(qkv), q_w, k_w,
                                                    w_dtype, num_tokens, n_heads, n_kv_heads,
                                                    head_dim, eps);
  else
    qk_rmsnorm_kernel<<<blocks, warps * 32, 0, s>>>(static_cast<float*>(qkv), q_w, k_w, w_dtype,
                                                    num_tokens, n_heads, n_kv_heads, head_dim,
                                                    eps);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
