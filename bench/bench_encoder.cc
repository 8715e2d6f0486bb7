// Sentence-encoder throughput on the CPU: texts per second for all-MiniLM-L6-v2 and
// all-mpnet-base-v2 (fetched by tools/fetch-models.sh; a model not fetched is skipped), on the
// 100 English oasst prompts of the shared assets (short chat prompts, ~35 tokens each),
// embedded 32 at a time and one at a time, and on the 32 longest arena-hard prompts (truncated
// at 256 / 384 tokens: the length of the replies best-of-n embeds).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <simdjson.h>

#include "engine/encoder/sentence_encoder.h"

namespace {

std::string model_dir(const std::string& name) {
  const char* x = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path root =
      x && *x ? std::filesystem::path(x) : std::filesystem::path(home ? home : "/") / ".cache";
  return (root / "ember" / "models" / name).string();
}

std::vector<std::string> prompts(bool long_ones) {
  std::vector<std::string> out;
  std::ifstream f(std::string(EMBER_ASSETS_DIR) +
                  (long_ones ? "/prompts/arena-hard-v0.1.question.jsonl" : "/prompts/oasst/en_100_text.jsonl"));
  simdjson::dom::parser p;
  for (std::string line; std::getline(f, line);) {
    simdjson::dom::element e;
    std::string_view s;
    if (p.parse(line).get(e)) continue;
    if (long_ones ? !e["prompt"].get(s) : !e.get(s)) out.emplace_back(s);
  }
  if (long_ones) {
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    out.resize(std::min<size_t>(out.size(), 32));
  }
  return out;
}

void BM_Embed(benchmark::State& state, const std::string& name, bool long_texts, bool bf16 = false) {
  const std::string dir = model_dir(name);
  if (!std::filesystem::exists(dir + "/model.safetensors")) {
    state.SkipWithError((name + " not fetched (tools/fetch-models.sh " + name + ")").c_str());
    return;
  }
  const auto texts = prompts(long_texts);
  if (texts.empty()) {
    state.SkipWithError("no prompts (../shared/assets missing)");
    return;
  }
  const int batch = int(state.range(0));
  auto enc = ember::SentenceEncoder::open(dir, {.max_batch = batch, .bf16 = bf16});
  int64_t tokens = 0;
  for (int n : enc->token_counts(texts)) tokens += n;
  for (auto _ : state) benchmark::DoNotOptimize(enc->embed(texts));
  state.counters["texts/s"] =
      benchmark::Counter(double(texts.size()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["tokens/s"] =
      benchmark::Counter(double(tokens) * double(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Embed, minilm, std::string("all-minilm-l6-v2"), false)
    ->Arg(32)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Embed, mpnet, std::string("all-mpnet-base-v2"), false)
    ->Arg(32)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Embed, minilm_long, std::string("all-minilm-l6-v2"), true)
    ->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Embed, mpnet_long, std::string("all-mpnet-base-v2"), true)
    ->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
// SentenceEncoderOptions::bf16 (bf16 projections, and bf16 matmul inputs on AVX-512 BF16).
BENCHMARK_CAPTURE(BM_Embed, minilm_bf16, std::string("all-minilm-l6-v2"), false, true)
    ->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Embed, mpnet_bf16, std::string("all-mpnet-base-v2"), false, true)
    ->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Embed, mpnet_long_bf16, std::string("all-mpnet-base-v2"), true, true)
    ->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
