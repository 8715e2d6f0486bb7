// out[T, N] = x[T, K] · w[N, K]ᵀ (+ bias). Work is split over blocks of output rows (weight
// rows); inside a block, the weights are reused from cache by every token, so a batch of T
// tokens streams the weights from memory once, not T times.
#include <algorithm>
#include <vector>

#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

// A micro-tile is R weight rows x TT tokens of fp32 accumulators (AVX2 has 16 registers):
// 4 x 1 and 4 x 2 for decode-sized steps (more independent FMA chains per weight byte), 3 x 4
// for larger ones (each converted weight vector feeds 4 tokens).
constexpr int kMaxRows = 4;
constexpr int kToks = 4;
int rows_per_tile(int tt) { return tt <= 2 ? 4 : 3; }
// Decode-sized steps (activations up to 128 KiB, in L2) take the rows-outer order below.
constexpr int64_t kRowsOuterMaxXBytes = 128 * 1024;

using TileFn = void (*)(const uint8_t* w, int64_t ldw_bytes, int64_t K, const float* x,
                        int64_t ldx, float* out, int64_t ldo, const float* bias);

template <DType WD>
inline float load1(const uint8_t* row, int64_t k) {
  if constexpr (WD == DType::F32) return reinterpret_cast<const float*>(row)[k];
  if constexpr (WD == DType::BF16) return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[k]);
  if constexpr (WD == DType::F16) return f16_to_f32(reinterpret_cast<const uint16_t*>(row)[k]);
  return 0.f;
}

template <DType WD, int R, int TT>
void tile_scalar(const uint8_t* w, int64_t ldw, int64_t K, const float* x, int64_t ldx,
                 float* out, int64_t ldo, const float* bias) {
  float acc[R][TT] = {};
  for (int64_t k = 0; k < K; ++k) {
    for (int r = 0; r < R; ++r) {
      const float wv = load1<WD>(w + r * ldw, k);
      for (int t = 0; t < TT; ++t) acc[r][t] += wv * x[t * ldx + k];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) out[t * ldo + r] = acc[r][t] + (bias ? bias[r] : 0.f);
}

#ifdef EMBER_X86
template <DType WD>
EMBER_AVX2 inline __m256 load8(const uint8_t* row, int64_t k) {
  if constexpr (WD == DType::F32) return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  if constexpr (WD == DType::BF16) return load8_bf16(reinterpret_cast<const uint16_t*>(row) + k);
  if constexpr (WD == DType::F16) return load8_f16(reinterpret_cast<const uint16_t*>(row) + k);
  return _mm256_setzero_ps();
}

template <DType WD, int R, int TT>
EMBER_AVX2 void tile_avx2(const uint8_t* w, int64_t ldw, int64_t K, const float* x, int64_t ldx,
                          float* out, int64_t ldo, const float* bias) {
  __m256 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = load8<WD>(w + r * ldw, k);
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) {
      float s = hsum8(acc[r][t]);
      for (int64_t kk = k; kk < K; ++kk) s += load1<WD>(w + r * ldw, kk) * x[t * ldx + kk];
      out[t * ldo + r] = s + (bias ? bias[r] : 0.f);
    }
  }
}

#endif

template <DType WD, bool Avx, int R, int TT>
constexpr TileFn tile_fn() {
#ifdef EMBER_X86
  if constexpr (Avx) return &tile_avx2<WD, R, TT>;
#endif
  return &tile_scalar<WD, R, TT>;
}

struct TileTable {
  TileFn fn[kMaxRows][kToks];
};

template <DType WD, bool Avx, int R>
constexpr void fill_row(TileTable& t) {
  t.fn[R - 1][0] = tile_fn<WD, Avx, R, 1>();
  t.fn[R - 1][1] = tile_fn<WD, Avx, R, 2>();
  t.fn[R - 1][2] = tile_fn<WD, Avx, R, 3>();
  t.fn[R - 1][3] = tile_fn<WD, Avx, R, 4>();
}

template <DType WD, bool Avx>
constexpr TileTable make_table() {
  TileTable t{};
  fill_row<WD, Avx, 1>(t);
  fill_row<WD, Avx, 2>(t);
  fill_row<WD, Avx, 3>(t);
  fill_row<WD, Avx, 4>(t);
  return t;
}

const TileTable& table_for(DType wd, Isa isa) {
  static constexpr TileTable f32s = make_table<DType::F32, false>();
  static constexpr TileTable bf16s = make_table<DType::BF16, false>();
  static constexpr TileTable f16s = make_table<DType::F16, false>();
  static constexpr TileTable f32v = make_table<DType::F32, true>();
  static constexpr TileTable bf16v = make_table<DType::BF16, true>();
  static constexpr TileTable f16v = make_table<DType::F16, true>();
  const bool v = isa == Isa::Avx2;
  switch (wd) {
    case DType::BF16: return v ? bf16v : bf16s;
    case DType::F16: return v ? f16v : f16s;
    default: return v ? f32v : f32s;
  }
}

// One task's rows [n0, n1) of the output against every token.
struct Block {
  const TileTable& tab;
  const uint8_t* w;  // row n0
  int64_t ldw, K, N;
  const float* x;
  float* out;
  const float* bias;  // may be null
  void tile(int64_t n0, int64_t r0, int rr, int64_t t0, int tt) const {
    tab.fn[rr - 1][tt - 1](w + (r0 - n0) * ldw, ldw, K, x + t0 * K, K, out + t0 * N + r0, N,
                           bias ? bias + r0 : nullptr);
  }
};

