// Paged attention for decode steps (one query per sequence). A block takes one sequence, one
// KV head and up to kMaxGroup of the query heads that share it (GQA), so each K and V element
// is loaded once for all of them. Long contexts are split into parts handled by separate
// blocks (grid.z) whose partial softmax states (max, sum, unnormalised output) a second kernel
// merges; short ones take a single part and write the output directly.
#include "kernels/attention_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxGroup = 8;  // query heads per block; larger groups take several blocks
constexpr int kTileK = 32;    // keys per warp iteration: one per lane
constexpr int kMinPart = 256; // keys per split at least: fewer makes the merge dominate

template <typename T, int C>
__global__ void __launch_bounds__(kWarps * 32)
    decode_kernel(AttnArgs a, int num_splits, int part, float* __restrict__ partials) {
  constexpr int DMAX = 64 * C;
  __shared__ float q_s[kMaxGroup][DMAX];
  __shared__ float red_m[kWarps][kMaxGroup], red_l[kWarps][kMaxGroup];
  __shared__ float red_acc[kWarps][kMaxGroup][DMAX];

  const int D = a.head_dim, half = D / 2;
  const int G = a.n_heads / a.n_kv_heads;
  const int chunks = (G + kMaxGroup - 1) / kMaxGroup;
  const int s = blockIdx.x, kvh = blockIdx.y / chunks, chunk = blockIdx.y % chunks;
  const int h0 = kvh * G + chunk * kMaxGroup;             // first query head of this block
  const int nh = min(kMaxGroup, G - chunk * kMaxGroup);  // heads in this block
  const int split = blockIdx.z;
  const int q_row = a.seq_info[3 * s];
  const int ctx_len = a.seq_info[3 * s + 2];
  if (a.seq_info[3 * s + 1] == 0) return;  // no query this step: its row belongs to another
  const int p = ctx_len - 1;
  const int begin = max(first_visible_key(p, a.window), split * part);
  const int end = min(ctx_len, (split + 1) * part);
  const int row_len = (a.n_heads + 2 * a.n_kv_heads) * D;
  const T* qkv = static_cast<const T*>(a.qkv);
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int32_t* bt = a.block_tables + int64_t(s) * a.max_blocks;

  for (int i = threadIdx.x; i < kMaxGroup * half; i += blockDim.x) {
    const int hh = i / half, pi = i % half;
    float2 v = make_float2(0.f, 0.f);
    if (hh < nh) v = load_pair(qkv + int64_t(q_row) * row_len + int64_t(h0 + hh) * D + 2 * pi);
    q_s[hh][2 * pi] = v.x * a.scale;
    q_s[hh][2 * pi + 1] = v.y * a.scale;
  }
  __syncthreads();

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float m[kMaxGroup], l[kMaxGroup];
  float2 acc[kMaxGroup][C];
#pragma unroll
  for (int hh = 0; hh < kMaxGroup; ++hh) {
    m[hh] = -INFINITY;
    l[hh] = 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c) acc[hh][c] = make_float2(0.f, 0.f);
  }

  // Warps take interleaved key tiles of the part.
  const int tile0 = begin - begin % kTileK;
  for (int k0 = tile0 + warp * kTileK; k0 < end; k0 += kWarps * kTileK) {
    const int j = k0 + lane;
    const bool visible = j >= begin && j < end;
    float score[kMaxGroup];
#pragma unroll
    for (int hh = 0; hh < kMaxGroup; ++hh) score[hh] = 0.f;
    if (visible) {
      const T* k = kc + kv_offset(bt, j, a.block_size, a.n_kv_heads, kvh, D);
      for (int pi = 0; pi < half; ++pi) {
        const float2 kk = load_pair(k + 2 * pi);
#pragma unroll
        for (int hh = 0; hh < kMaxGroup; ++hh)
          score[hh] = fmaf(q_s[hh][2 * pi], kk.x, fmaf(q_s[hh][2 * pi + 1], kk.y, score[hh]));
      }
    }
    float pj[kMaxGroup];
#pragma unroll
    for (int hh = 0; hh < kMaxGroup; ++hh) {
      const float sc = visible ? soft_cap(score[hh], a.softcap) : -INFINITY;
      const float m_new = fmaxf(m[hh], warp_max(sc));
      // Every tile holds at least one visible key (k0 < end, k0 + 31 >= begin), so m_new is
      // finite here.
      pj[hh] = visible ? expf(sc - m_new) : 0.f;
      const float alpha = expf(m[hh] - m_new);
      l[hh] = l[hh] * alpha + warp_sum(pj[hh]);
      m[hh] = m_new;
#pragma unroll
      for (int c = 0; c < C; ++c) {
        acc[hh][c].x *= alpha;
        acc[hh][c].y *= alpha;
      }
    }
    const int last = min(kTileK, end - k0);
    for (int jj = max(0, begin - k0); jj < last; ++jj) {
      const T* v = vc + kv_offset(bt, k0 + jj, a.block_size, a.n_kv_heads, kvh, D);
      float2 vv[C];
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const int pi = lane + 32 * c;
        vv[c] = pi < half ? load_pair(v + 2 * pi) : make_float2(0.f, 0.f);
      }
#pragma unroll
      for (int hh = 0; hh < kMaxGroup; ++hh) {
        const float w = __shfl_sync(0xffffffffu, pj[hh], jj);
#pragma unroll
        for (int c = 0; c < C; ++c) {
          acc[hh][c].x = fmaf(w, vv[c].x, acc[hh][c].x);
          acc[hh][c].y = fmaf(w, vv[c].y, acc[hh][c].y);
        }
      }
    }
  }

  // Merge the warps' states.
