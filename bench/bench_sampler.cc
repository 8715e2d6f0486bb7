// The per-request sampler on vocabulary-sized logits: what one sequence costs per step on the
// scheduler thread, per sampling configuration.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/sample/logprobs.h"
#include "engine/sample/sampler_slots.h"
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

// Logits shaped like a language model's: l = 12 - 1.3 ln(1 + rank) over a shuffled vocabulary
// (Zipf-like), so that a few hundred tokens hold most of the mass, as on real text.
std::vector<float> make_zipf_logits(int vocab) {
  std::vector<float> l(static_cast<size_t>(vocab));
  uint64_t x = 88172645463325252ull;
  std::vector<int32_t> rank(l.size());
  for (size_t i = 0; i < rank.size(); ++i) rank[i] = int32_t(i);
  for (size_t i = rank.size() - 1; i > 0; --i) {  // Fisher-Yates with xorshift
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::swap(rank[i], rank[x % (i + 1)]);
  }
  for (size_t i = 0; i < l.size(); ++i) l[i] = 12.f - 1.3f * std::log(1.f + float(rank[i]));
  return l;
}

void run_on(benchmark::State& st, SamplingParams p, const std::vector<float>& base);
void run(benchmark::State& st, SamplingParams p) { run_on(st, p, make_logits(int(st.range(0)))); }
void run_on(benchmark::State& st, SamplingParams p, const std::vector<float>& base) {
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
// The same on language-model-shaped logits (make_zipf_logits).
void BM_ValidatorDrawZipf(benchmark::State& st) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.95f;
  run_on(st, p, make_zipf_logits(int(st.range(0))));
}

// The backend's sample op on the CPU (Backend::sample), as a step runs it: `rows` rows of a
// 152k vocabulary, each with top_k 50, top_p 0.95, min_p 0.05 at temperature 0.8 and the top-20
// raw logprobs, drawn on the backend's threads (range(1); 0: every core) from their slots. Items
// are rows, so items/s is rows per second.
void BM_SampleOpCpu(benchmark::State& st) {
  const int vocab = 151936, rows = int(st.range(0));
  auto be = make_cpu_backend(int(st.range(1)));
  std::vector<float> host;
  for (int r = 0; r < rows; ++r) {
    auto l = make_logits(vocab);
    std::rotate(l.begin(), l.begin() + r * 977, l.end());  // a different row each
    host.insert(host.end(), l.begin(), l.end());
  }
  const Tensor logits = be->upload(host.data(), DType::F32, {rows, vocab}, false);
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 50;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.logprobs = 20;
  SamplerSlots slots;
  std::vector<RowSampling> plan;
  for (int r = 0; r < rows; ++r) {
    slots.init(SlotInit{r, {1, 2, 3}, 3});
    plan.push_back(RowSampling{r, r, &p, uint64_t(r), 0, {}});
  }
  std::vector<SampledRow> out(plan.size());
  int64_t step = 0;
  for (auto _ : st) {
    if (++step % 256 == 0)  // keep the histories short, as new sequences would
      for (int r = 0; r < rows; ++r) slots.init(SlotInit{r, {1, 2, 3}, 3});
    be->sample(logits, plan, slots, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * rows);
}

BENCHMARK(BM_Greedy)->Arg(32000)->Arg(151936);
BENCHMARK(BM_SampleOpCpu)->Args({1, 1})->Args({16, 1})->Args({16, 0})->Args({64, 0})->UseRealTime();
BENCHMARK(BM_Top20Logprobs)->Arg(32000)->Arg(151936);
BENCHMARK(BM_ValidatorDraw)->Arg(151936);
BENCHMARK(BM_ValidatorDrawZipf)->Arg(151936);
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
