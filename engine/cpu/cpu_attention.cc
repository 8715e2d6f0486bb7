// RoPE + KV store, and paged causal attention over the KV pools
// [num_blocks, block_size, n_kv_heads, head_dim] of each layer, F32 or BF16. A BF16 cache holds
// K and V rounded to nearest even when stored; widening back to F32 is exact, and everything after
// the load is the same F32 arithmetic, so attention over a BF16 cache gives the same bits as over
// an F32 cache holding the rounded values.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

// Rotate-half RoPE on one head: the pairs are (i, i + D/2).
void rotate(float* x, const float* cs, const float* sn, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cs[i] - b * sn[i];
    x[i + half] = b * cs[i] + a * sn[i];
  }
}

void check_layer(const KvCache& kv, int layer, const AttnShape& a, const char* op) {
  if (layer < 0 || layer >= int(kv.k.size()) || layer >= int(kv.v.size()))
    fail("cpu {}: layer {} but the KV cache has {} layers", op, layer, kv.k.size());
  if (kv.spec.dtype != DType::F32 && kv.spec.dtype != DType::BF16)
    fail("cpu {}: the KV cache must be F32 or BF16, not {}", op, dtype_name(kv.spec.dtype));
  if (kv.spec.num_kv_heads != a.n_kv_heads || kv.spec.head_dim != a.head_dim)
    fail("cpu {}: KV cache has {} heads x {} dims, the layer {} x {}", op, kv.spec.num_kv_heads,
         kv.spec.head_dim, a.n_kv_heads, a.head_dim);
}

// n values into element `at` of a K or V pool, rounded to nearest even for a BF16 cache.
void store_kv(const float* src, int64_t n, Tensor& pool, int64_t at) {
  if (pool.dtype == DType::BF16) {
    uint16_t* d = pool.as<uint16_t>() + at;
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
  } else {
    std::copy(src, src + n, pool.as<float>() + at);
  }
}

int64_t qkv_width(const AttnShape& a) { return int64_t(a.n_heads + 2 * a.n_kv_heads) * a.head_dim; }

// A K/V element as F32: E is float (an F32 cache) or uint16_t (BF16 bits).
inline float kv_f32(float x) { return x; }
inline float kv_f32(uint16_t x) { return bf16_to_f32(x); }

// One token's query heads that share a KV head, and where that head's K/V rows are: the row of
// position j is at k + slot(j) * row_stride, slot(j) = table[j / bs] * bs + j % bs.
template <class E>
struct GroupAttention {
  const float* q;  // [group, D], the group's query heads side by side
  float* out;      // [group, D]
  int64_t group, D, row_stride;
  const E *k, *v;
  const int32_t* table;
  int bs;
  int64_t lo, hi;  // positions attended, inclusive
  float scale;
  float softcap;   // 0: none; else each score becomes softcap * tanh(score / softcap) (Gemma 2)
  int64_t slot(int64_t j) const { return int64_t(table[j / bs]) * bs + j % bs; }
};

// Gemma 2's attention logit soft-capping, as transformers computes it: s / cap, tanh, * cap.
void softcap_scores(float* score, int64_t n, float cap) {
  if (cap <= 0.f) return;
  for (int64_t i = 0; i < n; ++i) score[i] = std::tanh(score[i] / cap) * cap;
}

// Softmax of each head's row of scores in place (exp(s - max)); returns nothing, writes each
// head's 1 / sum to inv_sum.
void softmax_rows(float* score, int64_t group, int64_t n, float* inv_sum) {
  for (int64_t h = 0; h < group; ++h) {
    float* s = score + h * n;
    const float m = *std::max_element(s, s + n);
    float sum = 0.f;
    for (int64_t j = 0; j < n; ++j) sum += s[j] = std::exp(s[j] - m);
    inv_sum[h] = 1.f / sum;
  }
}

