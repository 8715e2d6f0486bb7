// Each CPU op against a naive double-precision implementation on random inputs, on both the
// AVX2 and the portable scalar path. Error bounds are stated next to each check.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/cpu_simd.h"
#include "engine/cpu/thread_pool.h"
#include "engine/sample/vector_exp.h"

namespace ember {
namespace {

constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff

std::vector<float> randn(size_t n, std::mt19937& g, float scale = 1.f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Encodes f32 values in dtype `t` and returns the bytes plus the values they decode to.
struct Encoded {
  std::vector<uint8_t> bytes;
  std::vector<double> values;
};
Encoded encode(const std::vector<float>& v, DType t) {
  Encoded e;
  e.bytes.resize(v.size() * dtype_size(t));
  e.values.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t) {
      case DType::F32: std::memcpy(&e.bytes[i * 4], &v[i], 4); break;
      case DType::BF16: {
        uint16_t h = f32_to_bf16(v[i]);
        std::memcpy(&e.bytes[i * 2], &h, 2);
        break;
      }
      case DType::F16: {
        uint16_t h = f32_to_f16(v[i]);
        std::memcpy(&e.bytes[i * 2], &h, 2);
        break;
      }
      case DType::F8_E4M3: {
        // Any byte is a value; pick one near v (exactness is irrelevant, decoding is).
        uint8_t b = uint8_t(std::lround(std::clamp(v[i] * 20.f, -100.f, 100.f)) & 0x77) |
                    (v[i] < 0 ? 0x80 : 0);
        e.bytes[i] = b;
        break;
      }
      default: break;
    }
    e.values[i] = load_as_f32(e.bytes.data(), t, i);
  }
  return e;
}

struct Backends {
  std::unique_ptr<Backend> simd = make_cpu_backend(CpuBackendOptions{3, true});
  std::unique_ptr<Backend> scalar = make_cpu_backend(CpuBackendOptions{2, false});
  std::vector<Backend*> all() { return {simd.get(), scalar.get()}; }
};

Tensor up(Backend& be, const std::vector<float>& v, Shape s) {
  return be.upload(v.data(), DType::F32, s, false);
}
std::vector<float> down(Backend& be, const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  be.download(t, v.data());
  return v;
}

TEST(ThreadPool, RunsEveryTaskOnceAndPropagatesErrors) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  pool.run(1000, [&](int64_t i) { hits[size_t(i)]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(pool.run(50, [](int64_t i) { if (i == 17) fail("task {}", i); }), Error);
  std::atomic<int> n{0};
  pool.run(10, [&](int64_t) { n++; });  // usable after an error
  EXPECT_EQ(n.load(), 10);
}

TEST(ThreadPool, BackToBackAndSpacedRegionsEachFinishBeforeRunReturns) {
  // Regions microseconds apart (workers still spinning) and ones after a pause (workers asleep):
  // run() must return only once every task of its region is done, and never lose a wakeup.
  ThreadPool pool(3);
  std::atomic<int64_t> done{0};
  for (int r = 0; r < 3000; ++r) {
    if (r % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    done = 0;
    const int64_t n = 1 + r % 7;
    pool.run(n, [&](int64_t) { done.fetch_add(1); });
    ASSERT_EQ(done.load(), n) << "region " << r;
  }
}

TEST(CpuOps, ReportsIsa) {
  Backends b;
  EXPECT_NE(b.scalar->name().find("scalar"), std::string::npos);
  if (cpu_has_avx2()) {
    EXPECT_NE(b.simd->name().find("avx2"), std::string::npos);
  }
}

#ifdef EMBER_X86
// The vector exp behind SiLU and the attention softmax: within 2 ulp of e^x (in double) over
// the whole range, 0 below -87.33, +inf above 88.72, NaN for NaN, and a value's result is the
// same wherever it sits (full vectors and the padded tail).
TEST(CpuOps, VectorExpIsWithinTwoUlpAndPositionIndependent) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::vector<float> xs;
  for (float x = -87.3f; x <= 88.7f; x += 0.0137f) xs.push_back(x);
  for (float x : {0.f, -0.f, 1e-30f, -1e-30f, 0.5f, -0.34657f, 0.34657f, 88.72f, -87.33f})
    xs.push_back(x);
  std::vector<float> ys(xs.size());
  cpu::exp_f32_avx2(xs.data(), ys.data(), int64_t(xs.size()));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double ref = std::exp(double(xs[i]));
    const double ulp = std::nextafter(float(ref), INFINITY) - float(ref);
    ASSERT_LE(std::abs(ys[i] - ref), 2 * ulp) << "x=" << xs[i];
    // The same value alone (the tail path, lane 0) gives the same bits.
    float alone = 0;
    cpu::exp_f32_avx2(&xs[i], &alone, 1);
    ASSERT_EQ(alone, ys[i]) << "x=" << xs[i];
  }
  const float edge[] = {-87.34f, -100.f, -1e30f, -INFINITY, 88.73f, 1e30f, INFINITY};
  float out[7];
  cpu::exp_f32_avx2(edge, out, 7);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], 0.f) << edge[i];
  for (int i = 4; i < 7; ++i) EXPECT_EQ(out[i], INFINITY) << edge[i];
  const float nan = std::nanf("");
  float nan_out = 0;
  cpu::exp_f32_avx2(&nan, &nan_out, 1);
  EXPECT_TRUE(std::isnan(nan_out));
}
#endif

