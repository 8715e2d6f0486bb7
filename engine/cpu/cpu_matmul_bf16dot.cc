// The packed-panel matmul with bf16 inputs (CpuBackendOptions::bf16_matmul_inputs): x is
// rounded to bf16 (nearest even) once per call, and each k-pair of a panel meets the token's
// x pair in one AVX-512 BF16 dot product (vdpbf16ps: 16 rows x 2 products per instruction, twice
// the multiply-adds of an fp32 FMA). It computes what llama.cpp computes for bf16 weights, and
// what a GPU computes with bf16 activations; the f32 path stays the reference (exact products
// of the bf16 weights with fp32 x).
//
// Every output is one chain of dot-product steps over k-pairs 0, 1, ..., K/2-1 (then + bias),
// whatever the tile or the token count: a row's result does not depend on the batch.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {

#ifdef EMBER_X86
namespace {

constexpr int64_t kPanel = 16;
constexpr int kMaxToks = 12;

#define EMBER_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// x [T, K] fp32 -> [T, K/2] words, word j = (bf16(x[2j]) low, bf16(x[2j+1]) high), rounded to
// nearest even.
EMBER_AVX512BF16 void to_bf16_pairs(const float* x, int64_t K, uint32_t* out) {
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(x + k));
    _mm512_storeu_si512(out + k / 2, (__m512i)v);
  }
  for (; k < K; k += 2)
    out[k / 2] = uint32_t(f32_to_bf16(x[k])) | (uint32_t(f32_to_bf16(x[k + 1])) << 16);
}

// NP panels (pw words apart) x TT tokens over all of K: acc[q][t] is a vector across panel q's
// 16 rows. `rows` valid rows of the NP * 16; out[t * ldo + r]. `next`: the next NP panels, whose
// lines a decode-sized tile (little work per weight byte) fetches while it computes, as the
// fp32 kernel does (the hardware prefetcher does not keep NP streams ahead on its own).
template <int NP, int TT>
EMBER_AVX512BF16 void tile(const uint32_t* p, int64_t pw, int64_t K, const uint32_t* xb,
                           int64_t ldx, float* out, int64_t ldo, int rows, const float* bias,
                           const uint32_t* next) {
  __m512 acc[NP][TT];
#pragma GCC unroll 16
  for (int q = 0; q < NP; ++q)
#pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) acc[q][t] = _mm512_setzero_ps();
  for (int64_t j = 0; j < K / 2; ++j) {
    if constexpr (TT <= 4)
      if (next)
#pragma GCC unroll 16
        for (int q = 0; q < NP; ++q) _mm_prefetch(next + q * pw + j * kPanel, _MM_HINT_T0);
    __m512bh w[NP];
#pragma GCC unroll 16
    for (int q = 0; q < NP; ++q) w[q] = (__m512bh)_mm512_load_si512(p + q * pw + j * kPanel);
#pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) {
      const __m512bh xv = (__m512bh)_mm512_set1_epi32(int(xb[t * ldx + j]));
#pragma GCC unroll 16
      for (int q = 0; q < NP; ++q) acc[q][t] = _mm512_dpbf16_ps(acc[q][t], w[q], xv);
    }
  }
#pragma GCC unroll 16
  for (int q = 0; q < NP; ++q) {
    const int r = std::min<int>(kPanel, rows - q * int(kPanel));
    if (r <= 0) break;
    const __mmask16 m = __mmask16((1u << r) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + q * kPanel) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int t = 0; t < TT; ++t)
      _mm512_mask_storeu_ps(out + t * ldo + q * kPanel, m, _mm512_add_ps(acc[q][t], b));
  }
}

using TileFn = void (*)(const uint32_t*, int64_t, int64_t, const uint32_t*, int64_t, float*,
                        int64_t, int, const float*, const uint32_t*);

// Panels per tile for tt tokens: at most 24 accumulators (of 32 registers) and, where the
// tokens allow, 8 or more independent chains to cover the dot product's latency.
constexpr int panels_for(int tt) { return tt >= 9 ? 2 : tt >= 5 ? 3 : tt >= 3 ? 6 : 8; }

template <int TT>
constexpr TileFn wide() {
  return &tile<panels_for(TT), TT>;
}

