// out[T, N] = x[T, K] · w[N, K]ᵀ over bf16 weights packed in panels of 16 rows (see
// TensorLayout::CpuBf16Panels16). Each k-pair of a panel is 64 contiguous bytes: one load gives
// the 16 rows' elements 2j and 2j+1, widened by a shift (low halves) and a mask (high halves).
// A tile is 16 rows x up to 6 tokens, each accumulator a vector across rows, the token's x[k]
// broadcast. Against the row-major kernel (a dot product along K per row and token) this needs
// no horizontal sums, converts each weight once per tile of tokens instead of once per token
// row, and streams every panel as one contiguous run: ~20% more FMAs per cycle from L1.
//
// Every output is one multiply-add chain over k = 0, 1, ..., K-1 (then + bias; fused on AVX2,
// rounded twice per step by the scalar fallback), whatever the tile, the token count or the
// thread count: a row's result does not depend on the batch. Tiles of several tokens run K in
// chunks, the accumulators parked in `out` between them; storing and reloading a float is
// exact, so the chain is the same.

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/core/host_memory.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

constexpr int64_t kPanel = 16;
constexpr int kToks = 6;          // tokens per tile at most
constexpr int64_t kKChunk = 256;       // k per pass for tiles of 3 or more tokens (even)
constexpr int64_t kKChunkSmall = 128;  // the same for steps of 7 to 16 tokens (see k_chunk)
constexpr int64_t kXBlockBytes = 256 * 1024;

int64_t panel_words(int64_t K) { return K / 2 * kPanel; }  // u32 words per panel

// One tile over K elements (a chunk: p and x start at its first k): NP consecutive panels at p
// (panel_words apart) x TT tokens, `rows` (<= NP * 16) valid rows, outputs out[t * ldo + r].
// `resume`: the accumulators start from out (the previous chunk's) instead of zero; bias is
// given for the last chunk only. Few tokens take several panels at once so that there are enough
// independent accumulator chains (8) to hide the FMA latency.
using PanelFn = void (*)(const uint32_t* p, int64_t pw, int64_t K, const float* x, int64_t ldx,
                         float* out, int64_t ldo, int rows, const float* bias, bool resume);

void store_rows(const float* acc, int rows, const float* bias, float* out) {
  for (int r = 0; r < rows; ++r) out[r] = acc[r] + (bias ? bias[r] : 0.f);
}

void load_rows(const float* out, int rows, float* acc) {
  for (int r = 0; r < rows; ++r) acc[r] = out[r];
}

