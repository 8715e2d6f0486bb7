// The per-request sampler on vocabulary-sized logits: what one sequence costs per step on the
// scheduler thread, per sampling configuration.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "engine/sample/logprobs.h"
#include "engine/sample/sampler.h"

namespace ember {
namespace {

std::vector<float> make_logits(int vocab) {
  std::vector<float> l(static_cast<size_t>(vocab));
  uint64_t x = 88172645463325252ull;
  for (auto& v : l) {  // xorshift: fixed, roughly Gaussian-looking logits
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = float(int64_t(x % 20000) - 10000) / 1500.f;
  }
  return l;
}

void run(benchmark::State& st, SamplingParams p) {
  const auto base = make_logits(int(st.range(0)));
  std::vector<float> l;
  std::vector<int32_t> out;
  uint64_t step = 0;
  for (auto _ : st) {
    l = base;
    out.resize(step++ % 64);
    benchmark::DoNotOptimize(sample_next(p, 7, 0, l, {}, out));
  }
  st.SetItemsProcessed(st.iterations());
}

void BM_Greedy(benchmark::State& st) {
  SamplingParams p;
  p.temperature = 0;
  run(st, p);
}
void BM_Temperature(benchmark::State& st) {
  SamplingParams p;
  p.temperature = 0.8f;
  run(st, p);
}
void BM_TopK50(benchmark::State& st) {
  SamplingParams p;
  p.top_k = 50;
  run(st, p);
}
void BM_TopP09(benchmark::State& st) {
  SamplingParams p;
  p.top_p = 0.9f;
  run(st, p);
}
void BM_MinPAndXtc(benchmark::State& st) {
  SamplingParams p;
  p.min_p = 0.05f;
  p.xtc_probability = 0.5f;
  run(st, p);
}
void BM_Penalties(benchmark::State& st) {
  SamplingParams p;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.3f;
  run(st, p);
}
void BM_TargetEntropy(benchmark::State& st) {
  SamplingParams p;
  p.target_entropy = 2.f;
  run(st, p);
}

// What today's validators ask for with every token: the fp32 log-softmax's normaliser, the
// chosen token's logprob and the 20 most likely (RowLogprobs), on top of the draw.
void BM_Top20Logprobs(benchmark::State& st) {
  const auto l = make_logits(int(st.range(0)));
  int32_t id = 0;
  for (auto _ : st) {
    const RowLogprobs lp(l);
    benchmark::DoNotOptimize(lp.entry(id++ % 1000, 20));
  }
  st.SetItemsProcessed(st.iterations());
}
// A validator's request whole: temperature 0.7, top_p 0.95, and the top-20 logprobs.
void BM_ValidatorDrawWithTop20(benchmark::State& st) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.95f;
  const auto base = make_logits(int(st.range(0)));
  std::vector<float> l;
  for (auto _ : st) {
    l = base;
    const int32_t id = sample_next(p, 7, 0, l, {}, {});
    benchmark::DoNotOptimize(RowLogprobs(base).entry(id, 20));
  }
  st.SetItemsProcessed(st.iterations());
}
void BM_ValidatorDraw(benchmark::State& st) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.95f;
  run(st, p);
}

BENCHMARK(BM_Greedy)->Arg(32000)->Arg(151936);
BENCHMARK(BM_Top20Logprobs)->Arg(32000)->Arg(151936);
BENCHMARK(BM_ValidatorDraw)->Arg(151936);
BENCHMARK(BM_ValidatorDrawWithTop20)->Arg(151936);
BENCHMARK(BM_Temperature)->Arg(32000)->Arg(151936);
BENCHMARK(BM_TopK50)->Arg(32000)->Arg(151936);
BENCHMARK(BM_TopP09)->Arg(32000)->Arg(151936);
BENCHMARK(BM_MinPAndXtc)->Arg(32000)->Arg(151936);
BENCHMARK(BM_Penalties)->Arg(32000)->Arg(151936);
BENCHMARK(BM_TargetEntropy)->Arg(32000);

}  // namespace
}  // namespace ember

BENCHMARK_MAIN();
