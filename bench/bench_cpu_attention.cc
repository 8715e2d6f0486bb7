// CPU paged attention of a decode step: `batch` sequences, one query token each at context
// `ctx`, over the 12 layers of the ~100M Llama's cache (12 heads, 4 KV heads, head_dim 64,
// 16-token blocks handed out in shuffled order, as a busy pool hands them out). A step reads
// every cached K and V row once; with 12 layers of it the cache does not fit in L3 from a context
// of a few hundred on, so KV_GB/s is the figure to hold against the memory bandwidth.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "bench/cpu_bench_backend.h"
#include "engine/model/step.h"

namespace ember {
namespace {

void BM_DecodeAttention(benchmark::State& st) {
  const int batch = int(st.range(0)), ctx = int(st.range(1)), bs = 16, layers = 12;
  const DType kv_dtype = st.range(2) == 16 ? DType::BF16 : DType::F32;
  const int nq = 12, nkv = 4, D = 64, W = (nq + 2 * nkv) * D;
  static auto be = make_bench_cpu_backend();
  const int per_seq = (ctx + bs - 1) / bs;
  std::vector<int32_t> ids(size_t(per_seq * batch));
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937 g(3);
  std::shuffle(ids.begin(), ids.end(), g);
  KvCache kv = be->alloc_kv_cache({layers, per_seq * batch, bs, nkv, D, kv_dtype});
  // Random K and V (the values do not change the work; zeros would make every score equal).
  std::normal_distribution<float> nd;
  for (int l = 0; l < layers; ++l)
    for (Tensor* t : {&kv.k[size_t(l)], &kv.v[size_t(l)]}) {
      const int64_t n = t->numel();
      if (kv_dtype == DType::BF16)
        for (int64_t i = 0; i < n; ++i) t->as<uint16_t>()[i] = f32_to_bf16(nd(g));
      else
        for (int64_t i = 0; i < n; ++i) t->as<float>()[i] = nd(g);
    }
  StepInput step;
  for (int b = 0; b < batch; ++b) {
    std::vector<int32_t> table(ids.begin() + b * per_seq, ids.begin() + (b + 1) * per_seq);
    step.add_sequence({1}, ctx - 1, table, bs, true);
  }
  StepTensors stt = be->upload_step(step);
  std::vector<float> q(size_t(batch) * W);
  for (auto& v : q) v = nd(g);
  Tensor qkv = be->upload(q.data(), DType::F32, {batch, W}, false);
  Tensor out = be->alloc(DType::F32, {batch, nq * D});
  const AttnShape a{nq, nkv, D, 1.f / std::sqrt(float(D)), 0};
  for (auto _ : st)
    for (int l = 0; l < layers; ++l) be->paged_attention(qkv, kv, l, stt, a, out);
  const double kv_bytes = 2.0 * layers * batch * ctx * nkv * D * double(dtype_size(kv_dtype));
  st.counters["KV_GB/s"] =
      benchmark::Counter(kv_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_DecodeAttention)
    ->ArgNames({"batch", "ctx", "kv_bits"})
    ->Args({16, 128, 32})->Args({16, 512, 32})->Args({16, 2048, 32})
    ->Args({16, 128, 16})->Args({16, 512, 16})->Args({16, 2048, 16})
    ->Args({1, 2048, 32})->Args({1, 2048, 16})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ember

BENCHMARK_MAIN();
