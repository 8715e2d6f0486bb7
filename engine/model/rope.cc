// RoPE inverse frequencies, reproducing transformers' float32 arithmetic step by step
// (modeling_rope_utils: _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
// _compute_llama3_parameters). Each torch op on a float32 tensor rounds to float32, and a Python
// scalar on the left of `/` becomes reciprocal() * scalar; we round at the same places so the
// angles, and so the logits, agree with the reference bit for bit where libm allows.
// No a*b+c may become an FMA: GCC does not contract in ISO C++ mode (CMAKE_CXX_EXTENSIONS=OFF);
// clang needs to be told.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <cmath>

#include "engine/core/error.h"
#include "engine/model/weights.h"

namespace ember {

namespace {

// Python float -> float32, as torch casts a scalar operand to the tensor's dtype.
float f32(double x) { return static_cast<float>(x); }

}  // namespace

std::vector<float> rope_inv_freq(const ModelConfig& cfg, bool local) {
  const int dim = cfg.head_dim;
  if (dim <= 0 || dim % 2) fail("rope: head_dim={} must be positive and even", dim);
  std::vector<float> inv(dim / 2);
  const bool own_base = local && cfg.rope_local_theta > 0;
  const float base = f32(own_base ? cfg.rope_local_theta : cfg.rope_theta);
  for (int i = 0; i < dim / 2; ++i) {
    // torch.arange(0, dim, 2).float() / dim, then base ** that, then 1.0 / x. We round the
    // double-precision power to float (correctly rounded); torch's vectorised powf is within
    // 1 ulp of that and differs for ~0.5% of (theta, i) pairs (checked against torch 2.x):
    // an angle error below 1e-6 rad even at position 32k.
    const float exponent = float(2 * i) / float(dim);
    const float p = f32(std::pow(double(base), double(exponent)));
    inv[i] = 1.0f / p;
  }

  const RopeScaling rs = local ? RopeScaling{} : cfg.rope_scaling;
  if (rs.type == RopeScaling::Type::Linear) {
    for (float& v : inv) v = v / f32(rs.factor);
  } else if (rs.type == RopeScaling::Type::Llama3) {
    const float factor = f32(rs.factor);
    const double old_ctx = rs.original_max_position_embeddings;
    const float low_freq_wavelen = f32(old_ctx / rs.low_freq_factor);
    const float high_freq_wavelen = f32(old_ctx / rs.high_freq_factor);
    const float two_pi = f32(2 * M_PI);
    const float high_minus_low = f32(rs.high_freq_factor - rs.low_freq_factor);
    for (float& v : inv) {
      const float wavelen = (1.0f / v) * two_pi;
      float llama = wavelen > low_freq_wavelen ? v / factor : v;
      const float smooth = ((1.0f / wavelen) * f32(old_ctx) - f32(rs.low_freq_factor)) /
                           high_minus_low;
      const float a = (1.0f - smooth) * llama;
      const float smoothed = a / factor + smooth * llama;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      v = medium ? smoothed : llama;
    }
  }
  return inv;
}

}  // namespace ember