#ifdef EMBER_X86
// softmax_rows with the vector exp, the sum in 8 lanes (in a fixed order for a given n).
EMBER_AVX2 void softmax_rows_avx2(float* score, int64_t group, int64_t n, float* inv_sum) {
  for (int64_t h = 0; h < group; ++h) {
    float* s = score + h * n;
    const float m = *std::max_element(s, s + n);
    for (int64_t j = 0; j < n; ++j) s[j] -= m;
    exp_f32_avx2(s, s, n);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(s + j));
    float sum = hsum8(acc);
    for (; j < n; ++j) sum += s[j];
    inv_sum[h] = 1.f / sum;
  }
}
#endif

template <class E>
void attend_group_portable(const GroupAttention<E>& g, float* score, float* acc) {
  const int64_t n = g.hi - g.lo + 1, D = g.D;
  for (int64_t j = g.lo; j <= g.hi; ++j) {
    const E* kr = g.k + g.slot(j) * g.row_stride;
    for (int64_t h = 0; h < g.group; ++h) {
      const float* q = g.q + h * D;
      float s = 0.f;
      for (int64_t d = 0; d < D; ++d) s += q[d] * kv_f32(kr[d]);
      score[h * n + (j - g.lo)] = s * g.scale;
    }
  }
  std::vector<float> inv(static_cast<size_t>(g.group));
  softcap_scores(score, g.group * n, g.softcap);
  softmax_rows(score, g.group, n, inv.data());
  for (int64_t j = g.lo; j <= g.hi; ++j) {
    const E* vr = g.v + g.slot(j) * g.row_stride;
    for (int64_t h = 0; h < g.group; ++h) {
      const float p = score[h * n + (j - g.lo)];
      float* a = acc + h * D;
      for (int64_t d = 0; d < D; ++d) a[d] += p * kv_f32(vr[d]);
    }
  }
  for (int64_t h = 0; h < g.group; ++h)
    for (int64_t d = 0; d < D; ++d) g.out[h * D + d] = acc[h * D + d] * inv[size_t(h)];
}

#ifdef EMBER_X86
// Brings the row at `pool` + slot(j) toward L1. A head's K and V rows are scattered (paged
// blocks, the other heads' rows between them), so the hardware prefetcher sees no stream; without
// this the Q·K loop waits on memory for nearly every row. K is fetched ahead in the Q·K pass and
// V in the P·V pass: V fetched during Q·K would be evicted again before use at long contexts.
// About a DRAM latency of Q·K work for a GQA group: 8 positions of an F32 head (32 lines).
template <class E>
constexpr int64_t kAhead = 8 * int64_t(sizeof(float) / sizeof(E));
// `elems` from position j's row: one head's D, or all heads' row_stride.
template <class E>
EMBER_AVX2 inline void prefetch_row(const GroupAttention<E>& g, const E* pool, int64_t j,
                                    int64_t elems) {
  const char* row = reinterpret_cast<const char*>(pool + g.slot(j) * g.row_stride);
  for (int64_t b = 0; b < elems * int64_t(sizeof(E)); b += 64) _mm_prefetch(row + b, _MM_HINT_T0);
}

EMBER_AVX2 inline __m256 load8_kv(const float* p) { return _mm256_loadu_ps(p); }
EMBER_AVX2 inline __m256 load8_kv(const uint16_t* p) { return load8_bf16(p); }

// q·k (D % 8 == 0) times the scale, as both attention kernels compute it: the same bits for a
// head whichever kernel ran it. DC: D known at compile time (0: not), so that the loop unrolls;
// the operations and their order are the same either way.
template <class E, int DC = 0>
EMBER_AVX2 inline float qk_score(const float* q, const E* k, int64_t D_, float scale) {
  const int64_t D = DC > 0 ? DC : D_;
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 16 <= D; d += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8_kv(k + d), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), load8_kv(k + d + 8), s1);
  }
  if (d < D) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8_kv(k + d), s0);
  return hsum8(_mm256_add_ps(s0, s1)) * scale;
}