#pragma unroll
  for (int hh = 0; hh < kMaxGroup; ++hh) {
    if (lane == 0) {
      red_m[warp][hh] = m[hh];
      red_l[warp][hh] = l[hh];
    }
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int pi = lane + 32 * c;
      if (pi < half) {
        red_acc[warp][hh][2 * pi] = acc[hh][c].x;
        red_acc[warp][hh][2 * pi + 1] = acc[hh][c].y;
      }
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < nh * D; i += blockDim.x) {
    const int hh = i / D, d = i % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, red_m[w][hh]);
    float sum = 0.f, o = 0.f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = expf(red_m[w][hh] - mx);  // 0 for warps that saw no key
        sum += red_l[w][hh] * f;
        o += red_acc[w][hh][d] * f;
      }
    }
    const int h = h0 + hh;
    if (num_splits == 1) {
      T* out = static_cast<T*>(a.out) + int64_t(q_row) * a.n_heads * D + int64_t(h) * D;
      out[d] = from_f<T>(sum > 0.f ? o / sum : 0.f);
    } else {
      float* part_out = partials + ((int64_t(s) * a.n_heads + h) * num_splits + split) * (D + 2);
      part_out[2 + d] = o;
      if (d == 0) {
        part_out[0] = mx;
        part_out[1] = sum;
      }
    }
  }
}

// One block per (sequence, head): out = sum_i acc_i e^(m_i - M) / sum_i l_i e^(m_i - M).
template <typename T>
__global__ void merge_kernel(AttnArgs a, int num_splits, const float* __restrict__ partials) {
  const int s = blockIdx.x, h = blockIdx.y, D = a.head_dim;
  if (a.seq_info[3 * s + 1] == 0) return;
  const float* base = partials + (int64_t(s) * a.n_heads + h) * num_splits * (D + 2);
  float mx = -INFINITY;
  for (int i = 0; i < num_splits; ++i) mx = fmaxf(mx, base[i * (D + 2)]);
  const int q_row = a.seq_info[3 * s];
  T* out = static_cast<T*>(a.out) + int64_t(q_row) * a.n_heads * D + int64_t(h) * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float sum = 0.f, o = 0.f;
    if (mx != -INFINITY) {
      for (int i = 0; i < num_splits; ++i) {
        const float* pp = base + i * (D + 2);
        if (pp[0] == -INFINITY) continue;  // a part with no visible key
        const float f = expf(pp[0] - mx);
        sum += pp[1] * f;
        o += pp[2 + d] * f;
      }
    }
    out[d] = from_f<T>(sum > 0.f ? o / sum : 0.f);
  }
}

int part_size(int max_ctx_len, int num_splits) {
  const int part = (max_ctx_len + num_splits - 1) / num_splits;
  return (part + kTileK - 1) / kTileK * kTileK;
}

template <typename T, int C>
void launch(const AttnArgs& a, int num_splits, float* partials, cudaStream_t s) {
  const int G = a.n_heads / a.n_kv_heads;
  const int chunks = (G + kMaxGroup - 1) / kMaxGroup;
  const dim3 grid(a.num_seqs, a.n_kv_heads * chunks, num_splits);
  decode_kernel<T, C><<<grid, kWarps * 32, 0, s>>>(a, num_splits,
                                                   part_size(a.max_ctx_len, num_splits), partials);
  EMBER_CUDA_CHECK_LAUNCH();
  if (num_splits > 1) {
    merge_kernel<T><<<dim3(a.num_seqs, a.n_heads), a.head_dim < 128 ? 64 : 128, 0, s>>>(
        a, num_splits, partials);
    EMBER_CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void dispatch(const AttnArgs& a, int num_splits, float* partials, cudaStream_t s) {
  const int pairs = a.head_dim / 2;
  if (pairs <= 32) launch<T, 1>(a, num_splits, partials, s);
  else if (pairs <= 64) launch<T, 2>(a, num_splits, partials, s);
  else launch<T, 4>(a, num_splits, partials, s);
}

}  // namespace

int decode_num_splits(int num_seqs, int n_kv_heads, int n_heads, int max_ctx_len, int num_sms) {
  const int G = n_heads / n_kv_heads;
  const int blocks = num_seqs * n_kv_heads * ((G + kMaxGroup - 1) / kMaxGroup);
  if (blocks <= 0 || blocks >= num_sms) return 1;
  // Enough parts to give every multiprocessor two blocks, none shorter than kMinPart keys.
  const int want = (2 * num_sms + blocks - 1) / blocks;
  const int most = (max_ctx_len + kMinPart - 1) / kMinPart;
  return std::max(1, std::min({want, most, 64}));
}

size_t decode_partials_floats(int num_seqs, int n_heads, int head_dim, int num_splits) {
  return num_splits > 1 ? size_t(num_seqs) * n_heads * num_splits * (head_dim + 2) : 0;
}

void attention_decode(const AttnArgs& a, int num_splits, float* partials, cudaStream_t s) {
  if (a.num_seqs == 0) return;
  if (a.act == kBF16) dispatch<__nv_bfloat16>(a, num_splits, partials, s);
  else dispatch<float>(a, num_splits, partials, s);
}

}  // namespace ember::cuda
