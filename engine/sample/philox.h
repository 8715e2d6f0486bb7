#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. The output is a pure function of (counter, key), so a sampler keyed
// by (seed, request step) draws the same numbers whatever else is in the batch, on any device:
// the GPU sampler computes the same four words with the same integer arithmetic.
#include <array>
#include <cstdint>

namespace ember {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

inline PhiloxCounter philox4x32_10(PhiloxCounter c, PhiloxKey k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    const uint64_t p0 = uint64_t(kM0) * c[0];
    const uint64_t p1 = uint64_t(kM1) * c[2];
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

// What a draw is for; part of the counter so the streams never overlap.
enum class DrawPurpose : uint32_t { Token = 0, Xtc = 1 };

// A uniform double in [0, 1) with 53 random bits, keyed by the request seed and counting by
// (step, completion index, purpose).
inline double philox_uniform(uint64_t seed, uint64_t step, uint32_t index, DrawPurpose purpose) {
  const PhiloxCounter out = philox4x32_10(
      {uint32_t(step), uint32_t(step >> 32), index, uint32_t(purpose)},
      {uint32_t(seed), uint32_t(seed >> 32)});
  const uint64_t bits = (uint64_t(out[0]) << 32 | out[1]) >> 11;
  return double(bits) * 0x1.0p-53;
}

}  // namespace ember
