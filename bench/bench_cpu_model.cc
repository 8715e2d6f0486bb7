// CPU forward-pass throughput: prefill tokens/s and decode tokens/s (batch 1 vs batch 16) for
// stories260K (skipped when the shared assets are absent) and a ~130M-parameter random Llama
// (hidden 768, 12 layers, 12 heads, intermediate 2048, vocab 32000, bf16) written to a temp dir.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <numeric>

#include "bench/cpu_bench_backend.h"
#include "engine/model/generate.h"
#include "engine/model/random_model.h"

namespace ember {
namespace {

namespace fs = std::filesystem;

struct BenchModel {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LoadedModel> m;
  fs::path temp_dir;  // removed at exit when we made it
  ~BenchModel() {
    m.reset();
    if (!temp_dir.empty()) fs::remove_all(temp_dir);
  }
};

BenchModel* get_model(const std::string& which) {
  static std::map<std::string, std::unique_ptr<BenchModel>> cache;
  auto& slot = cache[which];
  if (slot) return slot->m ? slot.get() : nullptr;
  slot = std::make_unique<BenchModel>();
  std::string dir;
  if (which == "stories260K") {
    dir = std::string(EMBER_ASSETS_DIR) + "/models/stories260K/hf";
    if (!fs::exists(dir)) return nullptr;
  } else {
    RandomModelOptions o;
    o.arch = Arch::Llama;
    o.hidden = 768;
    o.layers = 12;
    o.heads = 12;
    o.kv_heads = 4;  // grouped-query attention, as in every current chat model
    o.intermediate = 2048;
    o.vocab = 32000;
    o.dtype = DType::BF16;
    o.seed = 1;
    slot->temp_dir = fs::temp_directory_path() / ("ember-bench-llama100m-" + std::to_string(getpid()));
    dir = slot->temp_dir.string();
    write_random_model(o, dir);
  }
  slot->backend = make_bench_cpu_backend();
  slot->m = std::make_unique<LoadedModel>(load_model(dir, *slot->backend));
  return slot.get();
}

void skip_absent(benchmark::State& st) {
  st.SkipWithError("model absent (stories260K needs ../shared/assets)");
  for (auto _ : st) {
  }
}

// One prefill of `len` tokens (logits of the last one), repeated.
void BM_Prefill(benchmark::State& st, const std::string& which) {
  BenchModel* bm = get_model(which);
  if (!bm) return skip_absent(st);
  const int len = int(st.range(0)), bs = 16;
  Transformer& model = *bm->m->model;
  KvCache kv = bm->backend->alloc_kv_cache(model.kv_spec((len + bs - 1) / bs, bs));
  std::vector<int32_t> ids(static_cast<size_t>(len)), table(static_cast<size_t>((len + bs - 1) / bs));
  for (int i = 0; i < len; ++i) ids[size_t(i)] = (i * 37 + 11) % 250;
  std::iota(table.begin(), table.end(), 0);
  StepInput step;
  step.add_sequence(ids, 0, table, bs, true);
  std::vector<float> logits;
  for (auto _ : st) model.forward(step, kv, logits);
  st.counters["tokens/s"] = benchmark::Counter(double(len), benchmark::Counter::kIsIterationInvariantRate);
}

// One decode step for `batch` sequences, each at context `ctx` (its KV already in the cache), the
// cache's elements `kv_bits` wide (32: F32, the default; 16: BF16).
void BM_Decode(benchmark::State& st, const std::string& which) {
  BenchModel* bm = get_model(which);
  if (!bm) return skip_absent(st);
  const int batch = int(st.range(0)), ctx = int(st.range(1)), bs = 16;
  const DType kv_dtype = st.range(2) == 16 ? DType::BF16 : DType::F32;
  const int per_seq = (ctx + bs - 1) / bs;
  Transformer& model = *bm->m->model;
  KvCache kv = bm->backend->alloc_kv_cache(model.kv_spec(per_seq * batch, bs, kv_dtype));
  StepInput step;
  for (int b = 0; b < batch; ++b) {
    std::vector<int32_t> table(static_cast<size_t>(per_seq));
    std::iota(table.begin(), table.end(), b * per_seq);
    step.add_sequence({(b * 13 + 5) % 250}, ctx - 1, table, bs, true);
  }
  std::vector<float> logits;
  for (auto _ : st) model.forward(step, kv, logits);
  st.counters["tokens/s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_Prefill, stories260K, std::string("stories260K"))
    ->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, stories260K, std::string("stories260K"))
    ->Args({1, 128, 32})->Args({16, 128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, llama100m_bf16, std::string("llama100m"))
    ->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK_CAPTURE(BM_Decode, llama100m_bf16, std::string("llama100m"))
    ->ArgNames({"batch", "ctx", "kv_bits"})
    ->Args({1, 128, 32})->Args({16, 128, 32})->Args({16, 512, 32})
    ->Args({16, 128, 16})->Args({16, 512, 16})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace ember

BENCHMARK_MAIN();