// The sampler's softmax numerators: e^((x - shift) * scale) within 2 ulp where x is finite, and 0
// for -inf, +inf and NaN, at any position (13 values: a vector and a tail).
TEST(CpuOps, ShiftedExpZeroesNonFiniteInputs) {
  const float shift = 2.5f, scale = 1.25f;
  const float xs[13] = {2.5f,  0.f,      -1.f,      -INFINITY, 1.75f,  INFINITY, -30.f,
                        2.25f, std::nanf(""), -INFINITY, 0.125f, -80.f,    2.f};
  float ys[13];
  cpu::exp_shifted_f32(xs, shift, scale, ys, 13);
  for (int i = 0; i < 13; ++i) {
    if (!std::isfinite(xs[i])) {
      EXPECT_EQ(ys[i], 0.f) << "x=" << xs[i];
      continue;
    }
    const double ref = std::exp(double((xs[i] - shift) * scale));
    const double ulp = std::nextafter(float(ref), INFINITY) - float(ref);
    EXPECT_LE(std::abs(ys[i] - ref), 2 * ulp) << "x=" << xs[i];
  }
  EXPECT_EQ(ys[0], 1.f);  // the maximum itself
}

struct MatmulCase {
  int T, K, N;
  DType wd;
  bool bias;
};

TEST(CpuOps, MatmulMatchesDoubleReference) {
  // Bound: recursive fp32 summation of K products: |err| <= 2 K u Σ|x w| (+ bias rounding).
  const MatmulCase cases[] = {
      {1, 64, 48, DType::F32, false},  {3, 37, 5, DType::F32, true},
      {16, 256, 130, DType::BF16, true}, {5, 100, 33, DType::F16, false},
      {9, 72, 17, DType::F8_E4M3, true}, {1, 1, 3, DType::BF16, false},
      {33, 129, 64, DType::BF16, false}, {4, 768, 7, DType::F16, true}};
  std::mt19937 g(1);
  Backends b;
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "T=" << c.T << " K=" << c.K << " N=" << c.N << " "
                                    << dtype_name(c.wd));
    auto x = randn(size_t(c.T) * c.K, g);
    auto w = encode(randn(size_t(c.N) * c.K, g, 0.1f), c.wd);
    auto bias = encode(randn(size_t(c.N), g), c.wd == DType::F8_E4M3 ? DType::F32 : c.wd);
    std::vector<std::vector<float>> results;
    std::vector<double> bound(size_t(c.T) * c.N);
    for (Backend* be : b.all()) {
      Tensor xt = up(*be, x, {c.T, c.K});
      Tensor wt = be->upload(w.bytes.data(), c.wd, {c.N, c.K}, true);
      Tensor bt = be->upload(bias.bytes.data(), c.wd == DType::F8_E4M3 ? DType::F32 : c.wd,
                             {c.N}, true);
      Tensor out = be->alloc(DType::F32, {c.T, c.N});
      be->matmul(xt, wt, c.bias ? &bt : nullptr, out);
      auto got = down(*be, out);
      for (int t = 0; t < c.T; ++t)
        for (int n = 0; n < c.N; ++n) {
          double ref = c.bias ? bias.values[size_t(n)] : 0.0, mag = std::abs(ref) * kU;
          for (int k = 0; k < c.K; ++k) {
            const double p = double(x[size_t(t) * c.K + k]) * w.values[size_t(n) * c.K + k];
            ref += p;
            mag += std::abs(p);
          }
          bound[size_t(t) * c.N + n] = 2 * (c.K + 1) * kU * mag + 1e-30;
          ASSERT_NEAR(got[size_t(t) * c.N + n], ref, bound[size_t(t) * c.N + n])
              << be->name() << " t=" << t << " n=" << n;
        }
      results.push_back(got);
    }
    // The AVX2 and scalar paths are two fp32 evaluations of the same sums: within twice the bound.
    for (size_t i = 0; i < bound.size(); ++i)
      ASSERT_NEAR(results[0][i], results[1][i], 2 * bound[i]) << "element " << i;
  }
}

TEST(CpuOps, MatmulRowsAreBatchInvariant) {
  // A token's output does not depend on which other tokens share the step, or on the thread
  // count: bitwise equal. (Serving relies on this for reproducible sampling.)
  std::mt19937 g(2);
  const int T = 11, K = 200, N = 70;
  auto x = randn(size_t(T) * K, g);
  auto w = encode(randn(size_t(N) * K, g), DType::BF16);
  for (bool simd : {true, false}) {
    auto one = make_cpu_backend(CpuBackendOptions{1, simd});
    auto many = make_cpu_backend(CpuBackendOptions{4, simd});
    Tensor wt = many->upload(w.bytes.data(), DType::BF16, {N, K}, true);
    Tensor out = many->alloc(DType::F32, {T, N});
    many->matmul(up(*many, x, {T, K}), wt, nullptr, out);
    auto batched = down(*many, out);
    for (int t = 0; t < T; ++t) {
      std::vector<float> row(x.begin() + t * K, x.begin() + (t + 1) * K);
      Tensor o1 = one->alloc(DType::F32, {1, N});
      one->matmul(up(*one, row, {1, K}), wt, nullptr, o1);
      auto single = down(*one, o1);
      for (int n = 0; n < N; ++n)
        ASSERT_EQ(single[size_t(n)], batched[size_t(t) * N + n]) << "simd=" << simd << " t=" << t;
    }
  }
}

