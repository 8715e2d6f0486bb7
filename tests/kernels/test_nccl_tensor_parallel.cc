// GPU tensor parallelism over NCCL: an all_reduce across two GPUs sums, and a random model at
// TP=2 (fp32 activations, CUDA graphs off and on) gives the logits and greedy ids of TP=1 on
// one GPU. Skips without two GPUs or without NCCL; compiled and linked wherever nvcc is, and
// named Cuda* so that tools/gpu-check runs it.
#include <gtest/gtest.h>

#include "engine/cpu/cpu_backend.h"
#include "engine/dist/tensor_parallel_runner.h"
#include "engine/model/random_model.h"
#include "engine/serve/engine.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_graph_accelerator.h"
#include "kernels/nccl_communicator.h"
#include "tests/dist/tp_test_util.h"
#include "tests/serve/serve_test_util.h"
#include "tests/temp_model.h"

namespace ember {
namespace {

#define EMBER_REQUIRE_TWO_GPUS()                                                  \
  do {                                                                            \
    if (!nccl_available()) GTEST_SKIP() << "built without NCCL";                  \
    if (cuda_device_count() < 2) GTEST_SKIP() << "fewer than two CUDA devices";   \
  } while (0)

std::unique_ptr<CudaBackend> f32_backend(int device) {
  CudaBackendOptions o;
  o.device = device;
  o.gpu_memory_fraction = 0.3;
  o.activations = DType::F32;
  return make_cuda_backend(o);
}

TEST(CudaTensorParallel, AllReduceSumsAcrossTwoGpus) {
  EMBER_REQUIRE_TWO_GPUS();
  std::vector<std::unique_ptr<CudaBackend>> bs;
  bs.push_back(f32_backend(0));
  bs.push_back(f32_backend(1));
  auto comms = make_nccl_communicators({bs[0].get(), bs[1].get()});
  std::vector<Tensor> t;
  for (int r = 0; r < 2; ++r) {
    cuda_use_device(r);
    const std::vector<float> v = {float(r + 1), 10.f * float(r + 1), -1.f};
    t.push_back(bs[size_t(r)]->upload(v.data(), DType::F32, {3}, false));
    bs[size_t(r)]->set_communicator(comms[size_t(r)].get());
  }
  Lockstep threads(2, [](int r) { cuda_use_device(r); }, {});
  threads.run([&](int r) { bs[size_t(r)]->all_reduce(t[size_t(r)]); });
  for (int r = 0; r < 2; ++r) {
    cuda_use_device(r);
    std::vector<float> out(3);
    bs[size_t(r)]->download(t[size_t(r)], out.data());
    EXPECT_EQ(out, (std::vector<float>{3.f, 30.f, -2.f})) << "rank " << r;
    t[size_t(r)] = Tensor{};  // each GPU's memory and stream go with that GPU current
    bs[size_t(r)].reset();
  }
}

TEST(CudaTensorParallel, RandomModelAtTp2MatchesOneGpu) {
  EMBER_REQUIRE_TWO_GPUS();
  RandomModelOptions o = test::tiny_model_options(29);
  o.dtype = DType::F32;
  const std::string dir = test::write_temp_model("ember_nccl_tp", o);
  const auto a = test::make_prompt(9, 1, 300), b = test::make_prompt(6, 2, 300);
  for (bool graphs : {false, true}) {
    RunnerOptions ro = test::tp_runner_options(64);
    if (graphs) {
      ro.accelerator = cuda_graph_accelerator();
      ro.max_num_seqs = 8;
      ro.max_batched_tokens = 64;
    }
    cuda_use_device(0);
    std::vector<float> ref;
    {
      auto one = TransformerRunner::open(dir, f32_backend(0), ro);
      ref = test::two_step_logits(*one, a, b, 17, 42);
    }
    std::vector<std::unique_ptr<Backend>> bs;
    std::vector<CudaBackend*> raw;
    for (int r = 0; r < 2; ++r) {
      auto be = f32_backend(r);
      raw.push_back(be.get());
      bs.push_back(std::move(be));
    }
    TensorParallelOptions tp;
    tp.runner = ro;
    tp.rank_thread_init = [](int r) { cuda_use_device(r); };
    auto two = TensorParallelRunner::open(dir, std::move(bs), make_nccl_communicators(raw), tp);
    const auto got = test::two_step_logits(*two, a, b, 17, 42);
    // Two GPUs' kernels sum in other orders than one GPU's: the CUDA parity bound, not the CPU's.
    EXPECT_LE(test::max_relative_error(got, ref, 300), 1e-4) << "graphs " << graphs;
    EXPECT_EQ(test::row_argmax(got, 300), test::row_argmax(ref, 300)) << "graphs " << graphs;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ember
