// The encoder ops on the CPU: LayerNorm (fused with the residual add), GELU in its erf form, and
// bidirectional attention within each sequence of a packed batch (with MPNet's relative
// position bias). All in fp32, as transformers computes them.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

void check_f32(const Tensor& t, const char* op, const char* name) {
  if (t.dtype != DType::F32) fail("cpu {}: {} must be F32, got {}", op, name, dtype_name(t.dtype));
}

// One query row of one head over its sequence's keys and values: softmax(q·kᵀ·scale + bias)·v
// into o (zeroed by the caller). Rows of k and v are `ld` floats apart; p holds n scores.
struct AttendRow {
  const float *q, *k, *v, *bias;  // bias: n entries (key j's), or null
  int64_t n, hd, ld;
  float scale;
  float* p;
  float* o;
};

void attend_row_scalar(const AttendRow& r) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < r.n; ++j) {
    float s = 0.f;
    for (int64_t d = 0; d < r.hd; ++d) s += r.q[d] * r.k[j * r.ld + d];
    s *= r.scale;
    if (r.bias) s += r.bias[j];
    r.p[j] = s;
    mx = std::max(mx, s);
  }
  float sum = 0.f;
  for (int64_t j = 0; j < r.n; ++j) sum += r.p[j] = std::exp(r.p[j] - mx);
  const float inv = 1.f / sum;
  for (int64_t j = 0; j < r.n; ++j)
    for (int64_t d = 0; d < r.hd; ++d) r.o[d] += r.p[j] * inv * r.v[j * r.ld + d];
}

#ifdef EMBER_X86
// erf of 8 floats, within 2e-7 absolute of the exact value (3 float ulps near ±1; libm's erff
// is within 1): below 1, x·P(x²); from 1 to 4, 1 - exp(Q(t)) with t = (2|x| - 5) / 3, fitted
// to log(erfc) (least-squares Chebyshev fits, made once with numpy; the tests check the result
// against std::erf on a dense grid); past 4, erfc < 1.6e-8 rounds away and the value is ±1.
// libm's erff, one element at a time, was 15% of MiniLM's time; this is 4%.
EMBER_AVX2 inline __m256 erf8_avx2(__m256 x) {
  static constexpr float kA[] = {1.128379164e+00f, -3.761262252e-01f, 1.128356788e-01f,
                                 -2.685353547e-02f, 5.188378068e-03f, -8.014544602e-04f,
                                 7.878969790e-05f};
  static constexpr float kB[] = {-7.806815273e+00f, -8.029021115e+00f, -2.123760916e+00f,
                                 -3.664623972e-02f, 1.096292520e-02f,  -3.195024116e-03f,
                                 8.765427722e-04f,  -2.212933657e-04f, 4.709645575e-05f,
                                 -2.733385931e-06f, -2.285520079e-06f};
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  const __m256 u = _mm256_mul_ps(x, x);
  __m256 pa = _mm256_set1_ps(kA[6]);
  for (int i = 5; i >= 0; --i) pa = _mm256_fmadd_ps(pa, u, _mm256_set1_ps(kA[i]));
  const __m256 small = _mm256_mul_ps(x, pa);
  const __m256 xb = _mm256_min_ps(_mm256_max_ps(ax, _mm256_set1_ps(1.f)), _mm256_set1_ps(4.f));
  const __m256 t = _mm256_mul_ps(_mm256_fmsub_ps(xb, _mm256_set1_ps(2.f), _mm256_set1_ps(5.f)),
                                 _mm256_set1_ps(1.f / 3.f));
  __m256 qb = _mm256_set1_ps(kB[10]);
  for (int i = 9; i >= 0; --i) qb = _mm256_fmadd_ps(qb, t, _mm256_set1_ps(kB[i]));
  const __m256 big = _mm256_or_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), exp8_avx2(qb)), sign);
  return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(1.f), _CMP_LT_OQ));
}

struct GeluErf8 {
  EMBER_AVX2 __m256 operator()(__m256 x) const {
    const __m256 e = erf8_avx2(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                         _mm256_add_ps(_mm256_set1_ps(1.f), e));
  }
};

EMBER_AVX2 void gelu_erf_avx2(float* p, int64_t n) { map8_avx2(p, p, n, GeluErf8{}); }
#endif

