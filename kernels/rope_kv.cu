// RoPE on q and k, fused with the store of k and v into the paged cache: one pass over the
// token's qkv row instead of three.
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

// One block per token. Rotate-half: for i < D/2, (x[i], x[i + D/2]) turns by
// angle = float(pos) * inv_freq[i], computed in fp32 with the accurate sincosf.
template <typename T>
__global__ void rope_store_kv_kernel(T* __restrict__ qkv, const float* __restrict__ inv_freq,
                                     const int32_t* __restrict__ positions,
                                     const int32_t* __restrict__ slots, int n_heads,
                                     int n_kv_heads, int head_dim, T* __restrict__ k_cache,
                                     T* __restrict__ v_cache) {
  const int t = blockIdx.x;
  const int half = head_dim / 2;
  const int row_len = (n_heads + 2 * n_kv_heads) * head_dim;
  T* row = qkv + int64_t(t) * row_len;
  const float pos = float(positions[t]);
  const int slot = slots[t];
  const int64_t kv_dim = int64_t(n_kv_heads) * head_dim;
  T* k_dst = slot >= 0 ? k_cache + int64_t(slot) * kv_dim : nullptr;
  T* v_dst = slot >= 0 ? v_cache + int64_t(slot) * kv_dim : nullptr;

  const int rot_items = (n_heads + n_kv_heads) * half;
  for (int it = threadIdx.x; it < rot_items; it += blockDim.x) {
    const int h = it / half, i = it % half;
    T* p = row + int64_t(h) * head_dim;  // k heads follow the q heads in the row
    float sn, cs;
    sincosf(pos * inv_freq[i], &sn, &cs);
    const float x1 = to_f(p[i]), x2 = to_f(p[i + half]);
    const T y1 = from_f<T>(x1 * cs - x2 * sn);
    const T y2 = from_f<T>(x2 * cs + x1 * sn);
    p[i] = y1;
    p[i + half] = y2;
    if (h >= n_heads && k_dst) {
      T* k = k_dst + int64_t(h - n_heads) * head_dim;
      k[i] = y1;
      k[i + half] = y2;
    }
  }
  if (v_dst) {
    const T* v = row + int64_t(n_heads + n_kv_heads) * head_dim;
    for (int64_t i = threadIdx.x; i < kv_dim; i += blockDim.x) v_dst[i] = v[i];
  }
}

}  // namespace

void rope_store_kv(void* qkv, int act, const float* inv_freq, const int32_t* positions,
                   const int32_t* slots, int num_tokens, int n_heads, int n_kv_heads,
                   int head_dim, void* k_cache, void* v_cache, cudaStream_t s) {
  if (num_tokens == 0) return;
  const int items = (n_heads + n_kv_heads) * (head_dim / 2);
  const int threads = items >= 512 ? 512 : items >= 128 ? 128 : 64;
  if (act == kBF16)
    rope_store_kv_kernel<<<num_tokens, threads, 0, s>>>(
        static_cast<__nv_bfloat16*>(qkv), inv_freq, positions, slots, n_heads, n_kv_heads,
        head_dim, static_cast<__nv_bfloat16*>(k_cache), static_cast<__nv_bfloat16*>(v_cache));
  else
    rope_store_kv_kernel<<<num_tokens, threads, 0, s>>>(
        static_cast<float*>(qkv), inv_freq, positions, slots, n_heads, n_kv_heads, head_dim,
        static_cast<float*>(k_cache), static_cast<float*>(v_cache));
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