// qk_score<E, 64> with the K row already in registers: the same operations in the same order.
EMBER_AVX2 inline float qk_score_held(const float* q, const __m256* k, float scale) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int c = 0; c < 8; c += 2) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), k[c], s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c + 8), k[c + 1], s1);
  }
  return hsum8(_mm256_add_ps(s0, s1)) * scale;
}

// One head's P·V over NV vectors (8·NV dims) from d0, accumulators in registers. NV is a
// template argument so that the compiler keeps them there: with a run-time count it spilled
// them to the stack on every position.
template <int NV, class E>
EMBER_AVX2 inline void pv_chunk(const GroupAttention<E>& g, const float* p, __m256 inv_h,
                                int64_t d0, float* out) {
  __m256 a[NV];
#pragma GCC unroll 8
  for (int c = 0; c < NV; ++c) a[c] = _mm256_setzero_ps();
  for (int64_t j = g.lo; j <= g.hi; ++j) {
    if (d0 == 0 && j + kAhead<E> <= g.hi) prefetch_row(g, g.v, j + kAhead<E>, g.D);
    const E* vr = g.v + g.slot(j) * g.row_stride + d0;
    const __m256 pj = _mm256_set1_ps(p[j - g.lo]);
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) a[c] = _mm256_fmadd_ps(pj, load8_kv(vr + 8 * c), a[c]);
  }
#pragma GCC unroll 8
  for (int c = 0; c < NV; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(a[c], inv_h));
}

// D % 8 == 0. The same arithmetic per head whatever the batch, so results stay batch-invariant.
template <class E>
EMBER_AVX2 void attend_group_avx2(const GroupAttention<E>& g, float* score) {
  const int64_t n = g.hi - g.lo + 1, D = g.D, ahead = kAhead<E>;
  for (int64_t j = g.lo; j <= std::min(g.hi, g.lo + ahead - 1); ++j) prefetch_row(g, g.k, j, D);
  for (int64_t j = g.lo; j <= g.hi; ++j) {
    if (j + ahead <= g.hi) prefetch_row(g, g.k, j + ahead, D);
    const E* kr = g.k + g.slot(j) * g.row_stride;
    for (int64_t h = 0; h < g.group; ++h) {
      score[h * n + (j - g.lo)] = qk_score(g.q + h * D, kr, D, g.scale);
    }
  }
  std::vector<float> inv(static_cast<size_t>(g.group));
  softcap_scores(score, g.group * n, g.softcap);
  softmax_rows_avx2(score, g.group, n, inv.data());
  // P·V with the accumulators in registers, 64 dims of one head at a time: the V rows come
  // from L1/L2 again for each head of the group, which is cheaper than a store-to-load chain
  // through memory for every position.
  for (int64_t h = 0; h < g.group; ++h) {
    const float* p = score + h * n;
    const __m256 inv_h = _mm256_set1_ps(inv[size_t(h)]);
    float* out = g.out + h * D;
    int64_t d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) pv_chunk<8, E>(g, p, inv_h, d0, out + d0);
    switch ((D - d0) / 8) {  // D % 8 == 0
      case 7: pv_chunk<7, E>(g, p, inv_h, d0, out + d0); break;
      case 6: pv_chunk<6, E>(g, p, inv_h, d0, out + d0); break;
      case 5: pv_chunk<5, E>(g, p, inv_h, d0, out + d0); break;
      case 4: pv_chunk<4, E>(g, p, inv_h, d0, out + d0); break;
      case 3: pv_chunk<3, E>(g, p, inv_h, d0, out + d0); break;
      case 2: pv_chunk<2, E>(g, p, inv_h, d0, out + d0); break;
      case 1: pv_chunk<1, E>(g, p, inv_h, d0, out + d0); break;
      default: break;
    }
  }
}

