#pragma once
// Decode steps as CUDA graphs. A decode step (every sequence adds one token) has the same
// kernels with the same arguments from step to step once its shapes are fixed, so each
// (batch bucket, context bucket) is captured once and replayed: the step's inputs are copied
// into that graph's static device buffers, then one cudaGraphLaunch runs the whole forward.
// A batch is padded up to its bucket with rows that write their K/V into a reserved block;
// the context bucket fixes the block-table width and the decode-attention split, and every
// sequence's real length is read from the device at run time.
//
// What capture changes for the backend, and how it stays correct:
// - the CPU-side checks the backend makes on a step (token ids in the vocab, slots and block
//   ids inside the cache, logit rows) run once, at capture, on the padded template; a replay
//   skips them, so check_step() repeats them on the host before every replay;
// - captured addresses must not move: the transformer's activation buffers are reserved up
//   front and watched (Transformer::scratch_generation; a change drops every graph), the
//   backend keeps outgrown decode-attention scratch alive, weight conversions and cuBLASLt
//   plans are made by one eager run of the same step before capture;
// - the first step of a new bucket runs eagerly (its result is that step's result) and is
//   then captured; later steps replay.
//
// Overlap: launch() only enqueues (an H2D copy from pinned memory, the graph, an async D2H of
// the logits) and returns, so the host can build step N+1 while the GPU runs step N; wait() is
// the only synchronisation. Sampling on the GPU can read device_logits() on the same stream.
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/model/transformer.h"
#include "kernels/cuda_backend.h"

namespace ember {

struct CudaGraphOptions {
  std::vector<int> batch_buckets{1, 2, 4, 8, 16, 32, 64, 128, 256};
  int min_ctx_blocks = 16;  // smallest context bucket, in KV blocks; buckets double from there
  int pad_block = -1;       // a KV block no sequence ever uses (padding rows write into it)
};

class CudaGraphRunner {
 public:
  // `model` must run on `backend`; `kv` is the cache every step uses (its address is watched).
  CudaGraphRunner(Transformer& model, CudaBackend& backend, KvCache& kv, CudaGraphOptions opts);
  ~CudaGraphRunner();
  CudaGraphRunner(const CudaGraphRunner&) = delete;
  CudaGraphRunner& operator=(const CudaGraphRunner&) = delete;

  // True for a decode step a graph can serve: 1..largest bucket sequences, one token each.
  bool accepts(const StepInput& step) const;
  // The backend's checks for a step, on the host (throws ember::Error like the backend does).
  void check_step(const StepInput& step) const;

  // Enqueues the step (capturing its bucket on first use) and returns without waiting. With
  // copy_logits, the logits of step.logit_rows are copied to pinned host memory for wait().
  void launch(const StepInput& step, bool copy_logits = true);
  // Waits for the last launch; fills `logits` ([rows, vocab]) when it copied them.
  void wait(std::vector<float>& logits);
  void decode(const StepInput& step, std::vector<float>& logits) {
    launch(step);
    wait(logits);
  }
  // fp32 logits of the last launch, [bucket rows, vocab] on the device; row i is sequence i.
  Tensor device_logits() const;

  void reset();  // drops every graph (the next step of each bucket is captured again)
  size_t graphs() const;
  uint64_t captures() const;
  uint64_t replays() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember
