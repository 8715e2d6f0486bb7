#include "tools/ember/backend_choice.h"

#include <algorithm>
#include <thread>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/dist/cpu_communicator.h"
#include "engine/dist/tensor_parallel_runner.h"
#include "engine/model/dummy_weights.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_graph_accelerator.h"
#include "kernels/nccl_communicator.h"
#include "tools/ember/load_progress.h"

namespace ember::cli {

void add_backend_options(CLI::App* cmd, BackendChoice& c) {
  cmd->add_option("--backend", c.name, "auto (the GPU when usable, else the CPU), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--threads", c.threads, "CPU threads (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--gpu-memory-fraction,--gpu-memory-utilization", c.gpu_memory_fraction,
                  "Share of the GPU's memory for weights, activations and the KV cache (vLLM's "
                  "--gpu-memory-utilization; no effect on the CPU, where --kv-cache-gb sets the budget)")
      ->check(CLI::Range(0.05, 1.0))
      ->capture_default_str();
  cmd->add_option("--cuda-graphs", c.cuda_graphs,
                  "on: decode-only steps on the CUDA backend replay CUDA graphs; off: every step "
                  "runs eagerly")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--kv-cache-dtype", c.kv_cache_dtype,
                  "KV cache element type: auto (the activation dtype: f32 on the CPU), f32, or "
                  "bf16 (half the memory and attention traffic; K and V rounded to bf16)")
      ->transform(CLI::Transformer({{"bfloat16", "bf16"}, {"float32", "f32"}}, CLI::ignore_case))  // vLLM's spelling
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--cpu-matmul-inputs", c.cpu_matmul_inputs,
                  "CPU backend: f32 (exact products of the bf16 weights, the reference) or bf16 "
                  "(activations rounded to bf16 at bf16 weights, as llama.cpp does; twice the "
                  "multiply-adds per instruction on AVX-512 BF16 CPUs)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--tensor-parallel-size,--tp", c.tensor_parallel,
                  "Ranks the model is split across (Megatron-style: heads, MLP and vocabulary): "
                  "GPUs 0..N-1 over NCCL, or on the CPU N ranks that split --threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

namespace {

// On a GPU the backend's memory fraction is the budget, so the runner's KV share of what is
// left is all of it; --cuda-graphs on installs the CUDA graph accelerator.
void use_gpu_runner_options(const BackendChoice& c, RunnerOptions& runner_options) {
  runner_options.kv.fraction = 1.0;
  if (c.cuda_graphs == "on") runner_options.accelerator = cuda_graph_accelerator();
}

}  // namespace

std::unique_ptr<Backend> make_backend(const BackendChoice& c, RunnerOptions& runner_options) {
  runner_options.progress = terminal_progress();
  runner_options.on_loaded = print_load_summary;
  if (c.kv_cache_dtype != "auto")
    runner_options.kv_dtype = c.kv_cache_dtype == "bf16" ? DType::BF16 : DType::F32;
  // --backend cpu never probes for a GPU (loading the CUDA libraries costs time and memory).
  const bool gpu = c.name != "cpu" && cuda_device_available();
  if (c.name == "cpu" || (c.name == "auto" && !gpu)) {
    CpuBackendOptions o;
    o.threads = c.threads;
    o.bf16_matmul_inputs = c.cpu_matmul_inputs == "bf16";
    return make_cpu_backend(o);
  }
  if (!gpu) {
#ifdef EMBER_HAVE_CUDA
    fail("--backend cuda: no usable CUDA device was found");
#else
    fail("--backend cuda: this ember was built without the CUDA backend (no nvcc at configure time)");
#endif
  }
  use_gpu_runner_options(c, runner_options);
  return make_cuda_backend(0, c.gpu_memory_fraction);
}

OpenedRunner open_runner(const BackendChoice& c, const std::string& dir,
                         RunnerOptions& runner_options, std::optional<uint64_t> dummy_seed) {
  const int n = c.tensor_parallel;
  if (n < 1) fail("--tensor-parallel-size {} must be at least 1", n);
  if (n == 1) {
    auto backend = make_backend(c, runner_options);
    auto r = dummy_seed ? TransformerRunner::open_dummy(dir, std::move(backend), runner_options,
                                                        *dummy_seed)
                        : TransformerRunner::open(dir, std::move(backend), runner_options);
    return {r, r->config()};
  }
  // The split is checked before any backend is made or file mapped.
  const ModelConfig cfg = dummy_seed ? load_dummy_config(dir) : load_model_config(dir);
  ShardPlan{0, n}.check(cfg);
  const bool gpu = c.name != "cpu" && cuda_device_available();
  TensorParallelOptions tp;
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::unique_ptr<Communicator>> comms;
  if (c.name == "cpu" || (c.name == "auto" && !gpu)) {
    // The ranks split the cores: each rank's backend gets its share of --threads.
    const int total = c.threads > 0 ? c.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    BackendChoice mine = c;
    mine.threads = std::max(1, total / n);
    for (int r = 0; r < n; ++r) backends.push_back(make_backend(mine, runner_options));
    comms = make_cpu_communicators(n);
    tp.ranks_share_memory = true;
  } else {
    if (!gpu) make_backend(c, runner_options);  // throws its message: no usable GPU / no CUDA
    const int visible = cuda_device_count();
    if (visible < n)
      fail("--tensor-parallel-size {} needs {} GPUs; {} visible", n, n, visible);
    if (!nccl_available())
      fail("--tensor-parallel-size {} on GPUs needs NCCL, and this ember was built without it", n);
    std::vector<CudaBackend*> cuda;
    for (int r = 0; r < n; ++r) {
      CudaBackendOptions o;
      o.device = r;
      o.gpu_memory_fraction = c.gpu_memory_fraction;
      auto b = make_cuda_backend(o);
      cuda.push_back(b.get());
      backends.push_back(std::move(b));
    }
    runner_options.progress = terminal_progress();
    runner_options.on_loaded = print_load_summary;
    if (c.kv_cache_dtype != "auto")
      runner_options.kv_dtype = c.kv_cache_dtype == "bf16" ? DType::BF16 : DType::F32;
    use_gpu_runner_options(c, runner_options);
    comms = make_nccl_communicators(cuda);
    tp.rank_thread_init = [](int rank) { cuda_use_device(rank); };
  }
  tp.runner = runner_options;
  tp.dummy_seed = dummy_seed;
  auto r = TensorParallelRunner::open(dir, std::move(backends), std::move(comms), tp);
  return {r, cfg};
}

}  // namespace ember::cli