// All of one token's KV heads in one task (steps with enough tokens to keep the threads busy):
// a position's K (then V) rows of every head are one contiguous run, which the hardware
// prefetcher follows, where a single head's rows are 256-byte pieces 1 KiB apart. The P·V
// accumulators of all heads (nh x D floats) live in L1 rather than registers. Per head it is the
// same arithmetic in the same order as attend_group_avx2 (dot products, softmax, then one FMA
// chain over positions per output element), so both give the same bits. g is as for KV head 0
// (k, v at head 0's rows), with q and out holding all nkv * group query heads.
// DC: the head size at compile time (0: g.D at run time).
template <class E, int DC>
EMBER_AVX2 void attend_token_avx2(const GroupAttention<E>& g, int64_t nkv, float* score,
                                  float* acc) {
  const int64_t D = DC > 0 ? DC : g.D;
  const int64_t n = g.hi - g.lo + 1, nh = nkv * g.group, W = g.row_stride;
  // About 32 lines in flight, as attend_group_avx2 keeps for one head.
  const int64_t ahead = std::max<int64_t>(1, 32 * 64 / (W * int64_t(sizeof(E))));
  for (int64_t j = g.lo; j <= std::min(g.hi, g.lo + ahead - 1); ++j) prefetch_row(g, g.k, j, W);
  for (int64_t j = g.lo; j <= g.hi; ++j) {
    if (j + ahead <= g.hi) prefetch_row(g, g.k, j + ahead, W);
    const E* row = g.k + g.slot(j) * g.row_stride;
    if constexpr (DC == 64) {
      for (int64_t kvh = 0, h = 0; kvh < nkv; ++kvh) {
        // The KV head's K row loaded (and widened) once for its query heads, not once per head;
        // per head the products and sums are qk_score's, in its order.
        __m256 kv[8];
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) kv[c] = load8_kv(row + kvh * 64 + 8 * c);
        for (int64_t i = 0; i < g.group; ++i, ++h)
          score[h * n + (j - g.lo)] = qk_score_held(g.q + h * 64, kv, g.scale);
      }
    } else {
      for (int64_t kvh = 0, h = 0; kvh < nkv; ++kvh)
        for (int64_t i = 0; i < g.group; ++i, ++h)
          score[h * n + (j - g.lo)] = qk_score<E, DC>(g.q + h * D, row + kvh * D, D, g.scale);
    }
  }
  std::vector<float> inv(static_cast<size_t>(nh));
  softcap_scores(score, nh * n, g.softcap);
  softmax_rows_avx2(score, nh, n, inv.data());
  std::fill(acc, acc + nh * D, 0.f);
  for (int64_t j = g.lo; j <= std::min(g.hi, g.lo + ahead - 1); ++j) prefetch_row(g, g.v, j, W);
  for (int64_t j = g.lo; j <= g.hi; ++j) {
    if (j + ahead <= g.hi) prefetch_row(g, g.v, j + ahead, W);
    const E* row = g.v + g.slot(j) * g.row_stride;
    for (int64_t kvh = 0, h = 0; kvh < nkv; ++kvh)
      for (int64_t i = 0; i < g.group; ++i, ++h) {
        const __m256 pj = _mm256_set1_ps(score[h * n + (j - g.lo)]);
        const E* vr = row + kvh * D;
        float* a = acc + h * D;
        for (int64_t d = 0; d < D; d += 8)
          _mm256_storeu_ps(a + d,
                           _mm256_fmadd_ps(pj, load8_kv(vr + d), _mm256_loadu_ps(a + d)));
      }
  }
  for (int64_t h = 0; h < nh; ++h) {
    const __m256 inv_h = _mm256_set1_ps(inv[size_t(h)]);
    for (int64_t d = 0; d < D; d += 8)
      _mm256_storeu_ps(g.out + h * D + d, _mm256_mul_ps(_mm256_loadu_ps(acc + h * D + d), inv_h));
  }
}
#endif

}  // namespace

