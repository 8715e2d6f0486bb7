// out[T, N] = x[T, K] · w[N, K]ᵀ over bf16 weights packed in panels of 16 rows (see
// TensorLayout::CpuBf16Panels16). Each k-pair of a panel is 64 contiguous bytes: one load gives
// the 16 rows' elements 2j and 2j+1, widened by a shift (low halves) and a mask (high halves).
// A tile is 16 rows x up to 4 tokens, each accumulator a vector across rows, the token's x[k]
// broadcast. Against the row-major kernel (a dot product along K per row and token) this needs
// no horizontal sums, converts each weight once per tile of tokens instead of once per token
// row, and streams every panel as one contiguous run: ~20% more FMAs per cycle from L1.
//
// Every output is one multiply-add chain over k = 0, 1, ..., K-1 (then + bias; fused on AVX2,
// rounded twice per step by the scalar fallback), whatever the tile, the token count or the
// thread count: a row's result does not depend on the batch.
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

constexpr int64_t kPanel = 16;
constexpr int kToks = 4;
// Steps whose activations fit this take every token past a panel before the next panel (whose
// lines are prefetched meanwhile); larger ones run each tile of tokens over a few panels in L2.
constexpr int64_t kPanelsOuterMaxXBytes = 128 * 1024;
constexpr int64_t kL2PanelBytes = 160 * 1024;

int64_t panel_words(int64_t K) { return K / 2 * kPanel; }  // u32 words per panel

// One tile: NP consecutive panels at p (panel_words apart) x TT tokens, `rows` (<= NP * 16)
// valid rows, outputs out[t * ldo + r]. Few tokens take several panels at once so that there
// are enough independent accumulator chains (8) to hide the FMA latency.
using PanelFn = void (*)(const uint32_t* p, int64_t pw, int64_t K, const float* x, int64_t ldx,
                         float* out, int64_t ldo, int rows, const float* bias);

void store_rows(const float* acc, int rows, const float* bias, float* out) {
  for (int r = 0; r < rows; ++r) out[r] = acc[r] + (bias ? bias[r] : 0.f);
}

template <int NP, int TT>
void panel_scalar(const uint32_t* p, int64_t pw, int64_t K, const float* x, int64_t ldx,
                  float* out, int64_t ldo, int rows, const float* bias) {
  float acc[TT][NP * kPanel] = {};
  for (int64_t k = 0; k < K; k += 2)
    for (int q = 0; q < NP; ++q) {
      const uint32_t* g = p + q * pw + k / 2 * kPanel;
      for (int t = 0; t < TT; ++t) {
        const float x0 = x[t * ldx + k], x1 = x[t * ldx + k + 1];
        float* a = acc[t] + q * kPanel;
        for (int r = 0; r < kPanel; ++r) a[r] += bf16_to_f32(uint16_t(g[r] & 0xffff)) * x0;
        for (int r = 0; r < kPanel; ++r) a[r] += bf16_to_f32(uint16_t(g[r] >> 16)) * x1;
      }
    }
  for (int t = 0; t < TT; ++t) store_rows(acc[t], rows, bias, out + t * ldo);
}

#ifdef EMBER_X86
template <int NP, int TT>
EMBER_AVX2 void panel_avx2(const uint32_t* p, int64_t pw, int64_t K, const float* x,
                           int64_t ldx, float* out, int64_t ldo, int rows, const float* bias) {
  __m256 a[NP][2][TT];
#pragma GCC unroll 4
  for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) a[q][0][t] = a[q][1][t] = _mm256_setzero_ps();
  const __m256i hi_mask = _mm256_set1_epi32(int(0xffff0000u));
  for (int64_t k = 0; k < K; k += 2) {
    if constexpr (NP == 1) {
      // 8 accumulators, 2 weight vectors and 1 broadcast at a time: the x values are loaded
      // where they are used (holding all of them would spill).
      const __m256i* g = reinterpret_cast<const __m256i*>(p + k / 2 * kPanel);
      const __m256i g0 = _mm256_load_si256(g), g1 = _mm256_load_si256(g + 1);
      __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(g0, 16));
      __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(g1, 16));
#pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        const __m256 xb = _mm256_broadcast_ss(x + t * ldx + k);
        a[0][0][t] = _mm256_fmadd_ps(w0, xb, a[0][0][t]);
        a[0][1][t] = _mm256_fmadd_ps(w1, xb, a[0][1][t]);
      }
      w0 = _mm256_castsi256_ps(_mm256_and_si256(g0, hi_mask));
      w1 = _mm256_castsi256_ps(_mm256_and_si256(g1, hi_mask));
#pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        const __m256 xb = _mm256_broadcast_ss(x + t * ldx + k + 1);
        a[0][0][t] = _mm256_fmadd_ps(w0, xb, a[0][0][t]);
        a[0][1][t] = _mm256_fmadd_ps(w1, xb, a[0][1][t]);
      }
      continue;
    }
    // Several panels for one or two tokens: the (at most 4) broadcasts are held, each panel's
    // pair of weight vectors is loaded and used in turn.
    __m256 x0[TT], x1[TT];
#pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) {
      x0[t] = _mm256_broadcast_ss(x + t * ldx + k);
      x1[t] = _mm256_broadcast_ss(x + t * ldx + k + 1);
    }
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      const __m256i* g = reinterpret_cast<const __m256i*>(p + q * pw + k / 2 * kPanel);
      const __m256i g0 = _mm256_load_si256(g), g1 = _mm256_load_si256(g + 1);
      const __m256 lo0 = _mm256_castsi256_ps(_mm256_slli_epi32(g0, 16));
      const __m256 lo1 = _mm256_castsi256_ps(_mm256_slli_epi32(g1, 16));
#pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        a[q][0][t] = _mm256_fmadd_ps(lo0, x0[t], a[q][0][t]);
        a[q][1][t] = _mm256_fmadd_ps(lo1, x0[t], a[q][1][t]);
      }
      const __m256 hi0 = _mm256_castsi256_ps(_mm256_and_si256(g0, hi_mask));
      const __m256 hi1 = _mm256_castsi256_ps(_mm256_and_si256(g1, hi_mask));
#pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        a[q][0][t] = _mm256_fmadd_ps(hi0, x1[t], a[q][0][t]);
        a[q][1][t] = _mm256_fmadd_ps(hi1, x1[t], a[q][1][t]);
      }
    }
  }
  if (rows == NP * kPanel && !bias) {
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        _mm256_storeu_ps(out + t * ldo + q * kPanel, a[q][0][t]);
        _mm256_storeu_ps(out + t * ldo + q * kPanel + 8, a[q][1][t]);
      }
    return;
  }
  alignas(32) float acc[NP * kPanel];
#pragma GCC unroll 4
  for (int t = 0; t < TT; ++t) {
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      _mm256_store_ps(acc + q * kPanel, a[q][0][t]);
      _mm256_store_ps(acc + q * kPanel + 8, a[q][1][t]);
    }
    store_rows(acc, rows, bias, out + t * ldo);
  }
}
#endif

// Panels per tile for a tile of tt tokens (8 accumulator chains), and the kernels.
constexpr int panels_for(int tt) { return tt == 1 ? 4 : tt == 2 ? 2 : 1; }

struct PanelTable {
  PanelFn wide[kToks];  // panels_for(tt) panels
  PanelFn one[kToks];   // one panel (the last few of a task)
};

PanelTable table_for(Isa isa) {
#ifdef EMBER_X86
  if (isa == Isa::Avx2)
    return {{&panel_avx2<4, 1>, &panel_avx2<2, 2>, &panel_avx2<1, 3>, &panel_avx2<1, 4>},
            {&panel_avx2<1, 1>, &panel_avx2<1, 2>, &panel_avx2<1, 3>, &panel_avx2<1, 4>}};
#endif
  return {{&panel_scalar<4, 1>, &panel_scalar<2, 2>, &panel_scalar<1, 3>, &panel_scalar<1, 4>},
          {&panel_scalar<1, 1>, &panel_scalar<1, 2>, &panel_scalar<1, 3>, &panel_scalar<1, 4>}};
}

struct Panels {
  PanelTable tab;
  const uint32_t* w;
  int64_t K, N, T;
  const float* x;
  float* out;
  const float* bias;
  // Tokens [t0, t0 + 4) against panels from `panel` (at most up to `last`); returns how many
  // panels it took.
  int64_t tile(int64_t panel, int64_t last, int64_t t0) const {
    const int tt = int(std::min<int64_t>(kToks, T - t0));
    const bool wide = panel + panels_for(tt) <= last;
    const int64_t np = wide ? panels_for(tt) : 1;
    const int64_t r0 = panel * kPanel;
    const int rows = int(std::min(np * kPanel, N - r0));
    const PanelFn fn = wide ? tab.wide[tt - 1] : tab.one[tt - 1];
    fn(w + panel * panel_words(K), panel_words(K), K, x + t0 * K, K, out + t0 * N + r0, N, rows,
       bias ? bias + r0 : nullptr);
    return np;
  }
};

