#pragma once
// Which backend a command runs on: --backend auto|cpu|cuda (auto: the GPU when one is usable),
// with the CPU's thread count and the GPU's memory fraction. Shared by generate, chat, bench
// and serve so that every command picks the device the same way.
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/model/backend.h"
#include "engine/serve/transformer_runner.h"

namespace ember::cli {

struct BackendChoice {
  std::string name = "auto";
  int threads = 0;                   // CPU threads (0: all)
  double gpu_memory_fraction = 0.9;  // of the GPU's memory for weights, activations and KV
  std::string cuda_graphs = "on";    // on: decode steps replay CUDA graphs (CUDA backend only)
  std::string kv_cache_dtype = "auto";  // auto (the activation dtype), f32 or bf16
  std::string cpu_matmul_inputs = "f32";  // f32 (exact, the reference) or bf16 (faster)
  int tensor_parallel = 1;  // ranks: CPU threads splitting --threads, or GPUs 0..N-1 over NCCL
};

// Adds --backend, --threads, --gpu-memory-fraction, --cuda-graphs, --kv-cache-dtype,
// --cpu-matmul-inputs and --tensor-parallel-size (alias --tp) to `cmd`.
void add_backend_options(CLI::App* cmd, BackendChoice& c);

// Makes the chosen backend and sets what every command shows while the model loads (progress
// on a terminal, then the time taken). On the GPU the KV budget comes from --gpu-memory-fraction, so the
// runner's fraction of "available" memory becomes 1 unless --kv-cache-gb was given, and with
// --cuda-graphs on the runner gets the CUDA graph accelerator (set the runner's
// max_batched_tokens and max_num_seqs too, so that its buffers are sized once).
std::unique_ptr<Backend> make_backend(const BackendChoice& c, RunnerOptions& runner_options);

// The model runner every command drives: make_backend() and a TransformerRunner over DIR, or
// with --tensor-parallel-size N > 1 a TensorParallelRunner of N ranks (CPU: N backends that
// split the threads, over the in-process communicator; CUDA: GPUs 0..N-1 over NCCL). With
// `dummy_seed`, DIR is a config.json and the weights are random (--dummy-weights).
struct OpenedRunner {
  std::shared_ptr<ModelRunner> runner;
  ModelConfig config;  // the whole model's
};
OpenedRunner open_runner(const BackendChoice& c, const std::string& dir,
                         RunnerOptions& runner_options,
                         std::optional<uint64_t> dummy_seed = {});

}  // namespace ember::cli