#ifdef EMBER_X86
// One (sequence, head) at once: K is transposed into kt [hd, n32] (n rounded up to 32, zero
// padded), so each query's scores come 32 keys at a time in four independent FMA chains, with
// no horizontal sums; V is copied into contiguous rows, and each output row is accumulated 32
// floats at a time in registers. Query i's output goes to out + i * ldo.
EMBER_AVX2 void attend_head_avx2(const float* q, const float* k, const float* v, int64_t ld,
                                 int64_t n, int64_t hd, float scale, const float* bias,
                                 int64_t bias_center, float* out, int64_t ldo,
                                 std::vector<float>& kt, std::vector<float>& vc,
                                 std::vector<float>& p) {
  const int64_t n32 = (n + 31) / 32 * 32;
  kt.assign(size_t(hd * n32), 0.f);
  vc.resize(size_t(n * hd));
  p.resize(size_t(n32));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < hd; ++d) {
      kt[size_t(d * n32 + j)] = k[j * ld + d];
      vc[size_t(j * hd + d)] = v[j * ld + d];
    }
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int64_t i = 0; i < n; ++i) {
    const float* qi = q + i * ld;
    for (int64_t j = 0; j < n32; j += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      const float* col = kt.data() + j;
      for (int64_t d = 0; d < hd; ++d, col += n32) {
        const __m256 qd = _mm256_set1_ps(qi[d]);
        a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(col), a0);
        a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(col + 8), a1);
        a2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(col + 16), a2);
        a3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(col + 24), a3);
      }
      _mm256_storeu_ps(&p[size_t(j)], _mm256_mul_ps(a0, vscale));
      _mm256_storeu_ps(&p[size_t(j + 8)], _mm256_mul_ps(a1, vscale));
      _mm256_storeu_ps(&p[size_t(j + 16)], _mm256_mul_ps(a2, vscale));
      _mm256_storeu_ps(&p[size_t(j + 24)], _mm256_mul_ps(a3, vscale));
    }
    float mx = -INFINITY;
    const float* b = bias ? bias + (bias_center - i) : nullptr;  // b[j]: key j's bias
    for (int64_t j = 0; j < n; ++j) {
      if (b) p[size_t(j)] += b[j];
      mx = std::max(mx, p[size_t(j)]);
    }
    for (int64_t j = 0; j < n; ++j) p[size_t(j)] -= mx;
    exp_f32_avx2(p.data(), p.data(), n);
    float sum = 0.f;
    for (int64_t j = 0; j < n; ++j) sum += p[size_t(j)];
    const float inv = 1.f / sum;
    float* o = out + i * ldo;
    int64_t d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t j = 0; j < n; ++j) {
        const __m256 w = _mm256_set1_ps(p[size_t(j)] * inv);
        const float* row = vc.data() + j * hd + d0;
        a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row), a0);
        a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8), a1);
        a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 16), a2);
        a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 24), a3);
      }
      _mm256_storeu_ps(o + d0, a0);
      _mm256_storeu_ps(o + d0 + 8, a1);
      _mm256_storeu_ps(o + d0 + 16, a2);
      _mm256_storeu_ps(o + d0 + 24, a3);
    }
    for (int64_t j = 0; d0 < hd && j < n; ++j)  // head sizes not a multiple of 32
      axpy_f32_avx2(p[size_t(j)] * inv, vc.data() + j * hd + d0, o + d0, hd - d0);
  }
}
#endif

}  // namespace

void add_layernorm(const Ctx& c, Tensor& x, const Tensor* y, const Tensor& w, const Tensor& b,
                   float eps) {
  check_f32(x, "add_layernorm", "x");
  const int64_t T = x.rows(), H = x.cols();
  if (y) {
    check_f32(*y, "add_layernorm", "y");
    if (y->rows() != T || y->cols() != H)
      fail("cpu add_layernorm: x is [{}, {}] but y is [{}, {}]", T, H, y->rows(), y->cols());
  }
  if (w.numel() != H || b.numel() != H)
    fail("cpu add_layernorm: weight and bias must have {} elements, have {} and {}", H, w.numel(),
         b.numel());
  std::vector<float> wf(static_cast<size_t>(H)), bf(static_cast<size_t>(H));
  to_f32(w, 0, H, wf.data());
  to_f32(b, 0, H, bf.data());
  float* xp = x.as<float>();
  const float* yp = y ? y->as<float>() : nullptr;
  parallel_ranges(c, T, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      float* r = xp + t * H;
      if (yp)
        for (int64_t i = 0; i < H; ++i) r[i] += yp[t * H + i];
      // Two passes (mean, then the centred squares), as torch does: no cancellation.
      double sum = 0;
      for (int64_t i = 0; i < H; ++i) sum += r[i];
      const float mean = float(sum / double(H));
      double sq = 0;
      for (int64_t i = 0; i < H; ++i) sq += double(r[i] - mean) * double(r[i] - mean);
      const float inv = 1.f / std::sqrt(float(sq / double(H)) + eps);
      for (int64_t i = 0; i < H; ++i) r[i] = (r[i] - mean) * inv * wf[size_t(i)] + bf[size_t(i)];
    }
  });
}