// Each token of x alone, on `single` (one thread), gives bit for bit the row `got` has for it.
void expect_rows_batch_invariant(Backend& single, const std::vector<float>& x, const Tensor& wt,
                                 const std::vector<float>* bias, int K, int N,
                                 const std::vector<float>& got) {
  const int T = int(x.size()) / K;
  for (int t = 0; t < T; ++t) {
    std::vector<float> row(x.begin() + t * K, x.begin() + (t + 1) * K);
    Tensor o1 = single.alloc(DType::F32, {1, N});
    Tensor b1 = bias ? up(single, *bias, {N}) : Tensor{};
    single.matmul(up(single, row, {1, K}), wt, bias ? &b1 : nullptr, o1);
    const auto alone = down(single, o1);
    for (int n = 0; n < N; ++n)
      ASSERT_EQ(alone[size_t(n)], got[size_t(t) * N + n]) << "t=" << t << " n=" << n;
  }
}

TEST(CpuOps, PackedBf16MatmulMatchesDoubleReferenceAndIsBatchInvariant) {
  // Weights the backend prepared (bf16 in 16-row panels): partial last panels, a bias, K = 2,
  // tiles of 1 to 6 tokens and of 1 to 4 panels, K in several chunks (the last one short) with
  // partial panels resumed from the output, and more tokens than one block (T * K * 4 bytes >
  // 256 KiB).
  // Bound: one fp32 chain of K products, then the bias: |err| <= 2 (K + 1) u (Σ|x w| + |bias|).
  struct Case {
    int T, K, N;
    bool bias;
  };
  const Case cases[] = {{1, 64, 48, false},  {5, 130, 37, true},   {16, 256, 16, false},
                        {33, 2, 70, true},   {11, 200, 70, false}, {64, 768, 40, true},
                        {7, 600, 37, true},  {2, 600, 70, false},  {100, 1000, 20, true},
                        {1, 64, 170, true},  {2, 64, 170, false}};
  std::mt19937 g(3);
  Backends b;
  auto single = make_cpu_backend(CpuBackendOptions{1, true});
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "T=" << c.T << " K=" << c.K << " N=" << c.N);
    auto x = randn(size_t(c.T) * c.K, g);
    auto w = encode(randn(size_t(c.N) * c.K, g, 0.1f), DType::BF16);
    auto bias = randn(size_t(c.N), g);
    for (Backend* be : b.all()) {
      Tensor wt = be->prepare_matmul_weight(
          be->upload(w.bytes.data(), DType::BF16, {c.N, c.K}, true));
      ASSERT_EQ(wt.layout, TensorLayout::CpuBf16Panels16);
      Tensor bt = up(*be, bias, {c.N});
      Tensor out = be->alloc(DType::F32, {c.T, c.N});
      be->matmul(up(*be, x, {c.T, c.K}), wt, c.bias ? &bt : nullptr, out);
      const auto got = down(*be, out);
      for (int t = 0; t < c.T; ++t)
        for (int n = 0; n < c.N; ++n) {
          double ref = c.bias ? bias[size_t(n)] : 0.0, mag = std::abs(ref);
          for (int k = 0; k < c.K; ++k) {
            const double p = double(x[size_t(t) * c.K + k]) * w.values[size_t(n) * c.K + k];
            ref += p;
            mag += std::abs(p);
          }
          ASSERT_NEAR(got[size_t(t) * c.N + n], ref, 2 * (c.K + 2) * kU * mag + 1e-30)
              << be->name() << " t=" << t << " n=" << n;
        }
      if (be == b.simd.get())
        expect_rows_batch_invariant(*single, x, wt, c.bias ? &bias : nullptr, c.K, c.N, got);
    }
  }
}

// bf16_matmul_inputs: x rounded to bf16 (nearest even), then exact products with the bf16
// weights summed in fp32 (AVX-512 BF16 dot products where the CPU has them, fp32 FMAs where
// not); a row's bits do not depend on the batch.
TEST(CpuOps, PackedMatmulWithBf16InputsRoundsXAndIsBatchInvariant) {
  struct Case {
    int T, K, N;
    bool bias;
  };
  const Case cases[] = {{1, 64, 48, false}, {5, 130, 37, true},  {16, 256, 16, false},
                        {33, 2, 70, true},  {12, 96, 170, true}, {13, 600, 37, false},
                        {100, 1000, 20, true}, {2, 64, 170, false}, {9, 40, 300, true}};
  std::mt19937 g(5);
  CpuBackendOptions fast{3, true, true}, fast_one{1, true, true}, fallback{2, false, true};
  auto be = make_cpu_backend(fast), single = make_cpu_backend(fast_one);
  auto portable = make_cpu_backend(fallback);
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "T=" << c.T << " K=" << c.K << " N=" << c.N);
    auto x = randn(size_t(c.T) * c.K, g);
    auto w = encode(randn(size_t(c.N) * c.K, g, 0.1f), DType::BF16);
    auto bias = randn(size_t(c.N), g);
    for (Backend* b : {be.get(), portable.get()}) {
      Tensor wt = b->prepare_matmul_weight(b->upload(w.bytes.data(), DType::BF16, {c.N, c.K}, true));
      Tensor bt = up(*b, bias, {c.N});
      Tensor out = b->alloc(DType::F32, {c.T, c.N});
      b->matmul(up(*b, x, {c.T, c.K}), wt, c.bias ? &bt : nullptr, out);
      const auto got = down(*b, out);
      double gap = 0;
      for (int t = 0; t < c.T; ++t)
        for (int n = 0; n < c.N; ++n) {
          double ref = c.bias ? bias[size_t(n)] : 0.0, mag = std::abs(ref), unrounded = ref;
          for (int k = 0; k < c.K; ++k) {
            const float xk = x[size_t(t) * c.K + k];
            const double p = double(bf16_to_f32(f32_to_bf16(xk))) * w.values[size_t(n) * c.K + k];
            ref += p;
            unrounded += double(xk) * w.values[size_t(n) * c.K + k];
            mag += std::abs(p);
          }
          ASSERT_NEAR(got[size_t(t) * c.N + n], ref, 2 * (c.K + 2) * kU * mag + 1e-30)
              << b->name() << " t=" << t << " n=" << n;
          gap = std::max(gap, std::abs(unrounded - ref) / (2 * (c.K + 2) * kU * mag));
        }
      // The rounding is there: with x unrounded some sums differ beyond fp32 rounding.
      if (c.K >= 64) EXPECT_GT(gap, 1.0) << b->name();
      if (b == be.get())
        expect_rows_batch_invariant(*single, x, wt, c.bias ? &bias : nullptr, c.K, c.N, got);
    }
  }
}

