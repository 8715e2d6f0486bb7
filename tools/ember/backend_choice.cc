#include "tools/ember/backend_choice.h"

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_graph_accelerator.h"
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
}

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
  runner_options.kv.fraction = 1.0;
  if (c.cuda_graphs == "on") runner_options.accelerator = cuda_graph_accelerator();
  return make_cuda_backend(0, c.gpu_memory_fraction);
}

}  // namespace ember::cli
