// RMSNorm and its fused forms, computed as Hugging Face does in fp32:
// out = (x * rsqrt(mean(x²) + eps)) * w.
#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

float sumsq(Isa isa, const float* x, int64_t n) {
#ifdef EMBER_X86
  if (isa == Isa::Avx2) return sumsq_f32_avx2(x, n);
#endif
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

void norm_row(Isa isa, const float* x, const float* w, int64_t n, float eps, float* out) {
  const float inv = 1.f / std::sqrt(sumsq(isa, x, n) / float(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * inv) * w[i];
}

std::vector<float> weight_f32(const Tensor& w, int64_t n, const char* what) {
  if (w.numel() != n) fail("cpu {}: weight has {} elements, expected {}", what, w.numel(), n);
  std::vector<float> f(static_cast<size_t>(n));
  to_f32(w, 0, n, f.data());
  return f;
}

void check_act(const Tensor& t, const char* op, const char* name) {
  if (t.dtype != DType::F32) fail("cpu {}: {} must be F32, got {}", op, name, dtype_name(t.dtype));
}

}  // namespace

void rmsnorm(const Ctx& c, const Tensor& x, const Tensor& w, float eps, Tensor& out) {
  check_act(x, "rmsnorm", "x");
  check_act(out, "rmsnorm", "out");
  const int64_t T = x.rows(), H = x.cols();
  if (out.rows() != T || out.cols() != H) fail("cpu rmsnorm: out shape differs from x");
  const auto wf = weight_f32(w, H, "rmsnorm");
  const float* xp = x.as<float>();
  float* op = out.as<float>();
  parallel_ranges(c, T, 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) norm_row(c.isa, xp + t * H, wf.data(), H, eps, op + t * H);
  });
}

void add_rmsnorm(const Ctx& c, Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                 Tensor& out) {
  check_act(residual, "add_rmsnorm", "residual");
  check_act(x, "add_rmsnorm", "x");
  check_act(out, "add_rmsnorm", "out");
  const int64_t T = residual.rows(), H = residual.cols();
  if (x.rows() != T || x.cols() != H || out.rows() != T || out.cols() != H)
    fail("cpu add_rmsnorm: residual [{}, {}], x [{}, {}] and out [{}, {}] differ", T, H, x.rows(),
         x.cols(), out.rows(), out.cols());
  const auto wf = weight_f32(w, H, "add_rmsnorm");
  float* rp = residual.as<float>();
  const float* xp = x.as<float>();
  float* op = out.as<float>();
  parallel_ranges(c, T, 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* r = rp + t * H;
      const float* xr = xp + t * H;
      for (int64_t i = 0; i < H; ++i) r[i] += xr[i];
      norm_row(c.isa, r, wf.data(), H, eps, op + t * H);
    }
  });
}

void qk_rmsnorm(const Ctx& c, Tensor& qkv, const Tensor& q_w, const Tensor& k_w, float eps,
                const AttnShape& a) {
  check_act(qkv, "qk_rmsnorm", "qkv");
  const int64_t D = a.head_dim, nq = a.n_heads, nkv = a.n_kv_heads;
  const int64_t W = (nq + 2 * nkv) * D;
  if (qkv.cols() != W) fail("cpu qk_rmsnorm: qkv has {} columns, expected {}", qkv.cols(), W);
  const auto qf = weight_f32(q_w, D, "qk_rmsnorm (q)");
  const auto kf = weight_f32(k_w, D, "qk_rmsnorm (k)");
  float* p = qkv.as<float>();
  parallel_ranges(c, qkv.rows(), 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* row = p + t * W;
      for (int64_t h = 0; h < nq; ++h) norm_row(c.isa, row + h * D, qf.data(), D, eps, row + h * D);
      for (int64_t h = 0; h < nkv; ++h) {
        float* k = row + (nq + h) * D;
        norm_row(c.isa, k, kf.data(), D, eps, k);
      }
    }
  });
}

}  // namespace ember::cpu