TEST(CpuOps, OnlyBf16WeightsWithEvenRowsArePacked) {
  auto be = make_cpu_backend(1);
  std::vector<uint8_t> bytes(4 * 3 * 4);
  for (auto [dt, k] : std::vector<std::pair<DType, int64_t>>{
           {DType::F32, 4}, {DType::F16, 4}, {DType::BF16, 3}}) {
    Tensor w = be->upload(bytes.data(), dt, {2, k}, false);
    EXPECT_EQ(be->prepare_matmul_weight(w).layout, TensorLayout::RowMajor) << dtype_name(dt);
  }
}

TEST(CpuOps, MatmulRejectsMismatchedShapes) {
  auto be = make_cpu_backend(1);
  Tensor x = be->alloc(DType::F32, {2, 8}), w = be->alloc(DType::F32, {4, 7});
  Tensor out = be->alloc(DType::F32, {2, 4});
  EXPECT_THROW(be->matmul(x, w, nullptr, out), Error);
  Tensor w2 = be->alloc(DType::F32, {4, 8}), bad_out = be->alloc(DType::F32, {2, 5});
  EXPECT_THROW(be->matmul(x, w2, nullptr, bad_out), Error);
}

std::vector<double> ref_rmsnorm(const float* x, const std::vector<double>& w, int n, double eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / n + eps);
  std::vector<double> o(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) o[size_t(i)] = x[i] * inv * w[size_t(i)];
  return o;
}

// Norm outputs: |err| <= 1e-5 * max|ref| over the row (fp32 mean of squares and rsqrt).
void expect_row_close(const float* got, const std::vector<double>& ref, const std::string& what) {
  double mx = 0;
  for (double r : ref) mx = std::max(mx, std::abs(r));
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], 1e-5 * mx) << what << " i=" << i;
}

TEST(CpuOps, RmsnormAndAddRmsnorm) {
  std::mt19937 g(3);
  Backends b;
  for (int H : {1, 7, 64, 333}) {
    for (DType wd : {DType::F32, DType::BF16}) {
      const int T = 5;
      auto x = randn(size_t(T) * H, g, 3.f), y = randn(size_t(T) * H, g);
      auto w = encode(randn(size_t(H), g), wd);
      const float eps = 1e-5f;
      for (Backend* be : b.all()) {
        Tensor wt = be->upload(w.bytes.data(), wd, {H}, true);
        Tensor out = be->alloc(DType::F32, {T, H});
        be->rmsnorm(up(*be, x, {T, H}), wt, eps, out);
        auto got = down(*be, out);
        for (int t = 0; t < T; ++t)
          expect_row_close(&got[size_t(t) * H], ref_rmsnorm(&x[size_t(t) * H], w.values, H, eps),
                           be->name() + " rmsnorm");
        Tensor resid = up(*be, x, {T, H});
        be->add_rmsnorm(resid, up(*be, y, {T, H}), wt, eps, out);
        auto r = down(*be, resid);
        got = down(*be, out);
        std::vector<float> sum(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          sum[i] = x[i] + y[i];
          ASSERT_EQ(r[i], sum[i]);  // the residual holds the exact fp32 sum
        }
        for (int t = 0; t < T; ++t)
          expect_row_close(&got[size_t(t) * H],
                           ref_rmsnorm(&sum[size_t(t) * H], w.values, H, eps),
                           be->name() + " add_rmsnorm");
      }
    }
  }
}

TEST(CpuOps, QkRmsnormNormalisesEachQAndKHeadButNotV) {
  std::mt19937 g(4);
  Backends b;
  AttnShape a{4, 2, 16, 0.25f, 0};
  const int T = 3, W = (4 + 2 * 2) * 16;
  auto x = randn(size_t(T) * W, g, 2.f);
  auto qw = encode(randn(16, g), DType::BF16), kw = encode(randn(16, g), DType::BF16);
  for (Backend* be : b.all()) {
    Tensor qkv = up(*be, x, {T, W});
    be->qk_rmsnorm(qkv, be->upload(qw.bytes.data(), DType::BF16, {16}, true),
                   be->upload(kw.bytes.data(), DType::BF16, {16}, true), 1e-6f, a);
    auto got = down(*be, qkv);
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < 6; ++h) {
        const size_t off = size_t(t) * W + size_t(h) * 16;
        expect_row_close(&got[off], ref_rmsnorm(&x[off], h < 4 ? qw.values : kw.values, 16, 1e-6),
                         be->name() + " head " + std::to_string(h));
      }
      for (int i = 6 * 16; i < W; ++i) ASSERT_EQ(got[size_t(t) * W + i], x[size_t(t) * W + i]);
    }
  }
}

// A batch of sequences laid out in a paged cache with shuffled (non-contiguous) blocks.
struct PagedBatch {
  int bs = 4, num_blocks = 0;
  StepInput step;
  std::vector<int> ctx;  // per sequence
};

