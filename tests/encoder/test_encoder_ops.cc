// The encoder ops of the CPU backend (add_layernorm, gelu_erf, encoder_attention) against
// naive float64 versions, on the AVX2 and the scalar paths; MPNet's relative position buckets
// against transformers' values; mean pooling.
#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "engine/cpu/cpu_backend.h"
#include "engine/encoder/pooling.h"
#include "engine/encoder/relative_position.h"

namespace ember {
namespace {

std::vector<float> randoms(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

class EncoderOps : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend({.threads = 2, .allow_simd = GetParam()});
  Tensor up(const std::vector<float>& v, Shape s) {
    return be->upload(v.data(), DType::F32, s, false);
  }
  void attention_case(int hd);
  std::vector<float> down(const Tensor& t) {
    std::vector<float> v(size_t(t.numel()));
    be->download(t, v.data());
    return v;
  }
};

TEST_P(EncoderOps, AddLayerNormIsTorchsLayerNormOfTheSum) {
  const int T = 5, H = 384;
  const auto x = randoms(T * H, 1, 3.f), y = randoms(T * H, 2), w = randoms(H, 3), b = randoms(H, 4);
  for (bool with_y : {true, false}) {
    Tensor tx = up(x, {T, H}), ty = up(y, {T, H});
    be->add_layernorm(tx, with_y ? &ty : nullptr, up(w, {H}), up(b, {H}), 1e-12f);
    const auto got = down(tx);
    for (int t = 0; t < T; ++t) {
      double mean = 0, var = 0;
      std::vector<double> r(H);
      for (int i = 0; i < H; ++i) mean += r[i] = double(x[t * H + i]) + (with_y ? y[t * H + i] : 0.0);
      mean /= H;
      for (int i = 0; i < H; ++i) var += (r[i] - mean) * (r[i] - mean);
      var /= H;
      for (int i = 0; i < H; ++i) {
        const double want = (r[i] - mean) / std::sqrt(var + 1e-12) * w[i] + b[i];
        ASSERT_NEAR(got[t * H + i], want, 2e-5 * (1 + std::abs(want))) << t << "," << i;
      }
    }
  }
}

// The scalar path uses std::erf; the AVX2 path its own erf, within 2e-7 of the exact one: on a
// dense grid (and the edges), gelu is within 2e-7·|x|/2 plus an ulp of the exact gelu.
TEST_P(EncoderOps, GeluErfIsTheExactGelu) {
  std::vector<float> x = randoms(1000, 5, 4.f);
  for (float v = -12.f; v <= 12.f; v += 1.0f / 4096) x.push_back(v);
  x.insert(x.end(), {0.f, -0.f, 1e-20f, -1e-30f, 1.4142135f, -1.4142135f, 5.656854f, 40.f, -40.f,
                     std::numeric_limits<float>::infinity()});
  Tensor t = up(x, {int64_t(x.size())});
  be->gelu_erf(t);
  const auto got = down(t);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], want = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    if (std::isinf(v)) {
      EXPECT_EQ(got[i], v);
      continue;
    }
    const double err = std::abs(got[i] - want);
    worst = std::max(worst, err / (0.5 * std::abs(v) + 1e-30));
    ASSERT_LE(err, 2e-7 * 0.5 * std::abs(v) + 1.2e-7 * std::abs(want) + 1e-38) << v;
  }
  std::printf("gelu_erf: worst error %.2e of |x|/2\n", worst);
}

// Head sizes below, at and past the AVX2 path's 32-float blocks; a sequence longer than 32 keys.
TEST_P(EncoderOps, AttentionStaysWithinEachSequenceAndAddsTheRelativeBias) {
  for (int hd : {8, 32, 40}) attention_case(hd);
}