void rope_and_store_kv(const Ctx& c, Tensor& qkv, const Tensor& inv_freq, const StepTensors& step,
                       const AttnShape& a, KvCache& kv, int layer) {
  check_layer(kv, layer, a, "rope_and_store_kv");
  const int64_t D = a.head_dim, half = D / 2, nq = a.n_heads, nkv = a.n_kv_heads;
  const int64_t W = qkv_width(a), T = step.num_tokens;
  if (qkv.dtype != DType::F32 || qkv.cols() != W || qkv.rows() != T)
    fail("cpu rope_and_store_kv: qkv is [{}, {}], expected F32 [{}, {}]", qkv.rows(), qkv.cols(),
         T, W);
  if (inv_freq.dtype != DType::F32 || inv_freq.numel() != half)
    fail("cpu rope_and_store_kv: inv_freq must be F32 [{}]", half);
  const int64_t n_slots = int64_t(kv.spec.num_blocks) * kv.spec.block_size;
  const int32_t* pos = step.positions.as<int32_t>();
  const int32_t* slots = step.slot_mapping.as<int32_t>();
  for (int64_t t = 0; t < T; ++t)
    if (slots[t] < 0 || slots[t] >= n_slots)
      fail("rope_and_store_kv: slot {} of token {} outside the KV cache ({} slots)", slots[t], t,
           n_slots);
  const float* inv = inv_freq.as<float>();
  float* p = qkv.as<float>();
  Tensor& kpool = kv.k[size_t(layer)];
  Tensor& vpool = kv.v[size_t(layer)];

  parallel_ranges(c, T, 1, [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t t = b; t < e; ++t) {
      // fp32 angle and fp32 cos/sin, as torch computes them.
      const float fp = float(pos[t]);
      for (int64_t i = 0; i < half; ++i) {
        const float ang = fp * inv[i];
        cs[size_t(i)] = std::cos(ang);
        sn[size_t(i)] = std::sin(ang);
      }
      float* row = p + t * W;
      for (int64_t h = 0; h < nq + nkv; ++h) rotate(row + h * D, cs.data(), sn.data(), half);
      const int64_t dst = int64_t(slots[t]) * nkv * D;
      store_kv(row + nq * D, nkv * D, kpool, dst);
      store_kv(row + (nq + nkv) * D, nkv * D, vpool, dst);
    }
  });
}