PagedBatch make_batch(const std::vector<std::pair<int, int>>& q_and_ctx, int bs, std::mt19937& g) {
  PagedBatch p;
  p.bs = bs;
  int total = 0;
  for (auto [q, c] : q_and_ctx) total += (c + bs - 1) / bs + 1;  // one spare block each
  p.num_blocks = total;
  std::vector<int32_t> ids(static_cast<size_t>(total));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), g);
  size_t next = 0;
  for (auto [q, c] : q_and_ctx) {
    std::vector<int32_t> table;
    for (int i = 0; i < (c + bs - 1) / bs; ++i) table.push_back(ids[next++]);
    next++;
    std::vector<int32_t> toks(size_t(q), 3);
    p.step.add_sequence(toks, c - q, table, bs, true);
    p.ctx.push_back(c);
  }
  return p;
}

TEST(CpuOps, RopeRotatesQAndKAndStoresKvInTheirSlots) {
  std::mt19937 g(5);
  Backends b;
  const int nq = 4, nkv = 2, D = 32, W = (nq + 2 * nkv) * D;
  AttnShape a{nq, nkv, D, 1.f / std::sqrt(32.f), 0};
  auto batch = make_batch({{3, 3}, {1, 4000}, {5, 9}}, 4, g);
  const int T = batch.step.num_tokens();
  std::vector<float> inv(D / 2);
  for (int i = 0; i < D / 2; ++i) inv[size_t(i)] = float(1.0 / std::pow(10000.0, 2.0 * i / D));
  auto x = randn(size_t(T) * W, g);
  for (Backend* be : b.all()) {
    KvCacheSpec spec{2, batch.num_blocks, batch.bs, nkv, D, DType::F32};
    KvCache kv = be->alloc_kv_cache(spec);
    StepTensors st = be->upload_step(batch.step);
    Tensor qkv = up(*be, x, {T, W});
    be->rope_and_store_kv(qkv, up(*be, inv, {D / 2}), st, a, kv, 1);
    auto got = down(*be, qkv);
    auto kpool = down(*be, kv.k[1]), vpool = down(*be, kv.v[1]), k0 = down(*be, kv.k[0]);
    for (float v : k0) ASSERT_EQ(v, 0.f);  // other layers untouched
    size_t stored = 0;
    for (float v : kpool) stored += v != 0.f;
    EXPECT_EQ(stored, size_t(T) * nkv * D);
    for (int t = 0; t < T; ++t) {
      const int pos = batch.step.positions[size_t(t)];
      for (int h = 0; h < nq + nkv; ++h) {
        const float* in = &x[size_t(t) * W + size_t(h) * D];
        const float* o = &got[size_t(t) * W + size_t(h) * D];
        for (int i = 0; i < D / 2; ++i) {
          // The angle is the fp32 product (as torch); cos/sin then in double for the reference.
          const double ang = double(float(pos) * inv[size_t(i)]);
          const double c = std::cos(ang), s = std::sin(ang);
          const double r0 = in[i] * c - in[i + D / 2] * s, r1 = in[i + D / 2] * c + in[i] * s;
          // |err| <= 4u (|a| + |b|): one rounding each in cos/sin, products and the sum.
          const double tol = 4 * kU * (std::abs(in[i]) + std::abs(in[i + D / 2])) + 1e-30;
          ASSERT_NEAR(o[i], r0, tol) << be->name() << " t=" << t << " h=" << h << " i=" << i;
          ASSERT_NEAR(o[i + D / 2], r1, tol);
        }
      }
      const size_t slot = size_t(batch.step.slot_mapping[size_t(t)]);
      for (int i = 0; i < nkv * D; ++i) {
        ASSERT_EQ(kpool[slot * nkv * D + i], got[size_t(t) * W + nq * D + i]);  // rotated k
        ASSERT_EQ(vpool[slot * nkv * D + i], x[size_t(t) * W + (nq + nkv) * D + i]);  // raw v
      }
    }
  }
}

TEST(CpuOps, RopeStoresKvInABf16CacheRoundedToNearestEven) {
  std::mt19937 g(12);
  Backends b;
  const int nq = 2, nkv = 2, D = 16, W = (nq + 2 * nkv) * D;
  AttnShape a{nq, nkv, D, 0.25f, 0};
  auto batch = make_batch({{3, 7}, {1, 2}}, 4, g);
  const int T = batch.step.num_tokens();
  std::vector<float> inv(D / 2);
  for (int i = 0; i < D / 2; ++i) inv[size_t(i)] = float(1.0 / std::pow(10000.0, 2.0 * i / D));
  auto x = randn(size_t(T) * W, g);
  for (Backend* be : b.all()) {
    KvCache kv = be->alloc_kv_cache({1, batch.num_blocks, batch.bs, nkv, D, DType::BF16});
    ASSERT_EQ(kv.k[0].dtype, DType::BF16);
    StepTensors st = be->upload_step(batch.step);
    Tensor qkv = up(*be, x, {T, W});
    be->rope_and_store_kv(qkv, up(*be, inv, {D / 2}), st, a, kv, 0);
    const auto got = down(*be, qkv);  // F32, rotated in place as with an F32 cache
    const uint16_t* kp = kv.k[0].as<uint16_t>();
    const uint16_t* vp = kv.v[0].as<uint16_t>();
    size_t inexact = 0;
    for (int t = 0; t < T; ++t) {
      const size_t slot = size_t(batch.step.slot_mapping[size_t(t)]);
      for (int i = 0; i < nkv * D; ++i) {
        const float k = got[size_t(t) * W + nq * D + i], v = x[size_t(t) * W + (nq + nkv) * D + i];
        ASSERT_EQ(kp[slot * nkv * D + i], f32_to_bf16(k)) << be->name() << " t=" << t;
        ASSERT_EQ(vp[slot * nkv * D + i], f32_to_bf16(v)) << be->name() << " t=" << t;
        inexact += bf16_to_f32(f32_to_bf16(v)) != v;
      }
    }
    EXPECT_GT(inexact, 0u) << "random values that bf16 holds exactly prove no rounding";
  }
}

