#include "engine/cpu/vector_exp.h"

#include <cmath>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

#ifdef EMBER_X86
EMBER_AVX2 inline __m256 exp_shifted8(__m256 x, __m256 shift, __m256 scale) {
  // |x| < inf is false for +-inf and NaN alike.
  const __m256 abs_x = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
  const __m256 finite = _mm256_cmp_ps(abs_x, _mm256_set1_ps(INFINITY), _CMP_LT_OQ);
  return _mm256_and_ps(exp8_avx2(_mm256_mul_ps(_mm256_sub_ps(x, shift), scale)), finite);
}

EMBER_AVX2 void exp_shifted_avx2(const float* in, float shift, float scale, float* out,
                                 int64_t n) {
  const __m256 s = _mm256_set1_ps(shift), k = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp_shifted8(_mm256_loadu_ps(in + i), s, k));
  if (i < n) {  // the same vector code for the tail: a value's result does not depend on i
    alignas(32) float buf[8] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = in[j];
    _mm256_store_ps(buf, exp_shifted8(_mm256_load_ps(buf), s, k));
    for (int64_t j = i; j < n; ++j) out[j] = buf[j - i];
  }
}
#endif

}  // namespace

void exp_f32(const float* in, float* out, int64_t n) {
#ifdef EMBER_X86
  if (cpu_has_avx2()) {
    exp_f32_avx2(in, out, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
}

void exp_shifted_f32(const float* in, float shift, float scale, float* out, int64_t n) {
#ifdef EMBER_X86
  if (cpu_has_avx2()) {
    exp_shifted_avx2(in, shift, scale, out, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i)
    out[i] = std::isfinite(in[i]) ? std::exp((in[i] - shift) * scale) : 0.f;
}

}  // namespace ember::cpu