template <int NP, int TT>
void panel_scalar(const uint32_t* p, int64_t pw, int64_t K, const float* x, int64_t ldx,
                  float* out, int64_t ldo, int rows, const float* bias, bool resume) {
  float acc[TT][NP * kPanel] = {};
  if (resume)
    for (int t = 0; t < TT; ++t) load_rows(out + t * ldo, rows, acc[t]);
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
alignas(32) const uint32_t kHiMaskWords[8] = {0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u,
                                              0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u};

// g & 0xffff0000 per word with the mask as the instruction's memory operand (always in L1): no
// register to hold it, and one ALU op where a shift pair would take two. The asm keeps the
// compiler from hoisting the mask into a register, which the widest tiles do not have.
EMBER_AVX2 inline __m256i and_hi_mask_from_memory(__m256i g) {
  asm("vpand %[m], %[v], %[v]" : [v] "+x"(g) : [m] "m"(kHiMaskWords));
  return g;
}

template <int NP, int TT>
EMBER_AVX2 void panel_avx2(const uint32_t* p, int64_t pw, int64_t K, const float* x,
                           int64_t ldx, float* out, int64_t ldo, int rows, const float* bias,
                           bool resume) {
  __m256 a[NP][2][TT];
  if (!resume) {
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q)
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) a[q][0][t] = a[q][1][t] = _mm256_setzero_ps();
  } else if (rows == NP * kPanel) {
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q)
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        a[q][0][t] = _mm256_loadu_ps(out + t * ldo + q * kPanel);
        a[q][1][t] = _mm256_loadu_ps(out + t * ldo + q * kPanel + 8);
      }
  } else {
    alignas(32) float acc[NP * kPanel] = {};
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      load_rows(out + t * ldo, rows, acc);
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q) {
        a[q][0][t] = _mm256_load_ps(acc + q * kPanel);
        a[q][1][t] = _mm256_load_ps(acc + q * kPanel + 8);
      }
    }
  }
  const __m256i hi_mask = _mm256_set1_epi32(int(0xffff0000u));
  for (int64_t k = 0; k < K; k += 2) {
    if constexpr (NP == 1) {
      // 2 x TT accumulators, 2 weight vectors and 1 broadcast at a time: the x values are
      // loaded where they are used (holding all of them would spill).
      const __m256i* g = reinterpret_cast<const __m256i*>(p + k / 2 * kPanel);
      __m256i g0 = _mm256_load_si256(g), g1 = _mm256_load_si256(g + 1);
      __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(g0, 16));
      __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(g1, 16));
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        const __m256 xb = _mm256_broadcast_ss(x + t * ldx + k);
        a[0][0][t] = _mm256_fmadd_ps(w0, xb, a[0][0][t]);
        a[0][1][t] = _mm256_fmadd_ps(w1, xb, a[0][1][t]);
      }
      if constexpr (TT > 4) {
        // 2 x TT accumulators leave room for the two weight vectors and one broadcast only: the
        // panel's k-pair is loaded again (from L1) for the high halves rather than held, and
        // masked with the mask read from memory, which needs no register. (Against the two
        // shifts this replaced: 2.5-5.5% faster at 16 and 128 tokens, one and two threads,
        // A/B alternated in one process.) The empty asm hides g's value from the compiler,
        // which would otherwise keep the first loads alive through the low pass and spill
        // accumulators instead.
        asm("" : "+r"(g));
        g0 = _mm256_load_si256(g), g1 = _mm256_load_si256(g + 1);
        w0 = _mm256_castsi256_ps(and_hi_mask_from_memory(g0));
        w1 = _mm256_castsi256_ps(and_hi_mask_from_memory(g1));
      } else {
        w0 = _mm256_castsi256_ps(_mm256_and_si256(g0, hi_mask));
        w1 = _mm256_castsi256_ps(_mm256_and_si256(g1, hi_mask));
      }
#pragma GCC unroll 8
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
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      x0[t] = _mm256_broadcast_ss(x + t * ldx + k);
      x1[t] = _mm256_broadcast_ss(x + t * ldx + k + 1);
    }
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q) {
      const __m256i* g = reinterpret_cast<const __m256i*>(p + q * pw + k / 2 * kPanel);
      const __m256i g0 = _mm256_load_si256(g), g1 = _mm256_load_si256(g + 1);
      const __m256 lo0 = _mm256_castsi256_ps(_mm256_slli_epi32(g0, 16));
      const __m256 lo1 = _mm256_castsi256_ps(_mm256_slli_epi32(g1, 16));
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        a[q][0][t] = _mm256_fmadd_ps(lo0, x0[t], a[q][0][t]);
        a[q][1][t] = _mm256_fmadd_ps(lo1, x0[t], a[q][1][t]);
      }
      const __m256 hi0 = _mm256_castsi256_ps(_mm256_and_si256(g0, hi_mask));
      const __m256 hi1 = _mm256_castsi256_ps(_mm256_and_si256(g1, hi_mask));
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        a[q][0][t] = _mm256_fmadd_ps(hi0, x1[t], a[q][0][t]);
        a[q][1][t] = _mm256_fmadd_ps(hi1, x1[t], a[q][1][t]);
      }
    }
  }
  if (rows == NP * kPanel && !bias) {
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q)
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        _mm256_storeu_ps(out + t * ldo + q * kPanel, a[q][0][t]);
        _mm256_storeu_ps(out + t * ldo + q * kPanel + 8, a[q][1][t]);
      }
    return;
  }
  alignas(32) float acc[NP * kPanel];
#pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) {
#pragma GCC unroll 8
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

// fn[tt - 1][np - 1]: tt tokens x np panels, np up to panels_for(tt) (fewer for the last
// panels of a task, which would otherwise run one at a time with half the chains).
struct PanelTable {
  PanelFn fn[kToks][4];
};

template <template <int, int> class K>
PanelTable make_table() {
  return {{{K<1, 1>::fn, K<2, 1>::fn, K<3, 1>::fn, K<4, 1>::fn},
           {K<1, 2>::fn, K<2, 2>::fn},
           {K<1, 3>::fn},
           {K<1, 4>::fn},
           {K<1, 5>::fn},
           {K<1, 6>::fn}}};
}