TEST(CpuOps, RopeRejectsSlotsOutsideTheCache) {
  auto be = make_cpu_backend(1);
  AttnShape a{1, 1, 4, 0.5f, 0};
  StepInput in;
  in.add_sequence({1}, 8, {0, 1, 5}, 4, true);  // block 5 does not exist in a 2-block cache
  KvCache kv = be->alloc_kv_cache({1, 2, 4, 1, 4, DType::F32});
  StepTensors st = be->upload_step(in);
  Tensor qkv = be->alloc(DType::F32, {1, 12});
  std::vector<float> inv{1.f, 0.1f};
  EXPECT_THROW(be->rope_and_store_kv(qkv, up(*be, inv, {2}), st, a, kv, 0), Error);
}

// Attention over logical per-sequence K/V ([ctx, nkv, D]) written into the pool through the
// block tables; the reference reads the logical arrays directly.
// kv_dtype BF16: K and V are drawn, rounded to bf16, and the reference uses the rounded values;
// every backend must also give the same bits from an F32 cache holding those values.
void check_attention(int nq, int nkv, int D, int window,
                     const std::vector<std::pair<int, int>>& q_and_ctx, int bs, uint32_t seed,
                     DType kv_dtype = DType::F32) {
  std::mt19937 g(seed);
  auto batch = make_batch(q_and_ctx, bs, g);
  const int T = batch.step.num_tokens(), W = (nq + 2 * nkv) * D;
  const float scale = 1.f / std::sqrt(float(D));
  AttnShape a{nq, nkv, D, scale, window};
  auto x = randn(size_t(T) * W, g);
  std::vector<std::vector<float>> K, V;
  for (int c : batch.ctx) {
    K.push_back(randn(size_t(c) * nkv * D, g));
    V.push_back(randn(size_t(c) * nkv * D, g));
    if (kv_dtype == DType::BF16)
      for (auto* kv : {&K.back(), &V.back()})
        for (float& e : *kv) e = bf16_to_f32(f32_to_bf16(e));
  }
  Backends b;
  // With at least two tokens per thread, the simd backend runs each token's heads in one task;
  // with more threads than that, one task per KV head. The two must give the same bits.
  auto per_head = make_cpu_backend(CpuBackendOptions{64, true});
  const auto run = [&](Backend* be, DType dt) {
    KvCache kv = be->alloc_kv_cache({1, batch.num_blocks, bs, nkv, D, dt});
    for (size_t s = 0; s < batch.ctx.size(); ++s)
      for (int j = 0; j < batch.ctx[s]; ++j) {
        const int slot = batch.step.seqs[s].block_table[size_t(j / bs)] * bs + j % bs;
        for (int i = 0; i < nkv * D; ++i) {
          const size_t from = size_t(j) * nkv * D + size_t(i), at = size_t(slot) * nkv * D + i;
          if (dt == DType::BF16) {
            kv.k[0].as<uint16_t>()[at] = f32_to_bf16(K[s][from]);
            kv.v[0].as<uint16_t>()[at] = f32_to_bf16(V[s][from]);
          } else {
            kv.k[0].as<float>()[at] = K[s][from];
            kv.v[0].as<float>()[at] = V[s][from];
          }
        }
      }
    StepTensors st = be->upload_step(batch.step);
    Tensor out = be->alloc(DType::F32, {T, nq * D});
    be->paged_attention(up(*be, x, {T, W}), kv, 0, st, a, out);
    return down(*be, out);
  };
  std::vector<std::vector<float>> outs;
  for (Backend* be : {b.simd.get(), b.scalar.get(), per_head.get()}) {
    outs.push_back(run(be, kv_dtype));
    if (kv_dtype != DType::F32) {
      ASSERT_EQ(outs.back(), run(be, DType::F32)) << be->name() << ": the F32 cache differs";
    }
  }
  const std::vector<float> heads = outs.back();
  outs.pop_back();
  for (size_t i = 0; i < heads.size(); ++i)
    ASSERT_EQ(outs[0][i], heads[i]) << "element " << i << " of " << T << " tokens";
  int row = 0;
  for (size_t s = 0; s < batch.ctx.size(); ++s) {
    for (int r = 0; r < batch.step.seqs[s].q_len; ++r, ++row) {
      const int pos = batch.step.positions[size_t(row)];
      const int lo = window > 0 ? std::max(0, pos - window + 1) : 0;
      for (int h = 0; h < nq; ++h) {
        const int kvh = h / (nq / nkv);
        std::vector<double> sc;
        double m = -1e300;
        for (int j = lo; j <= pos; ++j) {
          double d = 0;
          for (int i = 0; i < D; ++i)
            d += double(x[size_t(row) * W + h * D + i]) * K[s][(size_t(j) * nkv + kvh) * D + i];
          sc.push_back(d * scale);
          m = std::max(m, sc.back());
        }
        double sum = 0;
        for (double& v : sc) sum += (v = std::exp(v - m));
        for (int i = 0; i < D; ++i) {
          double ref = 0;
          for (int j = lo; j <= pos; ++j)
            ref += sc[size_t(j - lo)] / sum * V[s][(size_t(j) * nkv + kvh) * D + i];
          // |err| <= 1e-5 * max|V| (=O(5)): fp32 dot products, exp and a weighted mean.
          for (size_t p = 0; p < outs.size(); ++p)
            ASSERT_NEAR(outs[p][size_t(row) * nq * D + h * D + i], ref, 5e-5)
                << (p ? "scalar" : "simd") << " seq " << s << " row " << row << " head " << h;
        }
      }
    }
  }
}

