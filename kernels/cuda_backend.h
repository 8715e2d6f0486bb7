#pragma once
// The CUDA backend, seen from plain C++: nothing here includes a CUDA header, so engine/ and
// tools/ use it without nvcc. Built only when CMake finds CUDA (EMBER_HAVE_CUDA); without it,
// cuda_device_available() is false and make_cuda_backend() throws ember::Error.
//
// What differs from the CPU backend, by design:
// - activations are bf16 by default (fp32 on request, the mode for parity tests on tiny
//   models); matmul weights whose dtype differs from the activations are converted once, on
//   first use, and the copy is kept;
// - the KV cache is stored in the activation dtype, whatever KvCacheSpec::dtype asks for
//   (the returned KvCache::spec says what was allocated); num_blocks <= 0 asks for as many
//   blocks as fit in the memory budget (gpu_memory_fraction of the card, minus what is in use
//   when it is called: allocate it after the weights and a warm-up step);
// - alloc() serves activations from a cache of freed blocks, so a decode loop of steady shapes
//   allocates nothing after its first step; upload_step() reuses one device buffer, so only one
//   StepTensors may be in use at a time;
// - scratch buffers of the ops (decode-attention partials) only grow and never free an old
//   buffer while the backend lives, so a captured CUDA graph's addresses stay valid.
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/model/backend.h"

namespace ember {

// True when a CUDA device can be used (driver present, at least one device).
bool cuda_device_available();

struct CudaBackendOptions {
  int device = 0;
  double gpu_memory_fraction = 0.9;  // of total device memory, for weights + activations + KV
  DType activations = DType::BF16;   // BF16 or F32
};

// Per-row sampling parameters for CudaBackend::sample.
struct GpuSamplingParams {
  float temperature = 1.f;  // <= 0: greedy
  int top_k = 0;            // 0: no limit
  float top_p = 1.f;        // >= 1: no limit
  uint64_t seed = 0;
  uint64_t step = 0;    // tokens this completion has generated so far
  uint32_t index = 0;   // completion index within the request
};

class CudaBackend : public Backend {
 public:
  using Backend::sample;  // the serving op (rows with slots), beside the kernel's own entry
  // ids (I32 [R], this backend's memory) = first index of each row's largest logit.
  virtual void argmax(const Tensor& logits, Tensor& ids) = 0;
  // Per row, the rules of engine/sample/sampler.cc (temperature, top_k, top_p and the draw;
  // penalties, min_p, typical and XTC stay on the host sampler): softmax(logits / temperature)
  // in (p desc, id asc) order, the top_k first, the shortest prefix with mass >= top_p, then
  // the first kept id whose cumulative mass exceeds u * kept mass, with
  // u = philox_uniform(seed, step, index, Token), the serve sampler's stream.
  virtual void sample(const Tensor& logits, const std::vector<GpuSamplingParams>& params,
                      Tensor& ids) = 0;
  // Bytes the KV cache may take now under the memory fraction.
  virtual size_t kv_budget_bytes() const = 0;
  virtual int device() const = 0;
  // The one stream all of this backend's work goes on, as a cudaStream_t (void* here, so that
  // this header needs no CUDA include). CudaGraphRunner captures and replays on it.
  virtual void* stream_handle() const = 0;
};

std::unique_ptr<CudaBackend> make_cuda_backend(const CudaBackendOptions& options);
std::unique_ptr<Backend> make_cuda_backend(int device, double gpu_memory_fraction);

}  // namespace ember