template <int NP, int TT>
struct Scalar {
  static constexpr PanelFn fn = &panel_scalar<NP, TT>;
};
#ifdef EMBER_X86
template <int NP, int TT>
struct Avx2 {
  static constexpr PanelFn fn = &panel_avx2<NP, TT>;
};
#endif

PanelTable table_for(Isa isa) {
#ifdef EMBER_X86
  if (isa == Isa::Avx2) return make_table<Avx2>();
#endif
  return make_table<Scalar>();
}

struct Panels {
  PanelTable tab;
  const uint32_t* w;
  int64_t K, N, T;
  const float* x;
  float* out;
  const float* bias;
  // Tokens in blocks whose x (at most kXBlockBytes) stays in L2 while the panels pass.
  int64_t block_tokens() const { return std::max<int64_t>(kToks, kXBlockBytes / (K * 4)); }
  // Tiles of one or two tokens run over all of K at once (their x is a few KiB); larger ones
  // take K in chunks so that a panel's chunk (8 KiB) and the tile's x (6 KiB) stay in L1 while
  // every tile passes, instead of both streaming from L2. (On the 2-vCPU dev VM a tile kernel
  // fed from L2 ran ~25% slower on each vCPU when both ran; from L1, about as fast as alone.)
  // Steps of 7 to 16 tokens (2 or 3 tiles: decode batches) reuse every tile's x across panels,
  // and at 256 their x (16 KiB) plus the chunk and the next panel's prefetched lines overflow
  // the 32 KiB L1; at 128 they fit. Beyond 16 tokens x cannot stay anyway, and the longer chunk
  // halves the calls. (Decode of 16 on the ~100M model, one thread: faster in 7 of 8 alternated
  // runs, by up to 20%; on two threads, within this VM's noise.)
  int64_t k_chunk() const {
    if (T <= 2) return K;
    return std::min(K, T > kToks && T <= 16 ? kKChunkSmall : kKChunk);
  }
  // Tokens [t0, t1) (at most kToks) x k in [k0, k1) against panels from `panel` (at most up to
  // `last`); returns how many panels it took.
  int64_t tile(int64_t panel, int64_t last, int64_t t0, int64_t t1, int64_t k0, int64_t k1) const {
    const int tt = int(t1 - t0);
    const int64_t np = std::min<int64_t>(panels_for(tt), last - panel);
    const int64_t r0 = panel * kPanel;
    const int rows = int(std::min(np * kPanel, N - r0));
    tab.fn[tt - 1][np - 1](w + panel * panel_words(K) + k0 / 2 * kPanel, panel_words(K), k1 - k0,
                           x + t0 * K + k0, K, out + t0 * N + r0, N, rows,
                           bias && k1 == K ? bias + r0 : nullptr, k0 > 0);
    return np;
  }
};

// Splits tokens [b0, b1) into tiles of as even a size as possible (16 tokens: 5, 5, 6), so that
// no tile is left with a token or two and too few accumulator chains.
struct TokenTiles {
  int64_t b0, n, tiles;
  TokenTiles(int64_t b0_, int64_t b1) : b0(b0_), n(b1 - b0_), tiles((n + kToks - 1) / kToks) {}
  int64_t start(int64_t i) const { return b0 + i * n / tiles; }
};

// Within a block of tokens, each group of panels meets every token before the next group: the
// weights stream from memory once per block (once per matmul up to decode sizes). Within a
// group, a chunk of K at a time passes every tile of tokens. The next group's lines are
// prefetched a few per tile (the weights of decode-sized steps come from DRAM with little work
// per byte).
void run_panels(const Panels& p, int64_t first, int64_t last) {
  const int64_t kc = p.k_chunk(), chunks = (p.K + kc - 1) / kc, tb = p.block_tokens();
  const int64_t first_tile = TokenTiles(0, std::min(p.T, tb)).start(1);
  const int64_t group = panels_for(int(first_tile));
  const int64_t lines = group * panel_words(p.K) * 4 / 64;
  for (int64_t b0 = 0; b0 < p.T; b0 += tb) {
    const TokenTiles tt(b0, std::min(p.T, b0 + tb));
    const int64_t calls = tt.tiles * chunks;
    const int64_t per_call = calls > 1 ? lines / calls + 1 : 0;
    for (int64_t g0 = first; g0 < last;) {
      const int64_t g1 = std::min(last, g0 + group);
      const char* next = reinterpret_cast<const char*>(p.w + g1 * panel_words(p.K));
      int64_t line = g1 < last ? 0 : lines;
      for (int64_t k0 = 0; k0 < p.K; k0 += kc) {
        const int64_t k1 = std::min(p.K, k0 + kc);
        for (int64_t i = 0; i < tt.tiles; ++i) {
          for (int64_t j = 0; j < per_call && line < lines; ++j, ++line)
            __builtin_prefetch(next + line * 64, 0, 3);
          const int64_t t0 = tt.start(i), t1 = tt.start(i + 1);
          for (int64_t panel = g0; panel < g1;) panel += p.tile(panel, g1, t0, t1, k0, k1);
        }
      }
      g0 = g1;
    }
  }
}

}  // namespace