TEST(CpuOps, PagedAttentionMixedBatchGqa) {
  // Sequence 0: prefill from scratch; 1: a decode at a long context; 2: a chunk after a prefix.
  check_attention(8, 2, 16, 0, {{5, 5}, {1, 70}, {6, 19}}, 4, 6);
}

TEST(CpuOps, PagedAttentionMultiHeadAndOddShapes) {
  check_attention(3, 3, 40, 0, {{1, 1}, {7, 7}, {2, 33}}, 16, 7);
  check_attention(4, 1, 128, 0, {{4, 37}}, 8, 8);
  // A head size the vector path does not take (not a multiple of 8), and one of 72 (a whole
  // 64-dim chunk plus a partial one).
  check_attention(6, 2, 12, 0, {{3, 3}, {1, 21}}, 4, 10);
  check_attention(4, 2, 72, 0, {{5, 5}, {1, 40}}, 16, 11);
  // The head sizes the whole-token kernel has compiled in (64, 128), with enough tokens to take it.
  check_attention(6, 2, 64, 0, {{5, 5}, {1, 40}, {3, 20}}, 16, 16);
  check_attention(4, 2, 128, 0, {{4, 4}, {1, 30}, {2, 9}}, 8, 17);
}

TEST(CpuOps, PagedAttentionSlidingWindow) {
  check_attention(4, 2, 16, 5, {{9, 9}, {1, 30}, {4, 12}}, 4, 9);
}

TEST(CpuOps, PagedAttentionOverABf16Cache) {
  check_attention(8, 2, 16, 0, {{5, 5}, {1, 70}, {6, 19}}, 4, 13, DType::BF16);
  check_attention(4, 2, 72, 0, {{5, 5}, {1, 40}}, 16, 14, DType::BF16);
  check_attention(6, 2, 12, 3, {{3, 3}, {1, 21}}, 4, 15, DType::BF16);
  check_attention(6, 2, 64, 0, {{5, 5}, {1, 40}, {3, 20}}, 16, 18, DType::BF16);
}

TEST(CpuOps, KvCacheIsF32OrBf16) {
  auto be = make_cpu_backend(1);
  EXPECT_EQ(be->alloc_kv_cache({1, 2, 4, 1, 8, DType::BF16}).k[0].nbytes(), 2u * 4 * 8 * 2);
  try {
    be->alloc_kv_cache({1, 2, 4, 1, 8, DType::F16});
    ADD_FAILURE() << "an F16 cache was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("F32 or BF16, not F16"), std::string::npos) << e.what();
  }
}

TEST(CpuOps, PagedAttentionRejectsMissingBlocks) {
  auto be = make_cpu_backend(1);
  AttnShape a{1, 1, 4, 0.5f, 0};
  StepInput in;
  in.add_sequence({1, 1}, 6, {0, -1}, 4, true);  // positions 6, 7 need block 1, which is -1
  KvCache kv = be->alloc_kv_cache({1, 2, 4, 1, 4, DType::F32});
  StepTensors st = be->upload_step(in);
  Tensor qkv = be->alloc(DType::F32, {2, 12}), out = be->alloc(DType::F32, {2, 4});
  EXPECT_THROW(be->paged_attention(qkv, kv, 0, st, a, out), Error);
}

TEST(CpuOps, UploadStepValidatesAndPadsBlockTables) {
  auto be = make_cpu_backend(1);
  StepInput in;
  in.add_sequence({5, 6, 7}, 0, {3}, 4, false);
  in.add_sequence({8}, 9, {0, 2, 1}, 4, true);
  StepTensors st = be->upload_step(in);
  EXPECT_EQ(st.num_tokens, 4);
  EXPECT_EQ(st.num_seqs, 2);
  EXPECT_EQ(st.max_blocks_per_seq, 3);
  EXPECT_EQ(st.max_q_len, 3);
  EXPECT_EQ(st.max_ctx_len, 10);
  const int32_t* info = st.seq_info.as<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(info, info + 6), (std::vector<int32_t>{0, 3, 3, 3, 1, 10}));
  const int32_t* bt = st.block_tables.as<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(bt, bt + 6), (std::vector<int32_t>{3, -1, -1, 0, 2, 1}));
  EXPECT_EQ(st.logit_rows.as<int32_t>()[0], 3);

  StepInput bad = in;
  bad.logit_rows.push_back(4);
  EXPECT_THROW(be->upload_step(bad), Error);
  bad = in;
  bad.positions.pop_back();
  EXPECT_THROW(be->upload_step(bad), Error);
  bad = in;
  bad.seqs[0].q_len = 2;
  EXPECT_THROW(be->upload_step(bad), Error);
}

