#include "engine/sample/philox.h"

#include <set>

#include <gtest/gtest.h>

namespace ember {
namespace {

// Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds).
TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                          {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, UniformIsInRangeAndDependsOnEveryCounterPart) {
  std::set<double> seen;
  for (uint64_t seed : {1ull, 2ull, 1ull << 40})
    for (uint64_t step = 0; step < 50; ++step)
      for (uint32_t idx = 0; idx < 3; ++idx)
        for (auto purpose : {DrawPurpose::Token, DrawPurpose::Xtc}) {
          const double u = philox_uniform(seed, step, idx, purpose);
          ASSERT_GE(u, 0.0);
          ASSERT_LT(u, 1.0);
          seen.insert(u);
        }
  EXPECT_EQ(seen.size(), 3u * 50 * 3 * 2);  // no two counters gave the same number
  EXPECT_EQ(philox_uniform(7, 3, 1, DrawPurpose::Token), philox_uniform(7, 3, 1, DrawPurpose::Token));
}

TEST(Philox, UniformMeanIsAboutOneHalf) {
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) sum += philox_uniform(42, i, 0, DrawPurpose::Token);
  // sd of the mean is 1/sqrt(12 n) ~ 0.0009; 0.005 is > 5 sd.
  EXPECT_NEAR(sum / n, 0.5, 0.005);
}

}  // namespace
}  // namespace ember
