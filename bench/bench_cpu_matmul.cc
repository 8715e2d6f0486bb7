// CPU matmul throughput, out[T, N] = x[T, K] · w[N, K]ᵀ with bf16 (and f32) weights, over the token counts
// the engine runs (decode batches 1…64, prefill chunks): GFLOP/s and weight bytes/s. Batch 1 is
// bound by streaming the weights; larger T should approach the FMA rate of the cores.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/core/dtype.h"
#include "bench/cpu_bench_backend.h"

namespace ember {
namespace {

// Shapes of a ~100M-parameter Llama (hidden 768, intermediate 2048): qkv, o, gate_up, down, and
// the lm_head, whose 47 MiB of bf16 weights do not fit in L3, as the whole model's do not.
// Packed: the bf16 weights as the model holds them on the CPU (16-row panels, prepared at load).
template <DType WD, bool Packed = false>
void BM_Matmul(benchmark::State& st) {
  const int64_t T = st.range(0), N = st.range(1), K = st.range(2);
  static auto be = make_bench_cpu_backend();
  std::mt19937 g(1);
  std::normal_distribution<float> nd;
  std::vector<float> wf(size_t(N * K));
  for (auto& v : wf) v = nd(g);
  std::vector<uint16_t> wb(size_t(N * K));
  for (size_t i = 0; i < wf.size(); ++i) wb[i] = f32_to_bf16(wf[i]);
  const void* w = WD == DType::BF16 ? static_cast<const void*>(wb.data()) : wf.data();
  std::vector<float> x(size_t(T * K));
  for (auto& v : x) v = nd(g);
  Tensor wt = be->upload(w, WD, {N, K}, false);
  if (Packed) wt = be->prepare_matmul_weight(wt);
  Tensor xt = be->upload(x.data(), DType::F32, {T, K}, false);
  Tensor out = be->alloc(DType::F32, {T, N});
  for (auto _ : st) be->matmul(xt, wt, nullptr, out);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(T * N * K) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  st.counters["weight_GB/s"] = benchmark::Counter(double(dtype_size(WD) * N * K) * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t t : {1, 4, 16, 64, 128, 512})
    for (auto nk : {std::pair<int64_t, int64_t>{1280, 768}, {768, 768}, {4096, 768}, {768, 2048},
                    {32000, 768}})
      b->Args({t, nk.first, nk.second});
}

BENCHMARK(BM_Matmul<DType::BF16>)->Name("BM_MatmulBf16")->Apply(shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul<DType::BF16, true>)->Name("BM_MatmulBf16Panels")->Apply(shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul<DType::F32>)->Name("BM_MatmulF32")->Apply(shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ember

BENCHMARK_MAIN();