void gelu_erf(const Ctx& c, Tensor& x) {
  check_f32(x, "gelu_erf", "x");
  float* p = x.as<float>();
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  parallel_ranges(c, x.numel(), 4096, [&](int64_t lo, int64_t hi) {
#ifdef EMBER_X86
    if (c.isa == Isa::Avx2) return gelu_erf_avx2(p + lo, hi - lo);
#endif
    for (int64_t i = lo; i < hi; ++i) p[i] = 0.5f * p[i] * (1.f + std::erf(p[i] * kInvSqrt2));
  });
}

void encoder_attention(const Ctx& c, const Tensor& qkv, const StepTensors& step,
                       const AttnShape& a, const Tensor* rel_bias, Tensor& out) {
  check_f32(qkv, "encoder_attention", "qkv");
  check_f32(out, "encoder_attention", "out");
  const int64_t nh = a.n_heads, hd = a.head_dim, H = nh * hd, T = step.num_tokens;
  if (a.n_kv_heads != a.n_heads)
    fail("cpu encoder_attention: n_kv_heads {} must equal n_heads {}", a.n_kv_heads, a.n_heads);
  if (qkv.rows() != T || qkv.cols() != 3 * H)
    fail("cpu encoder_attention: qkv is [{}, {}], expected [{}, {}]", qkv.rows(), qkv.cols(), T,
         3 * H);
  if (out.rows() != T || out.cols() != H)
    fail("cpu encoder_attention: out is [{}, {}], expected [{}, {}]", out.rows(), out.cols(), T, H);
  const int64_t L = step.max_q_len, span = 2 * L - 1;
  const float* bias = nullptr;
  if (rel_bias) {
    check_f32(*rel_bias, "encoder_attention", "rel_bias");
    if (rel_bias->rows() != nh || rel_bias->cols() != span)
      fail("cpu encoder_attention: rel_bias is [{}, {}], expected [{}, {}]", rel_bias->rows(),
           rel_bias->cols(), nh, span);
    bias = rel_bias->as<float>();
  }
  const auto* info = step.seq_info.as<int32_t>();
  // The scalar path: a task per token, every head (the token owns its out row).
  std::vector<int32_t> seq_of(size_t(T), -1);
  for (int s = 0; s < step.num_seqs; ++s) {
    const int32_t q0 = info[3 * s], ql = info[3 * s + 1];
    if (q0 < 0 || ql < 0 || q0 + ql > T) fail("cpu encoder_attention: sequence {} is out of range", s);
    for (int32_t t = q0; t < q0 + ql; ++t) seq_of[size_t(t)] = s;
  }
  const float* qp = qkv.as<float>();
  float* op = out.as<float>();
  std::fill(op, op + T * H, 0.f);  // a token in no sequence attends to nothing
#ifdef EMBER_X86
  if (c.isa == Isa::Avx2) {
    // A task per (sequence, head): its K and V are rearranged once for all its queries.
    parallel_ranges(c, int64_t(step.num_seqs) * nh, 1, [&](int64_t lo, int64_t hi) {
      std::vector<float> kt, vc, p;
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t s = task / nh, h = task % nh, q0 = info[3 * s], ql = info[3 * s + 1];
        if (ql == 0) continue;
        const float* base = qp + q0 * 3 * H + h * hd;
        attend_head_avx2(base, base + H, base + 2 * H, 3 * H, ql, hd, a.scale,
                         bias ? bias + h * span : nullptr, L - 1, op + q0 * H + h * hd, H, kt,
                         vc, p);
      }
    });
    return;
  }
#endif
  parallel_ranges(c, T, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> p(size_t(std::max<int64_t>(L, 1)));
    for (int64_t t = lo; t < hi; ++t) {
      const int s = seq_of[size_t(t)];
      if (s < 0) continue;
      const int64_t q0 = info[3 * s], ql = info[3 * s + 1], i = t - q0;
      for (int64_t h = 0; h < nh; ++h) {
        const float* base = qp + q0 * 3 * H + h * hd;
        attend_row_scalar({qp + t * 3 * H + h * hd, base + H, base + 2 * H,
                          bias ? bias + h * span + (L - 1 - i) : nullptr, ql, hd, 3 * H,
                          a.scale, p.data(), op + t * H + h * hd});
      }
    }
  });
}

}  // namespace ember::cpu