// Prefill-sized steps: each tile of tokens runs over the block's rows, which stay in L2.
void tokens_outer(const Block& b, int64_t n0, int64_t n1, int64_t T) {
  for (int64_t t0 = 0; t0 < T; t0 += kToks) {
    const int tt = int(std::min<int64_t>(kToks, T - t0));
    const int R = rows_per_tile(tt);
    for (int64_t r0 = n0; r0 < n1; r0 += R) b.tile(n0, r0, int(std::min<int64_t>(R, n1 - r0)), t0, tt);
  }
}

// Decode-sized steps stream the weights from DRAM with little work per byte. Taken tokens-outer,
// a block's first pass over its rows is memory-bound and its other passes compute-bound.
// Rows-outer, each tile of rows meets every token (the activations stay in L2) while the next
// tile's lines are prefetched, a few before each token tile, so memory and FMAs overlap
// (decode of 16 sequences on the 100M bench model, measured while its bf16 weights still took
// this path: about 15% less time per step).
void rows_outer(const Block& b, int64_t n0, int64_t n1, int64_t T) {
  const int R = rows_per_tile(kToks);
  const int64_t token_tiles = (T + kToks - 1) / kToks;
  for (int64_t r0 = n0; r0 < n1; r0 += R) {
    const int rr = int(std::min<int64_t>(R, n1 - r0));
    const char* next = reinterpret_cast<const char*>(b.w + (r0 + rr - n0) * b.ldw);
    const int64_t next_lines = (std::min<int64_t>(R, n1 - r0 - rr) * b.ldw + 63) / 64;
    const int64_t per_tile = next_lines / token_tiles + 1;
    int64_t line = 0;
    for (int64_t t0 = 0; t0 < T; t0 += kToks) {
      for (int64_t i = 0; i < per_tile && line < next_lines; ++i, ++line)
        __builtin_prefetch(next + line * 64, 0, 3);
      b.tile(n0, r0, rr, t0, int(std::min<int64_t>(kToks, T - t0)));
    }
  }
}

bool is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F8_E4M3;
}

}  // namespace

void matmul(const Ctx& c, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32)
    fail("cpu matmul: activations must be F32 (x {}, out {})", dtype_name(x.dtype),
         dtype_name(out.dtype));
  if (w.shape.size() != 2 || !is_float(w.dtype))
    fail("cpu matmul: weight must be a 2-D float tensor (got {} dims, {})", w.shape.size(),
         dtype_name(w.dtype));
  const int64_t T = x.rows(), K = x.cols(), N = w.shape[0];
  if (w.shape[1] != K)
    fail("cpu matmul: x has {} columns but the weight is [{}, {}]", K, N, w.shape[1]);
  if (out.rows() != T || out.cols() != N)
    fail("cpu matmul: out is [{}, {}], expected [{}, {}]", out.rows(), out.cols(), T, N);
  if (T == 0 || N == 0) return;

  std::vector<float> bias_f32;
  if (bias) {
    if (bias->numel() != N) fail("cpu matmul: bias has {} elements, expected {}", bias->numel(), N);
    bias_f32.resize(size_t(N));
    to_f32(*bias, 0, N, bias_f32.data());
  }
  const float* biasp = bias ? bias_f32.data() : nullptr;
  if (w.layout == TensorLayout::CpuBf16Panels16) return matmul_panels(c, x, w, biasp, out);

  // F8 weights have no vector loader: their row blocks are widened to F32 first.
  const bool widen = w.dtype == DType::F8_E4M3;
  const TileTable& tab = table_for(widen ? DType::F32 : w.dtype, c.isa);
  const int64_t ldw = K * int64_t(widen ? 4 : dtype_size(w.dtype));

  const int64_t want_tasks = int64_t(c.pool->size()) * 4;
  int64_t rb = std::max<int64_t>(kMaxRows, std::min<int64_t>(32, (N + want_tasks - 1) / want_tasks));
  rb = (rb + 11) / 12 * 12;  // whole tiles of 3 and of 4 rows
  const int64_t n_tasks = (N + rb - 1) / rb;
  const float* xp = x.as<float>();
  float* op = out.as<float>();
  const uint8_t* wp = static_cast<const uint8_t*>(w.data);

  c.pool->run(n_tasks, [&](int64_t task) {
    const int64_t n0 = task * rb, n1 = std::min(N, n0 + rb);
    const uint8_t* wblock = wp + n0 * ldw;
    thread_local std::vector<float> widened;
    if (widen) {
      widened.resize(size_t((n1 - n0) * K));
      to_f32(w, n0 * K, (n1 - n0) * K, widened.data());
      wblock = reinterpret_cast<const uint8_t*>(widened.data());
    }
    const Block blk{tab, wblock, ldw, K, N, xp, op, biasp};
    if (T > kToks && T * K * int64_t(sizeof(float)) <= kRowsOuterMaxXBytes && !widen)
      rows_outer(blk, n0, n1, T);
    else
      tokens_outer(blk, n0, n1, T);
  });
}

}  // namespace ember::cpu
