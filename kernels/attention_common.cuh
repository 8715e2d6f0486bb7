#pragma once
// Pieces shared by the prefill and decode attention kernels: element-pair loads and stores
// for the two activation types, and the paged-cache address of a key.
#include "kernels/cuda_common.cuh"

namespace ember::cuda {

// Head dims handled: even, up to 64 * kMaxPairChunks. A lane owns the dim pairs
// lane + 32 * c (dims 2 * (lane + 32 c) and +1), c < C.
constexpr int kMaxHeadDim = 256;

__device__ __forceinline__ float2 load_pair(const float* p) {
  return *reinterpret_cast<const float2*>(p);
}
__device__ __forceinline__ float2 load_pair(const __nv_bfloat16* p) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
}
__device__ __forceinline__ void store_pair(float* p, float2 v) {
  *reinterpret_cast<float2*>(p) = v;
}
__device__ __forceinline__ void store_pair(__nv_bfloat16* p, float2 v) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(v.x, v.y);
}

// Element offset of (key j, kv head) in a cache laid out [num_blocks, block_size, nkv, D].
__device__ __forceinline__ int64_t kv_offset(const int32_t* block_table, int j, int block_size,
                                             int n_kv_heads, int kv_head, int head_dim) {
  const int64_t block = block_table[j / block_size];
  return ((block * block_size + j % block_size) * n_kv_heads + kv_head) * int64_t(head_dim);
}

// Keys visible to the query at position p: j <= p and, with a window, p - j < window.
__device__ __forceinline__ int first_visible_key(int p, int window) {
  return window > 0 ? max(0, p - window + 1) : 0;
}

// Gemma 2's attention logit soft-capping on a scaled score (cap 0: none), as transformers
// computes it: s / cap, tanh, * cap.
__device__ __forceinline__ float soft_cap(float s, float cap) {
  return cap > 0.f ? tanhf(s / cap) * cap : s;
}

}  // namespace ember::cuda
