// RoPE + KV store, and paged causal attention over the F32 KV pools
// [num_blocks, block_size, n_kv_heads, head_dim] of each layer.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

float dot(Isa isa, const float* a, const float* b, int64_t n) {
#ifdef EMBER_X86
  if (isa == Isa::Avx2) return dot_f32_avx2(a, b, n);
#endif
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(Isa isa, float a, const float* x, float* y, int64_t n) {
#ifdef EMBER_X86
  if (isa == Isa::Avx2) return axpy_f32_avx2(a, x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

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
  if (kv.spec.dtype != DType::F32) fail("cpu {}: the KV cache must be F32", op);
  if (kv.spec.num_kv_heads != a.n_kv_heads || kv.spec.head_dim != a.head_dim)
    fail("cpu {}: KV cache has {} heads x {} dims, the layer {} x {}", op, kv.spec.num_kv_heads,
         kv.spec.head_dim, a.n_kv_heads, a.head_dim);
}

int64_t qkv_width(const AttnShape& a) { return int64_t(a.n_heads + 2 * a.n_kv_heads) * a.head_dim; }

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
  float* kpool = kv.k[size_t(layer)].as<float>();
  float* vpool = kv.v[size_t(layer)].as<float>();

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
      std::copy(row + nq * D, row + (nq + nkv) * D, kpool + dst);
      std::copy(row + (nq + nkv) * D, row + W, vpool + dst);
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
    for (int64_t r = info[s * 3]; r < info[s * 3] + info[s * 3 + 1]; ++r) seq_of[size_t(r)] = int32_t(s);
  }
  for (int64_t t = 0; t < T; ++t) {
    if (seq_of[size_t(t)] < 0) fail("paged_attention: token {} belongs to no sequence", t);
    const int32_t ctx = info[seq_of[size_t(t)] * 3 + 2];
    if (pos[t] < 0 || pos[t] >= ctx)
      fail("paged_attention: token {} at position {} outside its context of {}", t, pos[t], ctx);
  }

  const float* q_all = qkv.as<float>();
  const float* kpool = kv.k[size_t(layer)].as<float>();
  const float* vpool = kv.v[size_t(layer)].as<float>();
  float* op = out.as<float>();

  parallel_ranges(c, T * nq, 1, [&](int64_t b, int64_t e) {
    std::vector<float> score, acc(static_cast<size_t>(D));
    for (int64_t task = b; task < e; ++task) {
      const int64_t t = task / nq, h = task % nq, kvh = h / group;
      const int32_t* table = tables + int64_t(seq_of[size_t(t)]) * maxb;
      const int64_t hi = pos[t];
      const int64_t lo = a.sliding_window > 0 ? std::max<int64_t>(0, hi - a.sliding_window + 1) : 0;
      const float* q = q_all + t * W + h * D;
      score.resize(size_t(hi - lo + 1));
      float m = -INFINITY;
      for (int64_t j = lo; j <= hi; ++j) {
        const int32_t blk = table[j / bs];
        if (blk < 0 || blk >= nblocks)
          fail("paged_attention: block id {} for position {} outside the pool of {}", blk, j,
               nblocks);
        const int64_t slot = int64_t(blk) * bs + j % bs;
        const float s = dot(c.isa, q, kpool + (slot * nkv + kvh) * D, D) * a.scale;
        score[size_t(j - lo)] = s;
        m = std::max(m, s);
      }
      float sum = 0.f;
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t j = lo; j <= hi; ++j) {
        const float pj = std::exp(score[size_t(j - lo)] - m);
        sum += pj;
        const int64_t slot = int64_t(table[j / bs]) * bs + j % bs;
        axpy(c.isa, pj, vpool + (slot * nkv + kvh) * D, acc.data(), D);
      }
      float* o = op + t * nq * D + h * D;
      const float inv = 1.f / sum;
      for (int64_t d = 0; d < D; ++d) o[d] = acc[size_t(d)] * inv;
    }
  });
}

}  // namespace ember::cpu
