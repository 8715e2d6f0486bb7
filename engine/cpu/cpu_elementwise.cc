// Row copies and pointwise ops: embedding lookup, SiLU-gated product, row gather, and the
// weight widening shared by the other kernels.
#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {

void parallel_ranges(const Ctx& c, int64_t n, int64_t grain,
                     const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t parts = std::min<int64_t>(int64_t(c.pool->size()) * 4, (n + grain - 1) / grain);
  parts = std::max<int64_t>(1, parts);
  const int64_t chunk = (n + parts - 1) / parts;
  c.pool->run((n + chunk - 1) / chunk, [&](int64_t i) {
    const int64_t b = i * chunk;
    fn(b, std::min(n, b + chunk));
  });
}

void to_f32(const Tensor& t, int64_t offset, int64_t n, float* dst) {
  switch (t.dtype) {
    case DType::F32: {
      const float* s = t.as<float>() + offset;
      std::copy(s, s + n, dst);
      return;
    }
    case DType::BF16: {
      const uint16_t* s = t.as<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* s = t.as<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::F8_E4M3: {
      const uint8_t* s = t.as<uint8_t>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = f8e4m3_to_f32(s[i]);
      return;
    }
    default: fail("cpu: {} tensor used where a float tensor was expected", dtype_name(t.dtype));
  }
}

void embed(const Ctx& c, const Tensor& table, const StepTensors& step, int64_t first_id,
           int64_t vocab, Tensor& out) {
  if (table.shape.size() != 2) fail("cpu embed: table must be 2-D");
  const int64_t V = table.shape[0], H = table.shape[1], T = step.num_tokens;
  if (out.dtype != DType::F32 || out.rows() != T || out.cols() != H)
    fail("cpu embed: out must be F32 [{}, {}]", T, H);
  if (first_id < 0 || first_id + V > vocab)
    fail("cpu embed: rows [{}, {}) of a vocab of {}", first_id, first_id + V, vocab);
  const int32_t* tok = step.tokens.as<int32_t>();
  for (int64_t t = 0; t < T; ++t)
    if (tok[t] < 0 || tok[t] >= vocab) fail("embed: token id {} out of range [0, {})", tok[t], vocab);
  float* op = out.as<float>();
  parallel_ranges(c, T, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t row = int64_t(tok[t]) - first_id;
      if (row >= 0 && row < V)
        to_f32(table, row * H, H, op + t * H);
      else
        std::fill(op + t * H, op + (t + 1) * H, 0.f);
    }
  });
}

#ifdef EMBER_X86
namespace {
// o = g / (1 + e^-g) * u, e^-g from exp_f32_avx2 (first into o, as scratch).
EMBER_AVX2 void silu_mul_avx2(const float* g, const float* u, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = -g[i];
  exp_f32_avx2(o, o, n);
  for (int64_t i = 0; i < n; ++i) o[i] = g[i] / (1.f + o[i]) * u[i];
}
}  // namespace
#endif

namespace {

// The gated MLP's elementwise half over rows of gate_up: row_fn(g, u, o, I) writes
// o = act(g) * u for one token.
template <class RowFn>
void gated_rows(const Ctx& c, const Tensor& gate_up, Tensor& out, const char* op_name,
                RowFn row_fn) {
  const int64_t T = gate_up.rows(), I = gate_up.cols() / 2;
  if (gate_up.dtype != DType::F32 || out.dtype != DType::F32 || gate_up.cols() != 2 * I ||
      out.rows() != T || out.cols() != I)
    fail("cpu {}: gate_up [{}, {}] and out [{}, {}] do not match", op_name, T, gate_up.cols(),
         out.rows(), out.cols());
  const float* gp = gate_up.as<float>();
  float* op = out.as<float>();
  parallel_ranges(c, T, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) row_fn(gp + t * 2 * I, gp + t * 2 * I + I, op + t * I, I);
  });
}

// torch's gelu(approximate="tanh") in fp32: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
float gelu_tanh(float x) {
  constexpr float kBeta = float(M_SQRT2 * M_2_SQRTPI * 0.5);
  constexpr float kKappa = 0.044715f;
  const float inner = kBeta * (x + kKappa * (x * x * x));
  return 0.5f * x * (1.f + std::tanh(inner));
}

}  // namespace

void silu_mul(const Ctx& c, const Tensor& gate_up, Tensor& out) {
  const bool avx = c.isa == Isa::Avx2;
  gated_rows(c, gate_up, out, "silu_mul",
             [avx](const float* g, const float* u, float* o, int64_t n) {
#ifdef EMBER_X86
               if (avx) return silu_mul_avx2(g, u, o, n);
#else
               (void)avx;
#endif
               for (int64_t i = 0; i < n; ++i) o[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
             });
}

void gelu_tanh_mul(const Ctx& c, const Tensor& gate_up, Tensor& out) {
  gated_rows(c, gate_up, out, "gelu_tanh_mul",
             [](const float* g, const float* u, float* o, int64_t n) {
               for (int64_t i = 0; i < n; ++i) o[i] = gelu_tanh(g[i]) * u[i];
             });
}

void scale(const Ctx& c, Tensor& x, float s) {
  if (x.dtype != DType::F32) fail("cpu scale: x must be F32, got {}", dtype_name(x.dtype));
  float* p = x.as<float>();
  parallel_ranges(c, x.numel(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] *= s;
  });
}

void softcap(const Ctx& c, Tensor& x, float cap) {
  if (x.dtype != DType::F32) fail("cpu softcap: x must be F32, got {}", dtype_name(x.dtype));
  if (!(cap > 0.f)) fail("cpu softcap: cap={} must be positive", cap);
  float* p = x.as<float>();
  parallel_ranges(c, x.numel(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = std::tanh(p[i] / cap) * cap;
  });
}

void gather_rows(const Ctx& c, const Tensor& x, const StepTensors& step, Tensor& out) {
  const int64_t R = step.logit_rows.numel(), H = x.cols(), T = x.rows();
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || out.rows() != R || out.cols() != H)
    fail("cpu gather_rows: out must be F32 [{}, {}]", R, H);
  const int32_t* rows = step.logit_rows.as<int32_t>();
  for (int64_t i = 0; i < R; ++i) {
    if (rows[i] < 0 || rows[i] >= T) fail("gather_rows: row {} out of range [0, {})", rows[i], T);
    std::copy(x.as<float>() + rows[i] * H, x.as<float>() + (rows[i] + 1) * H,
              out.as<float>() + i * H);
  }
}

}  // namespace ember::cpu
