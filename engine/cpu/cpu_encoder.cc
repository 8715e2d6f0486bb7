// The encoder ops on the CPU: LayerNorm (fused with the residual add), exact GELU, and
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
  // Each task: one token's query, every head (the token owns its out row).
  std::vector<int32_t> seq_of(size_t(T), -1);
  for (int s = 0; s < step.num_seqs; ++s) {
    const int32_t q0 = info[3 * s], ql = info[3 * s + 1];
    if (q0 < 0 || ql < 0 || q0 + ql > T) fail("cpu encoder_attention: sequence {} is out of range", s);
    for (int32_t t = q0; t < q0 + ql; ++t) seq_of[size_t(t)] = s;
  }
  const float* qp = qkv.as<float>();
  float* op = out.as<float>();
  parallel_ranges(c, T, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> p(size_t(std::max<int64_t>(L, 1)));
    for (int64_t t = lo; t < hi; ++t) {
      float* o = op + t * H;
      std::fill(o, o + H, 0.f);
      const int s = seq_of[size_t(t)];
      if (s < 0) continue;
      const int64_t q0 = info[3 * s], ql = info[3 * s + 1], i = t - q0;
      for (int64_t h = 0; h < nh; ++h) {
        const float* q = qp + t * 3 * H + h * hd;
        float mx = -INFINITY;
        for (int64_t j = 0; j < ql; ++j) {
          const float* k = qp + (q0 + j) * 3 * H + H + h * hd;
          float sc = dot(c.isa, q, k, hd) * a.scale;
          if (bias) sc += bias[h * span + (j - i + L - 1)];
          p[size_t(j)] = sc;
          mx = std::max(mx, sc);
        }
        float sum = 0.f;
        for (int64_t j = 0; j < ql; ++j) {
          p[size_t(j)] = std::exp(p[size_t(j)] - mx);
          sum += p[size_t(j)];
        }
        const float inv = 1.f / sum;
        for (int64_t j = 0; j < ql; ++j)
          axpy(c.isa, p[size_t(j)] * inv, qp + (q0 + j) * 3 * H + 2 * H + h * hd, o + h * hd, hd);
      }
    }
  });
}

}  // namespace ember::cpu