TEST(CpuOps, EmbedSiluMulGatherRows) {
  std::mt19937 g(10);
  Backends b;
  const int V = 50, H = 24, T = 4, I = 13;
  auto table = encode(randn(size_t(V) * H, g), DType::BF16);
  auto gu = randn(size_t(T) * 2 * I, g, 3.f);
  for (Backend* be : b.all()) {
    StepInput in;
    in.add_sequence({7, 0, 49, 7}, 0, {0}, 16, true);
    in.logit_rows = {2, 0};
    StepTensors st = be->upload_step(in);
    Tensor out = be->alloc(DType::F32, {T, H});
    be->embed(be->upload(table.bytes.data(), DType::BF16, {V, H}, true), st, out);
    auto e = down(*be, out);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < H; ++i)
        ASSERT_EQ(e[size_t(t) * H + i], table.values[size_t(in.tokens[size_t(t)]) * H + i]);

    Tensor act = be->alloc(DType::F32, {T, I});
    be->silu_mul(up(*be, gu, {T, 2 * I}), act);
    auto s = down(*be, act);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < I; ++i) {
        const double gt = gu[size_t(t) * 2 * I + i], u = gu[size_t(t) * 2 * I + I + i];
        const double ref = gt / (1 + std::exp(-gt)) * u;
        ASSERT_NEAR(s[size_t(t) * I + i], ref, 1e-6 * (std::abs(gt * u) + 1e-30));  // few ulp
      }

    Tensor sel = be->alloc(DType::F32, {2, H});
    be->gather_rows(out, st, sel);
    auto r = down(*be, sel);
    EXPECT_TRUE(std::equal(r.begin(), r.begin() + H, e.begin() + 2 * H));
    EXPECT_TRUE(std::equal(r.begin() + H, r.end(), e.begin()));

    StepInput bad;
    bad.add_sequence({50}, 0, {0}, 16, true);
    StepTensors bst = be->upload_step(bad);
    Tensor o1 = be->alloc(DType::F32, {1, H});
    EXPECT_THROW(be->embed(be->upload(table.bytes.data(), DType::BF16, {V, H}, true), bst, o1),
                 Error);
  }
}

TEST(CpuOps, AllocIsAlignedAndZeroed) {
  auto be = make_cpu_backend(1);
  Tensor t = be->alloc(DType::BF16, {3, 5});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t.as<uint16_t>()[i], 0);
  std::vector<float> host{1, 2, 3};
  Tensor alias = be->upload(host.data(), DType::F32, {3}, true);
  EXPECT_EQ(alias.data, host.data());
  Tensor copy = be->upload(host.data(), DType::F32, {3}, false);
  EXPECT_NE(copy.data, host.data());
  host[0] = 9;
  EXPECT_EQ(copy.as<float>()[0], 1.f);
}

// Every K and V pool of every layer, as floats, pool order k0, v0, k1, v1, ...
std::vector<std::vector<float>> kv_pools(Backend& be, const KvCache& kv) {
  std::vector<std::vector<float>> out;
  for (size_t l = 0; l < kv.k.size(); ++l) {
    out.push_back(down(be, kv.k[l]));
    out.push_back(down(be, kv.v[l]));
  }
  return out;
}

TEST(CpuOps, CopyKvBlocksCopiesListedBlocksInEveryLayerInOrder) {
  std::mt19937 g(7);
  auto be = make_cpu_backend(2);
  const KvCacheSpec spec{3, 6, 4, 2, 8, DType::F32};
  KvCache kv = be->alloc_kv_cache(spec);
  for (size_t l = 0; l < kv.k.size(); ++l)
    for (Tensor* t : {&kv.k[l], &kv.v[l]}) {
      const auto v = randn(size_t(t->numel()), g);
      std::copy(v.begin(), v.end(), t->as<float>());
    }
  auto want = kv_pools(*be, kv);
  // Applied in order: block 4 receives block 3's new content (= old block 0); 5 to itself is
  // a no-op.
  const std::vector<std::pair<int32_t, int32_t>> pairs{{0, 3}, {2, 1}, {3, 4}, {5, 5}};
  const size_t block = size_t(spec.block_size) * spec.num_kv_heads * spec.head_dim;
  for (auto& pool : want)
    for (auto [src, dst] : pairs)
      std::copy_n(pool.begin() + int64_t(size_t(src) * block), block,
                  pool.begin() + int64_t(size_t(dst) * block));
  be->copy_kv_blocks(kv, pairs);
  const auto got = kv_pools(*be, kv);
  ASSERT_EQ(got.size(), want.size());
  for (size_t p = 0; p < got.size(); ++p) EXPECT_EQ(got[p], want[p]) << "pool " << p;
  // Untouched blocks really kept their data (the expectation is not trivially all-equal).
  EXPECT_NE(std::vector<float>(got[0].begin(), got[0].begin() + int64_t(block)),
            std::vector<float>(got[0].begin() + int64_t(block), got[0].begin() + int64_t(2 * block)));
}

TEST(CpuOps, CopyKvBlocksRejectsOutOfRangeIdsBeforeCopying) {
  auto be = make_cpu_backend(1);
  KvCache kv = be->alloc_kv_cache(KvCacheSpec{2, 4, 2, 1, 4, DType::F32});
  kv.k[1].as<float>()[0] = 5.f;  // block 0 of layer 1
  const auto before = kv_pools(*be, kv);
  for (auto bad : std::vector<std::pair<int32_t, int32_t>>{{4, 1}, {0, 4}, {-1, 2}, {2, 99}}) {
    const int32_t id = bad.first < 0 || bad.first >= 4 ? bad.first : bad.second;
    const std::vector<std::pair<int32_t, int32_t>> pairs{{0, 1}, bad};
    try {
      be->copy_kv_blocks(kv, pairs);
      ADD_FAILURE() << "no error for " << bad.first << " -> " << bad.second;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("block id " + std::to_string(id)), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(kv_pools(*be, kv), before) << "the valid pair before the bad one was applied";
  }
  be->copy_kv_blocks(kv, {});  // nothing to do is fine
}

}  // namespace
}  // namespace ember
