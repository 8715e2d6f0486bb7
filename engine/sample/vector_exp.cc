#include "engine/sample/vector_exp.h"

#include <cmath>

#include "engine/core/cpu_features.h"
#include "engine/cpu/cpu_simd.h"

namespace ember::cpu {
namespace {

#ifdef EMBER_X86
struct ExpShifted8 {
  float shift, scale;
  EMBER_AVX2 __m256 operator()(__m256 x) const {
    // |x| < inf is false for +-inf and NaN alike.
    const __m256 abs_x = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    const __m256 finite = _mm256_cmp_ps(abs_x, _mm256_set1_ps(INFINITY), _CMP_LT_OQ);
    const __m256 y = _mm256_mul_ps(_mm256_sub_ps(x, _mm256_set1_ps(shift)), _mm256_set1_ps(scale));
    return _mm256_and_ps(exp8_avx2(y), finite);
  }
};

EMBER_AVX2 void exp_shifted_avx2(const float* in, float shift, float scale, float* out,
                                 int64_t n) {
  map8_avx2(in, out, n, ExpShifted8{shift, scale});
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