void EncoderOps::attention_case(int hd) {
  const int nh = 3, H = nh * hd;
  const std::vector<int> lens = {5, 1, 37};
  StepInput in;
  for (int n : lens) {
    for (int i = 0; i < n; ++i) {
      in.tokens.push_back(0);
      in.positions.push_back(i);
      in.slot_mapping.push_back(0);
    }
    in.seqs.push_back({n, n, {}});
  }
  const int T = in.num_tokens(), L = 37, span = 2 * L - 1;
  const auto qkv = randoms(size_t(T) * 3 * H, 6), bias = randoms(size_t(nh) * span, 7);
  const StepTensors st = be->upload_step(in);
  AttnShape a;
  a.n_heads = a.n_kv_heads = nh;
  a.head_dim = hd;
  a.scale = 1.f / std::sqrt(float(hd));
  for (bool with_bias : {false, true}) {
    Tensor out = be->alloc(DType::F32, {T, H});
    Tensor tb = up(bias, {nh, span});
    be->encoder_attention(up(qkv, {T, 3 * H}), st, a, with_bias ? &tb : nullptr, out);
    const auto got = down(out);
    int q0 = 0;
    for (int n : lens) {
      for (int i = 0; i < n; ++i)
        for (int h = 0; h < nh; ++h) {
          std::vector<double> p(n);
          double mx = -1e300, sum = 0;
          for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int d = 0; d < hd; ++d)
              s += double(qkv[(q0 + i) * 3 * H + h * hd + d]) * qkv[(q0 + j) * 3 * H + H + h * hd + d];
            p[j] = s * a.scale + (with_bias ? bias[h * span + (j - i + L - 1)] : 0.0);
            mx = std::max(mx, p[j]);
          }
          for (auto& v : p) sum += v = std::exp(v - mx);
          for (int d = 0; d < hd; ++d) {
            double want = 0;
            for (int j = 0; j < n; ++j) want += p[j] / sum * qkv[(q0 + j) * 3 * H + 2 * H + h * hd + d];
            ASSERT_NEAR(got[(q0 + i) * H + h * hd + d], want, 1e-5) << "token " << q0 + i << ", hd " << hd;
          }
        }
      q0 += n;
    }
  }
}

TEST_P(EncoderOps, WrongShapesAreErrors) {
  Tensor x = be->alloc(DType::F32, {2, 4});
  const std::vector<float> w3(3);
  EXPECT_THROW(be->add_layernorm(x, nullptr, up(w3, {3}), up(w3, {3}), 1e-5f), std::exception);
}

INSTANTIATE_TEST_SUITE_P(Paths, EncoderOps, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "simd" : "scalar"; });

TEST(RelativePosition, BucketsAreTransformersMPNet) {
  // MPNetEncoder.relative_position_bucket(torch.tensor(rels)) with transformers 5.
  const int rels[] = {-500, -200, -128, -127, -100, -64, -20, -9, -8, -7, -1, 0, 1, 7,
                      8,    9,    11,   12,   16,   20,  32,  64, 100, 127, 128, 200, 500};
  const int want[] = {15, 15, 15, 15, 15, 14, 10, 8,  8,  7,  1,  0,  17, 23,
                      24, 24, 24, 25, 26, 26, 28, 30, 31, 31, 31, 31, 31};
  for (size_t i = 0; i < std::size(rels); ++i)
    EXPECT_EQ(relative_position_bucket(rels[i]), want[i]) << rels[i];
}

TEST(RelativePosition, TableIsIndexedByKeyMinusQuery) {
  const int buckets = 32, heads = 2, L = 4;
  std::vector<float> w(buckets * heads);
  for (int b = 0; b < buckets; ++b)
    for (int h = 0; h < heads; ++h) w[b * heads + h] = float(100 * h + b);
  const auto t = relative_bias_table(w, buckets, heads, L);
  ASSERT_EQ(t.size(), size_t(heads * (2 * L - 1)));
  for (int h = 0; h < heads; ++h)
    for (int rel = -(L - 1); rel <= L - 1; ++rel)
      EXPECT_EQ(t[h * (2 * L - 1) + rel + L - 1], float(100 * h + relative_position_bucket(rel)));
}

TEST(Pooling, MeanThenUnitLength) {
  const std::vector<float> rows = {1, 2, 3, 3, 2, 1};
  const auto raw = mean_pool(rows.data(), 2, 3, false);
  EXPECT_EQ(raw, (std::vector<float>{2, 2, 2}));
  const auto unit = mean_pool(rows.data(), 2, 3, true);
  for (float v : unit) EXPECT_NEAR(v, 1 / std::sqrt(3.0), 1e-7);
  const std::vector<float> zeros(3, 0.f);
  EXPECT_EQ(mean_pool(zeros.data(), 1, 3, true), zeros);  // no division by zero
}

}  // namespace
}  // namespace ember