Tensor pack_bf16_panels(const Ctx& c, const Tensor& w,
                        const std::function<void(int64_t)>& consumed) {
  if (w.layout != TensorLayout::RowMajor || w.dtype != DType::BF16 || w.shape.size() != 2 ||
      w.shape[1] % 2 != 0 || w.shape[0] == 0 || w.shape[1] == 0)
    return w;
  const int64_t N = w.shape[0], K = w.shape[1], panels = (N + kPanel - 1) / kPanel;
  const size_t bytes = size_t(panels * panel_words(K)) * sizeof(uint32_t);
  // Huge pages also spare a first-touch fault per 4 KiB of the packed copy at load.
  Tensor t;
  t.owner = alloc_host_buffer(bytes);
  void* mem = t.owner.get();
  t.data = mem;
  t.dtype = DType::BF16;
  t.shape = w.shape;
  t.layout = TensorLayout::CpuBf16Panels16;
  const uint32_t* src = w.as<uint32_t>();  // a row's element pair (2j, 2j+1) is word j
  uint32_t* dst = static_cast<uint32_t*>(mem);
  // Row by row within a panel: each source row is read once, in order, and the panel (a few
  // tens of KiB) stays in cache while its 16 columns of words are filled. Slabs of panels in
  // order, so that `consumed` can hear of the rows read so far.
  const int64_t slab = consumed ? 256 : panels;
  for (int64_t p0 = 0; p0 < panels; p0 += slab) {
    const int64_t p1 = std::min(panels, p0 + slab);
    c.pool->run(p1 - p0, [&](int64_t i) {
      uint32_t* out = dst + (p0 + i) * panel_words(K);
      for (int64_t r = 0; r < kPanel; ++r) {
        const int64_t row = (p0 + i) * kPanel + r;
        if (row >= N) {
          for (int64_t j = 0; j < K / 2; ++j) out[j * kPanel + r] = 0;
          continue;
        }
        const uint32_t* in = src + row * (K / 2);
        for (int64_t j = 0; j < K / 2; ++j) out[j * kPanel + r] = in[j];
      }
    });
    if (consumed) consumed(std::min(N, p1 * kPanel));
  }
  return t;
}

void matmul_panels(const Ctx& c, const Tensor& x, const Tensor& w, const float* bias,
                   Tensor& out) {
  const int64_t T = x.rows(), K = x.cols(), N = w.shape[0];
  const int64_t panels = (N + kPanel - 1) / kPanel;
  const float* xp = x.as<float>();
  if (c.bf16_matmul_inputs) {
    if (c.isa == Isa::Avx2 && cpu_has_avx512_bf16())
      return matmul_panels_bf16dot(c, x, w, bias, out);
    // No bf16 dot product here: the same rounding of x, then the fp32 kernel. The buffer is
    // reused across calls, as the dot-product kernel's is (a prefill's x is megabytes).
    static thread_local std::vector<float> rounded;
    if (rounded.size() < size_t(T * K)) rounded.resize(size_t(T * K));
    for (int64_t i = 0; i < T * K; ++i) rounded[size_t(i)] = bf16_to_f32(f32_to_bf16(xp[i]));
    xp = rounded.data();
  }
  const Panels p{table_for(c.isa), w.as<uint32_t>(), K, N, T, xp, out.as<float>(), bias};
  // About four tasks per thread for balance, of whole panels.
  const int64_t want_tasks = int64_t(c.pool->size()) * 4;
  const int64_t per_task = std::max<int64_t>(1, (panels + want_tasks - 1) / want_tasks);
  const int64_t n_tasks = (panels + per_task - 1) / per_task;
  c.pool->run(n_tasks, [&](int64_t task) {
    const int64_t first = task * per_task;
    run_panels(p, first, std::min(panels, first + per_task));
  });
}

}  // namespace ember::cpu