constexpr TileFn kWide[kMaxToks] = {wide<1>(), wide<2>(),  wide<3>(),  wide<4>(),
                                    wide<5>(), wide<6>(),  wide<7>(),  wide<8>(),
                                    wide<9>(), wide<10>(), wide<11>(), wide<12>()};
constexpr TileFn kOne[kMaxToks] = {&tile<1, 1>, &tile<1, 2>,  &tile<1, 3>,  &tile<1, 4>,
                                   &tile<1, 5>, &tile<1, 6>,  &tile<1, 7>,  &tile<1, 8>,
                                   &tile<1, 9>, &tile<1, 10>, &tile<1, 11>, &tile<1, 12>};

}  // namespace

bool cpu_has_avx512_bf16() {
  static const bool has = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bf16");
  return has;
}

void matmul_panels_bf16dot(const Ctx& c, const Tensor& x, const Tensor& w, const float* bias,
                           Tensor& out) {
  const int64_t T = x.rows(), K = x.cols(), N = w.shape[0];
  if (T == 0) return;
  const int64_t panels = (N + kPanel - 1) / kPanel, pw = K / 2 * kPanel, ldx = K / 2;
  // Reused across calls: a prefill's x in pairs is megabytes, not worth faulting in each time.
  static thread_local std::vector<uint32_t> xb_store;
  if (xb_store.size() < size_t(T * ldx)) xb_store.resize(size_t(T * ldx));
  uint32_t* xb = xb_store.data();
  const float* xp = x.as<float>();
  parallel_ranges(c, T, 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) to_bf16_pairs(xp + t * K, K, xb + t * ldx);
  });
  // Tiles of as even a size as possible (16 tokens: 8 + 8), each meeting a task's panels.
  const int64_t tiles = (T + kMaxToks - 1) / kMaxToks;
  const uint32_t* wp = w.as<uint32_t>();
  float* op = out.as<float>();
  // Tasks of whole panel groups, about four per thread; each task takes every token through
  // its panels, group by group, so a group's weights stay in L1/L2 across the token tiles.
  const int64_t group = panels_for(int(T / tiles));  // the narrower tiles' width
  const int64_t groups = (panels + group - 1) / group;
  const int64_t want = int64_t(c.pool->size()) * 4;
  const int64_t per_task = std::max<int64_t>(1, (groups + want - 1) / want);
  c.pool->run((groups + per_task - 1) / per_task, [&](int64_t task) {
    const int64_t g_end = std::min(groups, (task + 1) * per_task);
    for (int64_t g = task * per_task; g < g_end; ++g) {
      const int64_t p0 = g * group, p1 = std::min(panels, p0 + group);
      for (int64_t i = 0; i < tiles; ++i) {
        const int64_t t0 = i * T / tiles, t1 = (i + 1) * T / tiles;
        const int tt = int(t1 - t0);
        int64_t pn = p0;
        if (p1 - p0 == panels_for(tt)) {
          const int rows = int(std::min<int64_t>((p1 - p0) * kPanel, N - p0 * kPanel));
          // The next whole group of this task, once the last tile of this one is under way.
          const bool prefetch = i == tiles - 1 && g + 1 < g_end && p1 + group <= panels;
          kWide[tt - 1](wp + p0 * pw, pw, K, xb + t0 * ldx, ldx, op + t0 * N + p0 * kPanel, N,
                        rows, bias ? bias + p0 * kPanel : nullptr,
                        prefetch ? wp + p1 * pw : nullptr);
          pn = p1;
        }
        for (; pn < p1; ++pn) {  // a short group (the last, or a tile narrower than planned)
          const int rows = int(std::min<int64_t>(kPanel, N - pn * kPanel));
          kOne[tt - 1](wp + pn * pw, pw, K, xb + t0 * ldx, ldx, op + t0 * N + pn * kPanel, N,
                       rows, bias ? bias + pn * kPanel : nullptr, nullptr);
        }
      }
    }
  });
}

#else

bool cpu_has_avx512_bf16() { return false; }
void matmul_panels_bf16dot(const Ctx&, const Tensor&, const Tensor&, const float*, Tensor&) {
  fail("cpu matmul: bf16 dot products need an x86 CPU with AVX-512 BF16");
}

#endif

}  // namespace ember::cpu