void paged_attention(const Ctx& c, const Tensor& qkv, const KvCache& kv, int layer,
                     const StepTensors& step, const AttnShape& a, Tensor& out) {
  check_layer(kv, layer, a, "paged_attention");
  const int64_t D = a.head_dim, nq = a.n_heads, nkv = a.n_kv_heads;
  const int64_t W = qkv_width(a), T = step.num_tokens, S = step.num_seqs;
  if (nkv <= 0 || nq % nkv != 0)
    fail("cpu paged_attention: {} heads not divisible into {} kv heads", nq, nkv);
  if (qkv.dtype != DType::F32 || qkv.cols() != W || qkv.rows() != T)
    fail("cpu paged_attention: qkv is [{}, {}], expected F32 [{}, {}]", qkv.rows(), qkv.cols(), T,
         W);
  if (out.dtype != DType::F32 || out.rows() != T || out.cols() != nq * D)
    fail("cpu paged_attention: out must be F32 [{}, {}]", T, nq * D);
  const int bs = kv.spec.block_size, nblocks = kv.spec.num_blocks;
  const int64_t group = nq / nkv, maxb = step.max_blocks_per_seq;
  const int32_t* info = step.seq_info.as<int32_t>();
  const int32_t* tables = step.block_tables.as<int32_t>();
  const int32_t* pos = step.positions.as<int32_t>();

  std::vector<int32_t> seq_of(size_t(T), -1);
  for (int64_t s = 0; s < S; ++s) {
    if (info[s * 3 + 2] > maxb * bs)
      fail("paged_attention: sequence {} has {} tokens but its block table holds {}", s,
           info[s * 3 + 2], maxb * bs);
    for (int64_t r = info[s * 3]; r < info[s * 3] + info[s * 3 + 1]; ++r)
      seq_of[size_t(r)] = int32_t(s);
  }
  for (int64_t t = 0; t < T; ++t) {
    if (seq_of[size_t(t)] < 0) fail("paged_attention: token {} belongs to no sequence", t);
    const int32_t ctx = info[seq_of[size_t(t)] * 3 + 2];
    if (pos[t] < 0 || pos[t] >= ctx)
      fail("paged_attention: token {} at position {} outside its context of {}", t, pos[t], ctx);
  }

  const float* q_all = qkv.as<float>();
  float* op = out.as<float>();
  const bool avx = c.isa == Isa::Avx2 && D % 8 == 0;

  // A task is one token's query heads over one KV head (each K and V row is read once for the
  // group, GQA), or, when there are enough tokens for every thread, over all its KV heads.
  const bool whole_tokens = avx && T >= 2 * int64_t(c.pool->size());
  const int64_t per_token = whole_tokens ? 1 : nkv;
  // kpool, vpool: const float* or const uint16_t* (BF16 bits), the cache's element type E.
  const auto run = [&](const auto* kpool, const auto* vpool) {
    using E = std::remove_cvref_t<decltype(*kpool)>;
    parallel_ranges(c, T * per_token, 1, [&](int64_t b, int64_t e) {
      std::vector<float> score, acc;
      for (int64_t task = b; task < e; ++task) {
        const int64_t t = task / per_token, kvh = whole_tokens ? 0 : task % per_token;
        const int32_t* table = tables + int64_t(seq_of[size_t(t)]) * maxb;
        const int64_t hi = pos[t];
        const int64_t lo =
            a.sliding_window > 0 ? std::max<int64_t>(0, hi - a.sliding_window + 1) : 0;
        for (int64_t blk = lo / bs; blk <= hi / bs; ++blk)
          if (table[blk] < 0 || table[blk] >= nblocks)
            fail("paged_attention: block id {} for position {} outside the pool of {}", table[blk],
                 std::max(lo, blk * bs), nblocks);
#ifdef EMBER_X86
        if (whole_tokens) {
          const GroupAttention<E> g{q_all + t * W, op + t * nq * D, group, D, nkv * D, kpool,
                                    vpool, table, bs, lo, hi, a.scale, a.logit_softcap};
          score.resize(size_t(nq * (hi - lo + 1)));
          acc.resize(size_t(nq * D));
          if (D == 64)
            attend_token_avx2<E, 64>(g, nkv, score.data(), acc.data());
          else if (D == 128)
            attend_token_avx2<E, 128>(g, nkv, score.data(), acc.data());
          else
            attend_token_avx2<E, 0>(g, nkv, score.data(), acc.data());
          continue;
        }
#endif
        GroupAttention<E> g{q_all + t * W + kvh * group * D, op + t * nq * D + kvh * group * D,
                            group, D, nkv * D, kpool + kvh * D, vpool + kvh * D, table, bs, lo,
                            hi, a.scale, a.logit_softcap};
        score.resize(size_t(group * (hi - lo + 1)));
#ifdef EMBER_X86
        if (avx) {
          attend_group_avx2(g, score.data());
          continue;
        }
#endif
        acc.assign(size_t(group * D), 0.f);
        attend_group_portable(g, score.data(), acc.data());
      }
    });
  };
  const Tensor &kp = kv.k[size_t(layer)], &vp = kv.v[size_t(layer)];
  if (kv.spec.dtype == DType::BF16)
    run(kp.as<uint16_t>(), vp.as<uint16_t>());
  else
    run(kp.as<float>(), vp.as<float>());
}

}  // namespace ember::cpu
