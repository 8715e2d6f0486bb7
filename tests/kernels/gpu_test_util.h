#pragma once
// Helpers for the CUDA backend tests: every op runs on the GPU and on the CPU reference with
// the same bf16-representable random inputs, the GPU output poisoned (NaN) beforehand, and
// the two compared by ||gpu - ref|| / ||ref||.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/dtype.h"
#include "engine/cpu/cpu_backend.h"
#include "kernels/cuda_backend.h"

// Skips the test where no CUDA device can be used (CI, a laptop).
#define EMBER_REQUIRE_GPU()                                                   \
  do {                                                                        \
    if (!::ember::cuda_device_available()) GTEST_SKIP() << "no CUDA device";  \
  } while (0)

namespace ember::test {

// A fresh seed per run (so each run draws new inputs), printed with every failure.
inline uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

// Normal random values, rounded to bf16 so that the bf16 GPU copy and the fp32 CPU copy hold
// the same numbers.
inline std::vector<float> rand_bf16(size_t n, std::mt19937& g, float scale = 1.f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(d(g)));
  return v;
}

inline std::vector<float> round_bf16(std::vector<float> v) {
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

// Host fp32 values in `dt` (F32, BF16, F16) as bytes.
inline std::vector<uint8_t> encode(const std::vector<float>& v, DType dt) {
  std::vector<uint8_t> b(v.size() * dtype_size(dt));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::F32) {
      std::memcpy(&b[4 * i], &v[i], 4);
    } else {
      const uint16_t h = dt == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(&b[2 * i], &h, 2);
    }
  }
  return b;
}

inline Tensor put(Backend& be, const std::vector<float>& v, DType dt, const Shape& shape) {
  const auto bytes = encode(v, dt);
  return be.upload(bytes.data(), dt, shape, false);
}

// An output tensor filled with NaN, so that an element the kernel does not write fails.
inline Tensor poisoned(Backend& be, DType dt, const Shape& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return put(be, std::vector<float>(size_t(n), NAN), dt, shape);
}

inline std::vector<float> get(Backend& be, const Tensor& t) {
  std::vector<uint8_t> bytes(t.nbytes());
  be.download(t, bytes.data());
  std::vector<float> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = load_as_f32(bytes.data(), t.dtype, i);
  return v;
}

// ||a - b|| / ||b||; infinity when a holds a non-finite value or the sizes differ.
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// The GPU backends under test: fp32 activations (every kernel's logic against the reference at
// fp32 precision) and bf16 activations (the production mode).
inline std::vector<DType> activation_modes() { return {DType::F32, DType::BF16}; }

inline std::unique_ptr<CudaBackend> make_gpu(DType act) {
  CudaBackendOptions o;
  o.activations = act;
  o.gpu_memory_fraction = 0.5;
  return make_cuda_backend(o);
}

// The reference a GPU output of dtype `dt` is held to: the fp32 CPU result, rounded once to
// bf16 when the GPU stores bf16 (the GPU computes in fp32 and rounds once at the store).
inline std::vector<float> expected_as(const std::vector<float>& ref, DType dt) {
  return dt == DType::BF16 ? round_bf16(ref) : ref;
}

// The stated bound for every op: 1e-3 relative, against expected_as(); what is seen is far
// below it (fp32 reordering, or the rare bf16 rounding that falls the other way).
constexpr double kOpTol = 1e-3;

}  // namespace ember::test
