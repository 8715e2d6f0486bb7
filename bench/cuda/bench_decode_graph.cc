// End-to-end decode steps on a real architecture with random weights (--dummy-weights: no
// download): time per step eager (Transformer::forward: upload, launches, download) and as a
// CUDA-graph replay (CudaGraphRunner), per batch size and context, with tokens/s and the
// fraction of the measured copy bandwidth the step reaches (bytes: every weight once plus the
// KV read by attention). The KV cache is filled with random values, not left at zeros.
// Usage: bench_decode_graph [out.json] [--config bench/configs/llama-3-8b.json] [--steps N]
//        [--batch B]... [--ctx C]...
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "bench/cuda/bench_fill.h"
#include "engine/model/dummy_weights.h"
#include "engine/model/transformer.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_graph_runner.h"

namespace {

using namespace ember;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double measure_copy_gbps() {
  const size_t n = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  EMBER_CUDA_CHECK(cudaMalloc(&a, n));
  EMBER_CUDA_CHECK(cudaMalloc(&b, n));
  bench::fill_bf16(a, n / 2, 1.f, 7, nullptr);
  std::vector<double> t;
  for (int i = 0; i < 8; ++i) {
    EMBER_CUDA_CHECK(cudaDeviceSynchronize());
    const auto t0 = Clock::now();
    EMBER_CUDA_CHECK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
    EMBER_CUDA_CHECK(cudaDeviceSynchronize());
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  cudaFree(a);
  cudaFree(b);
  return 2.0 * double(n) / median(t) / 1e9;
}

struct Row {
  int batch, ctx;
  double eager_ms, graph_ms, bytes;
};

}  // namespace

int main(int argc, char** argv) {
  std::string out, config = std::string(EMBER_SOURCE_DIR) + "/bench/configs/llama-3-8b.json";
  int steps = 20;
  std::vector<int> batches, ctxs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_decode_graph: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config") config = next();
    else if (a == "--steps") steps = std::max(3, std::atoi(next().c_str()));
    else if (a == "--batch") batches.push_back(std::atoi(next().c_str()));
    else if (a == "--ctx") ctxs.push_back(std::atoi(next().c_str()));
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "usage: bench_decode_graph [out.json] [--config F] [--steps N] "
                           "[--batch B]... [--ctx C]...\n");
      return 2;
    } else out = a;
  }
  if (batches.empty()) batches = {1, 8, 32, 64, 128, 256};
  if (ctxs.empty()) ctxs = {512, 2048};
  for (int b : batches)
    if (b < 1 || b > 256) return std::fprintf(stderr, "bench_decode_graph: --batch 1..256\n"), 2;
  for (int c : ctxs)
    if (c < 2) return std::fprintf(stderr, "bench_decode_graph: --ctx must be >= 2\n"), 2;
  try {
    const std::string path = resolve_dummy_config(config, std::string(EMBER_SOURCE_DIR) + "/bench/configs");
    const ModelConfig cfg = load_dummy_config(path);
    CudaBackendOptions bo;
    bo.gpu_memory_fraction = 0.92;
    auto be = make_cuda_backend(bo);
    const auto t0 = Clock::now();
    ModelWeights w = make_dummy_weights(cfg, *be);
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    double weight_bytes = double(w.embed.nbytes()) + double(w.final_norm.nbytes());
    for (const LayerWeights& l : w.layers)
      weight_bytes += double(l.attn_norm.nbytes() + l.qkv.nbytes() + l.o_proj.nbytes() +
                             l.mlp_norm.nbytes() + l.gate_up.nbytes() + l.down.nbytes());
    if (!cfg.tie_word_embeddings) weight_bytes += double(w.lm_head.nbytes());
    // Decode reads one embedding row, not the table.
    weight_bytes -= double(w.embed.nbytes());
    Transformer model(cfg, *be, std::move(w));
    model.reserve(256, 256);
    const int bs = 16;
    KvCache kv = be->alloc_kv_cache(model.kv_spec(0, bs));  // as many blocks as fit
    for (int l = 0; l < cfg.num_layers; ++l) {
      bench::fill_bf16(kv.k[size_t(l)].data, kv.k[size_t(l)].numel(), 1.f, 100 + 2 * l,
                       static_cast<cudaStream_t>(be->stream_handle()));
      bench::fill_bf16(kv.v[size_t(l)].data, kv.v[size_t(l)].numel(), 1.f, 101 + 2 * l,
                       static_cast<cudaStream_t>(be->stream_handle()));
    }
    const double hbm = measure_copy_gbps();
    std::fprintf(stderr, "%s: %d KV blocks, weights %.2f GB made in %.1f s; copy %.0f GB/s\n",
                 cfg.num_layers ? path.c_str() : "", kv.spec.num_blocks, weight_bytes / 1e9, load_s,
                 hbm);
    CudaGraphOptions go;
    go.pad_block = 0;
    CudaGraphRunner runner(model, *be, kv, go);
    const double kv_token_bytes = double(cfg.kv_bytes_per_token(kv.spec.dtype));
    std::vector<Row> rows;
    std::vector<float> logits;
    for (int C : ctxs)
      for (int B : batches) {
        const int per = (C + bs - 1) / bs;
        if (int64_t(B) * per + 1 > kv.spec.num_blocks) {
          std::fprintf(stderr, "  skip B=%d ctx=%d: needs %d blocks\n", B, C, B * per + 1);
          continue;
        }
        StepInput s;
        for (int q = 0; q < B; ++q) {
          std::vector<int32_t> table(static_cast<size_t>(per));
          std::iota(table.begin(), table.end(), 1 + q * per);
          s.add_sequence({int32_t((q * 7919) % cfg.vocab_size)}, C - 1, table, bs, true);
        }
        auto time_steps = [&](auto&& fn) {
          fn();
          fn();
          std::vector<double> t;
          for (int i = 0; i < steps; ++i) {
            const auto a = Clock::now();
            fn();
            t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
          }
          return median(t);
        };
        const double eager = time_steps([&] { model.forward(s, kv, logits); });
        const double graph = time_steps([&] { runner.decode(s, logits); });
        rows.push_back({B, C, eager, graph, weight_bytes + double(B) * C * kv_token_bytes});
        const Row& r = rows.back();
        std::fprintf(stderr, "  B=%3d ctx=%5d eager %8.3f ms  graph %8.3f ms  %9.1f tok/s  bw %.2f\n",
                     B, C, eager, graph, B / graph * 1e3, r.bytes / (graph * 1e-3) / 1e9 / hbm);
      }
    std::printf("%-6s %-6s %10s %10s %12s %8s\n", "batch", "ctx", "eager_ms", "graph_ms", "tok/s",
                "bw_frac");
    for (const Row& r : rows)
      std::printf("%-6d %-6d %10.3f %10.3f %12.1f %8.3f\n", r.batch, r.ctx, r.eager_ms, r.graph_ms,
                  r.batch / r.graph_ms * 1e3, r.bytes / (r.graph_ms * 1e-3) / 1e9 / hbm);
    if (!out.empty()) {
      FILE* f = std::fopen(out.c_str(), "w");
      if (!f) return std::fprintf(stderr, "bench_decode_graph: cannot write %s\n", out.c_str()), 1;
      std::fprintf(f, "{\"config\": \"%s\", \"backend\": \"%s\", \"measured_hbm_gbps\": %.1f, "
                      "\"graphs\": %zu, \"results\": [\n",
                   path.c_str(), be->name().c_str(), hbm, runner.graphs());
      for (size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        std::fprintf(f,
                     "  {\"batch\": %d, \"ctx\": %d, \"eager_ms\": %.4f, \"graph_ms\": %.4f, "
                     "\"tokens_per_s\": %.2f, \"bytes\": %.0f, \"bw_fraction\": %.4f}%s\n",
                     r.batch, r.ctx, r.eager_ms, r.graph_ms, r.batch / r.graph_ms * 1e3, r.bytes,
                     r.bytes / (r.graph_ms * 1e-3) / 1e9 / hbm, i + 1 < rows.size() ? "," : "");
      }
      std::fprintf(f, "]}\n");
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_decode_graph: %s\n", e.what());
    return 1;
  }
  return 0;
}
