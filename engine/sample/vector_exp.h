#pragma once
// Exponentials over an array, for host code outside the CPU backend's kernels (the sampler's
// softmax): the kernels' AVX2 vector exp where the CPU has AVX2+FMA (within 2 ulp; 0 below
// -87.33, +inf above 88.72, NaN stays NaN), else glibc's expf.
#include <cstdint>

namespace ember::cpu {

// out[i] = e^in[i].
void exp_f32(const float* in, float* out, int64_t n);

// out[i] = e^((in[i] - shift) * scale), and 0 where in[i] is not finite (softmax numerators at a
// temperature, shift being the maximum; a masked -inf or a NaN logit gets no mass).
void exp_shifted_f32(const float* in, float shift, float scale, float* out, int64_t n);

}  // namespace ember::cpu
