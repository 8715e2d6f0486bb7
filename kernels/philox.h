#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, so the draw of a request at decode step n depends only on
// (seed, n), not on batch composition or on which device computes it. Host and device code
// share this header. It computes exactly what engine/sample/philox.h computes (the serve
// sampler's stream; tests/kernels/test_philox.cc checks that the two agree), in a form nvcc
// compiles for the device.
#include <cstdint>

#if defined(__CUDACC__)
#define EMBER_HD __host__ __device__ __forceinline__
#else
#define EMBER_HD inline
#endif

namespace ember::cuda {

struct Philox4x32 {
  uint32_t v[4];
};

EMBER_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

EMBER_HD Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, ctr.v[0], hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, ctr.v[2], hi1, lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// The sampler's uniform in [0, 1) with 53 random bits: key = seed, counter = (step, completion
// index, purpose); purpose 0 is the token draw (serve's DrawPurpose::Token).
EMBER_HD double philox_uniform(uint64_t seed, uint64_t step, uint32_t index, uint32_t purpose) {
  const Philox4x32 out = philox4x32_10(
      Philox4x32{{uint32_t(step), uint32_t(step >> 32), index, purpose}}, uint32_t(seed),
      uint32_t(seed >> 32));
  const uint64_t bits = (uint64_t(out.v[0]) << 32 | out.v[1]) >> 11;
  return double(bits) * (1.0 / 9007199254740992.0);  // 2^-53
}

}  // namespace ember::cuda