// Decode-sized steps: the weights stream from DRAM with little work per byte, so each group of
// panels meets every token before the next (contiguous, so the hardware prefetcher runs ahead;
// with several tiles of tokens the next group's lines are also prefetched, a few per tile).
void panels_outer(const Panels& p, int64_t first, int64_t last) {
  const int64_t token_tiles = (p.T + kToks - 1) / kToks;
  const int64_t group = panels_for(int(std::min<int64_t>(kToks, p.T)));
  const int64_t lines = group * panel_words(p.K) * 4 / 64;
  const int64_t per_tile = token_tiles > 1 ? lines / token_tiles + 1 : 0;
  for (int64_t g0 = first; g0 < last;) {
    const int64_t g1 = std::min(last, g0 + group);
    const char* next = reinterpret_cast<const char*>(p.w + g1 * panel_words(p.K));
    int64_t line = g1 < last ? 0 : lines;
    for (int64_t t0 = 0; t0 < p.T; t0 += kToks) {
      for (int64_t i = 0; i < per_tile && line < lines; ++i, ++line)
        __builtin_prefetch(next + line * 64, 0, 3);
      for (int64_t panel = g0; panel < g1;) panel += p.tile(panel, g1, t0);
    }
    g0 = g1;
  }
}

// Prefill-sized steps: each tile of tokens runs over a group of panels that stays in L2.
void tokens_outer(const Panels& p, int64_t first, int64_t last) {
  const int64_t group = std::max<int64_t>(1, kL2PanelBytes / (panel_words(p.K) * 4));
  for (int64_t g0 = first; g0 < last; g0 += group) {
    const int64_t g1 = std::min(last, g0 + group);
    for (int64_t t0 = 0; t0 < p.T; t0 += kToks)
      for (int64_t panel = g0; panel < g1;) panel += p.tile(panel, g1, t0);
  }
}

}  // namespace

Tensor pack_bf16_panels(const Ctx& c, const Tensor& w) {
  if (w.layout != TensorLayout::RowMajor || w.dtype != DType::BF16 || w.shape.size() != 2 ||
      w.shape[1] % 2 != 0 || w.shape[0] == 0 || w.shape[1] == 0)
    return w;
  const int64_t N = w.shape[0], K = w.shape[1], panels = (N + kPanel - 1) / kPanel;
  const size_t bytes = size_t(panels * panel_words(K)) * sizeof(uint32_t);
  // Large projections go in transparent huge pages where the kernel offers them (advice only),
  // sparing a first-touch fault per 4 KiB of the packed copy at load; small ones (test models)
  // would waste most of a 2 MiB page.
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t rounded = (bytes + align - 1) / align * align;
  void* mem = std::aligned_alloc(align, rounded);
  if (!mem) throw std::bad_alloc();
  if (align == kHuge) madvise(mem, rounded, MADV_HUGEPAGE);
  Tensor t;
  t.owner = std::shared_ptr<void>(mem, [](void* q) { std::free(q); });
  t.data = mem;
  t.dtype = DType::BF16;
  t.shape = w.shape;
  t.layout = TensorLayout::CpuBf16Panels16;
  const uint32_t* src = w.as<uint32_t>();  // a row's element pair (2j, 2j+1) is word j
  uint32_t* dst = static_cast<uint32_t*>(mem);
  // Row by row within a panel: each source row is read once, in order, and the panel (a few
  // tens of KiB) stays in cache while its 16 columns of words are filled.
  c.pool->run(panels, [&](int64_t p) {
    uint32_t* out = dst + p * panel_words(K);
    for (int64_t r = 0; r < kPanel; ++r) {
      const int64_t row = p * kPanel + r;
      if (row >= N) {
        for (int64_t j = 0; j < K / 2; ++j) out[j * kPanel + r] = 0;
        continue;
      }
      const uint32_t* in = src + row * (K / 2);
      for (int64_t j = 0; j < K / 2; ++j) out[j * kPanel + r] = in[j];
    }
  });
  return t;
}

void matmul_panels(const Ctx& c, const Tensor& x, const Tensor& w, const float* bias,
                   Tensor& out) {
  const int64_t T = x.rows(), K = x.cols(), N = w.shape[0];
  const int64_t panels = (N + kPanel - 1) / kPanel;
  const Panels p{table_for(c.isa), w.as<uint32_t>(), K, N, T, x.as<float>(), out.as<float>(),
                 bias};
  // About four tasks per thread for balance, of whole panels.
  const int64_t want_tasks = int64_t(c.pool->size()) * 4;
  const int64_t per_task = std::max<int64_t>(1, (panels + want_tasks - 1) / want_tasks);
  const int64_t n_tasks = (panels + per_task - 1) / per_task;
  const bool decode_sized = T * K * int64_t(sizeof(float)) <= kPanelsOuterMaxXBytes;
  c.pool->run(n_tasks, [&](int64_t task) {
    const int64_t first = task * per_task, last = std::min(panels, first + per_task);
    if (decode_sized)
      panels_outer(p, first, last);
    else
      tokens_outer(p, first, last);
  });
}

}  // namespace ember::cpu
