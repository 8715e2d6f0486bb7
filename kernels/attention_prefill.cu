// Paged causal attention for chunks of any length (prefill, chunked prefill mixed with
// decode), FlashAttention-style: a block holds a tile of queries of one head, streams tiles
// of keys and values through shared memory and keeps a running max and sum per query (online
// softmax), so the score matrix never reaches device memory. Sequences of different lengths
// share one launch (grid.y is the sequence; tiles past a sequence's end exit at once).
//
// This first version does the products on the CUDA cores in fp32; the tensor-core version
// (mma/wgmma) is the next step once this one is the verified reference on the GPU.
#include "kernels/attention_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kTileQ = kWarps * kRowsPerWarp;  // queries per block
constexpr int kTileK = 32;                     // keys per tile: one per lane

// Row stride of the K/V tiles in element pairs: odd, so that lane j reading pair i of key j
// hits bank (j * stride + i) mod 32, all distinct.
__host__ __device__ inline int tile_stride_pairs(int head_dim) { return (head_dim / 2) | 1; }

template <typename T>
size_t smem_bytes(int head_dim) {
  return size_t(2) * kTileK * tile_stride_pairs(head_dim) * 2 * sizeof(T) +
         size_t(kTileQ) * head_dim * sizeof(float);
}

template <typename T, int C>
__global__ void __launch_bounds__(kWarps * 32)
    prefill_kernel(AttnArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int D = a.head_dim, half = D / 2, stride = tile_stride_pairs(D);
  T* k_s = reinterpret_cast<T*>(smem);
  T* v_s = k_s + size_t(kTileK) * stride * 2;
  float* q_s = reinterpret_cast<float*>(v_s + size_t(kTileK) * stride * 2);

  const int s = blockIdx.y, h = blockIdx.z;
  const int q_start = a.seq_info[3 * s], q_len = a.seq_info[3 * s + 1];
  const int ctx_len = a.seq_info[3 * s + 2];
  const int tile_q0 = blockIdx.x * kTileQ;
  if (tile_q0 >= q_len) return;
  const int past = ctx_len - q_len;
  const int G = a.n_heads / a.n_kv_heads, kvh = h / G;
  const int row_len = (a.n_heads + 2 * a.n_kv_heads) * D;
  const T* qkv = static_cast<const T*>(a.qkv);
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int32_t* bt = a.block_tables + int64_t(s) * a.max_blocks;

  // Queries of this tile, pre-scaled, in fp32.
  for (int i = threadIdx.x; i < kTileQ * half; i += blockDim.x) {
    const int r = i / half, pi = i % half;
    float2 v = make_float2(0.f, 0.f);
    if (tile_q0 + r < q_len) {
      v = load_pair(qkv + int64_t(q_start + tile_q0 + r) * row_len + int64_t(h) * D + 2 * pi);
      v.x *= a.scale;
      v.y *= a.scale;
    }
    q_s[r * D + 2 * pi] = v.x;
    q_s[r * D + 2 * pi + 1] = v.y;
  }

  const int last_q = min(q_len, tile_q0 + kTileQ) - 1;
  const int k_end = past + last_q + 1;  // exclusive; <= ctx_len
  int k_begin = first_visible_key(past + tile_q0, a.window);
  k_begin -= k_begin % kTileK;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float m[kRowsPerWarp], l[kRowsPerWarp];
  float2 acc[kRowsPerWarp][C];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c) acc[r][c] = make_float2(0.f, 0.f);
  }

  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
    __syncthreads();  // the previous tile is fully read (and q_s written, on the first pass)
    for (int i = threadIdx.x; i < kTileK * half; i += blockDim.x) {
      const int jj = i / half, pi = i % half, j = k0 + jj;
      float2 kv = make_float2(0.f, 0.f), vv = kv;
      if (j < k_end) {
        const int64_t off = kv_offset(bt, j, a.block_size, a.n_kv_heads, kvh, D) + 2 * pi;
        kv = load_pair(kc + off);
        vv = load_pair(vc + off);
      }
      store_pair(k_s + (jj * stride + pi) * 2, kv);
      store_pair(v_s + (jj * stride + pi) * 2, vv);
    }
    __syncthreads();

#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int qi = tile_q0 + warp * kRowsPerWarp + r;
      if (qi >= q_len) continue;  // warp-uniform
      const int p = past + qi;
      const int j = k0 + lane;
      const bool visible = j <= p && j >= first_visible_key(p, a.window);
      float score = -INFINITY;
      if (visible) {
        const float* q = q_s + (warp * kRowsPerWarp + r) * D;
        const T* k = k_s + lane * stride * 2;
        float dot = 0.f;
        for (int pi = 0; pi < half; ++pi) {
          const float2 kk = load_pair(k + 2 * pi);
          dot = fmaf(q[2 * pi], kk.x, dot);
          dot = fmaf(q[2 * pi + 1], kk.y, dot);
        }
        score = soft_cap(dot, a.softcap);
      }
      const float m_new = fmaxf(m[r], warp_max(score));
      if (m_new == -INFINITY) continue;  // nothing visible yet for this query
      const float pj = visible ? expf(score - m_new) : 0.f;
      const float alpha = expf(m[r] - m_new);  // 0 when m[r] was -inf
      l[r] = l[r] * alpha + warp_sum(pj);
      m[r] = m_new;
#pragma unroll
      for (int c = 0; c < C; ++c) {
        acc[r][c].x *= alpha;
        acc[r][c].y *= alpha;
      }
      for (int jj = 0; jj < kTileK; ++jj) {
        const float w = __shfl_sync(0xffffffffu, pj, jj);
        if (w == 0.f) continue;  // warp-uniform: masked key
        const T* v = v_s + jj * stride * 2;
#pragma unroll
        for (int c = 0; c < C; ++c) {
          const int pi = lane + 32 * c;
          if (pi < half) {
            const float2 vv = load_pair(v + 2 * pi);
            acc[r][c].x = fmaf(w, vv.x, acc[r][c].x);
            acc[r][c].y = fmaf(w, vv.y, acc[r][c].y);
          }
        }
      }
    }
  }

  T* out = static_cast<T*>(a.out);
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int qi = tile_q0 + warp * kRowsPerWarp + r;
    if (qi >= q_len) continue;
    const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
    T* o = out + int64_t(q_start + qi) * a.n_heads * D + int64_t(h) * D;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int pi = lane + 32 * c;
      if (pi < half) store_pair(o + 2 * pi, make_float2(acc[r][c].x * inv, acc[r][c].y * inv));
    }
  }
}

template <typename T, int C>
void launch(const AttnArgs& a, cudaStream_t s) {
  const size_t smem = smem_bytes<T>(a.head_dim);
  if (smem > 48 * 1024)
    EMBER_CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel<T, C>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const dim3 grid(ceil_div(a.max_q_len, kTileQ), a.num_seqs, a.n_heads);
  prefill_kernel<T, C><<<grid, kWarps * 32, smem, s>>>(a);
  EMBER_CUDA_CHECK_LAUNCH();
}

template <typename T>
void dispatch(const AttnArgs& a, cudaStream_t s) {
  const int pairs = a.head_dim / 2;
  if (pairs <= 32) launch<T, 1>(a, s);
  else if (pairs <= 64) launch<T, 2>(a, s);
  else launch<T, 4>(a, s);
}

}  // namespace

void attention_prefill(const AttnArgs& a, cudaStream_t s) {
  if (a.num_seqs == 0 || a.max_q_len == 0) return;
  if (a.act == kBF16) dispatch<__nv_bfloat16>(a, s);
  else dispatch<float>(a, s);
}

}  // namespace ember::cuda
