#include <cmath>

#include <gtest/gtest.h>

#include "engine/model/weights.h"

namespace ember {
namespace {

ModelConfig rope_config(int head_dim, double theta) {
  ModelConfig c;
  c.head_dim = head_dim;
  c.rope_theta = theta;
  return c;
}

// Expected values come from transformers' float32 arithmetic re-done in plain Python (every
// torch op rounded to float32 with struct.pack('f')), not from this code:
//   f=lambda x: struct.unpack('f',struct.pack('f',x))[0]
//   plain = [f(1.0/f(f(base)**f(f(2*i)/f(D)))) for i in range(D//2)]
//   llama3: wl=f(f(1/v)*f(2*pi)); ll=f(v/fac) if wl>f(old/lo) else v;
//           sm=f(f(f(f(1/wl)*old)-lo)/f(hi-lo)); smd=f(f(f(f(1-sm)*ll)/fac)+f(sm*ll));
//           v' = smd if not wl<f(old/hi) and not wl>f(old/lo) else ll
// printed with '%.9g'. transformers 5.24 / torch 2.x (LlamaRotaryEmbedding(config).inv_freq)
// gives the same numbers for every case below.

TEST(Rope, PlainThetaTenThousand) {
  const std::vector<float> want = {1.0f, 0.100000001f, 0.00999999978f, 0.00100000005f};
  const std::vector<float> got = rope_inv_freq(rope_config(8, 10000.0));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << i;
}

TEST(Rope, PlainThetaMillion) {
  const std::vector<float> want = {
      1.0f,           0.421696514f,    0.177827939f,    0.0749894157f,
      0.0316227786f,  0.0133352149f,   0.00562341325f,  0.00237137382f,
      0.00100000005f, 0.000421696488f, 0.00017782794f,  7.49894243e-05f,
      3.16227743e-05f, 1.33352141e-05f, 5.62341347e-06f, 2.37137374e-06f};
  const std::vector<float> got = rope_inv_freq(rope_config(32, 1000000.0));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << i;
}

TEST(Rope, LinearScalingDividesByFactor) {
  ModelConfig c = rope_config(8, 10000.0);
  c.rope_scaling.type = RopeScaling::Type::Linear;
  c.rope_scaling.factor = 4.0;
  const std::vector<float> want = {0.25f, 0.0250000004f, 0.00249999994f, 0.000250000012f};
  const std::vector<float> got = rope_inv_freq(c);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << i;
}

// Llama 3.1 8B: head_dim 128, theta 500000, factor 8, low 1, high 4, original context 8192.
// Indices cover the three bands: i <= 28 keep their frequency, 29..34 are smoothed, >= 35
// are divided by 8.
TEST(Rope, Llama3Scaling) {
  ModelConfig c = rope_config(128, 500000.0);
  c.rope_scaling.type = RopeScaling::Type::Llama3;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 8192;
  const std::vector<float> got = rope_inv_freq(c);
  ASSERT_EQ(got.size(), 64u);
  const std::vector<std::pair<int, float>> want = {
      {0, 1.0f},           {10, 0.128687382f},  {20, 0.0165604409f},   {28, 0.00321144611f},
      {29, 0.00216657063f}, {31, 0.00085675146f}, {34, 0.000178507791f}, {35, 9.55621217e-05f},
      {50, 4.41153452e-06f}, {63, 3.06892588e-07f}};
  for (auto [i, v] : want) EXPECT_FLOAT_EQ(got[i], v) << i;

  const std::vector<float> plain = rope_inv_freq(rope_config(128, 500000.0));
  EXPECT_EQ(got[28], plain[28]);
  EXPECT_EQ(got[35], plain[35] / 8.0f);
  EXPECT_LT(got[31], plain[31]);
  EXPECT_GT(got[31], plain[31] / 8.0f);
}

TEST(Rope, RejectsOddHeadDim) {
  EXPECT_THROW(rope_inv_freq(rope_config(7, 10000.0)), std::exception);
}

}  // namespace
}  // namespace ember
