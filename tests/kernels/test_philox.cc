// The device-compilable Philox in kernels/philox.h against the serve sampler's (the stream the
// CPU sampler draws from): same words, same uniforms, so a GPU draw equals the CPU draw.
// Host-only: runs without a GPU.
#include "kernels/philox.h"

#include <gtest/gtest.h>

#include "engine/sample/philox.h"

namespace ember {
namespace {

TEST(CudaPhilox, MatchesRandom123KnownAnswers) {
  const auto a = cuda::philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(a.v[0], 0x6627e8d5u);
  EXPECT_EQ(a.v[3], 0x9b00dbd8u);
  const auto b = cuda::philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                     0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(b.v[0], 0xd16cfe09u);
  EXPECT_EQ(b.v[1], 0x94fdccebu);
  EXPECT_EQ(b.v[2], 0x5001e420u);
  EXPECT_EQ(b.v[3], 0x24126ea1u);
}

TEST(CudaPhilox, UniformEqualsServeSampler) {
  for (uint64_t seed : {0ull, 1ull, 0xdeadbeefcafef00dull, 1ull << 40})
    for (uint64_t step : {0ull, 1ull, 255ull, (1ull << 32) + 7})
      for (uint32_t index : {0u, 3u}) {
        EXPECT_EQ(cuda::philox_uniform(seed, step, index, 0u),
                  philox_uniform(seed, step, index, DrawPurpose::Token));
        EXPECT_EQ(cuda::philox_uniform(seed, step, index, 1u),
                  philox_uniform(seed, step, index, DrawPurpose::Xtc));
      }
}

}  // namespace
}  // namespace ember
