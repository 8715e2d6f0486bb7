#pragma once
// Tensor parallelism behind the scheduler's ModelRunner seam: one process, one scheduler, N
// ranks stepping in lockstep (a thread per rank, engine/dist/lockstep.h). Each rank is a
// TransformerRunner over its own backend, its shard of the weights (ShardPlan) and its shard of
// the KV cache (its KV heads, so the same budget per device holds N times the tokens); inside a
// step the ranks meet only in the communicator (the all_reduce after the embedding, o_proj and
// down). Each rank returns the logits of its vocabulary slice; the runner gathers them into the
// one [rows, vocab] host buffer the sampler reads, so sampling happens once. The scheduler,
// the sampler and net/ do not know.
//
// Why the logits are gathered on the host, not selected per shard and merged: the sampler needs
// every logit of a row (penalties, top-p, min-p, typical, XTC, logprobs), so the full row has
// to reach the host either way. Each rank copying its slice into its columns of the host buffer
// moves R x vocab x 4 bytes in all, the same as TP=1, over each GPU's own link in parallel; a
// device all-gather first would add (N-1)/N of that over NVLink and then still copy the whole
// from one GPU.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/dist/lockstep.h"
#include "engine/serve/model_runner.h"
#include "engine/serve/transformer_runner.h"

namespace ember {

struct TensorParallelOptions {
  RunnerOptions runner;  // each rank's; on_loaded hears once, for the whole model
  // CPU ranks share the host's memory: the KV budget (--kv-cache-gb, or the fraction of free
  // memory) is then split among them. GPU ranks each have the budget on their own device.
  bool ranks_share_memory = false;
  // Runs first on each rank's thread (CUDA: bind it to the rank's device).
  std::function<void(int rank)> rank_thread_init;
  // Set: random weights of the shard's shapes from the config.json at `dir`, with this seed.
  std::optional<uint64_t> dummy_seed;
};

class TensorParallelRunner : public ModelRunner {
 public:
  // backends[i] and comms[i] are rank i's (as many of each; comms[i]->rank() == i). Loads every
  // rank's shard in parallel, then gives each the same number of KV blocks: the fewest any rank
  // can afford. Throws before loading when the model does not split across the ranks.
  static std::shared_ptr<TensorParallelRunner> open(const std::string& dir,
                                                    std::vector<std::unique_ptr<Backend>> backends,
                                                    std::vector<std::unique_ptr<Communicator>> comms,
                                                    const TensorParallelOptions& opts);
  ~TensorParallelRunner() override;

  std::string name() const override;
  int vocab_size() const override { return cfg_.vocab_size; }
  int max_context() const override { return cfg_.max_position_embeddings; }
  std::vector<int32_t> eos_token_ids() const override;
  int num_kv_blocks() const override { return ranks_[0]->num_kv_blocks(); }
  int kv_block_size() const override { return ranks_[0]->kv_block_size(); }
  void copy_blocks(std::span<const BlockCopy> copies) override;
  void forward(const StepInput& step, std::vector<float>& logits) override;

  int world() const { return int(ranks_.size()); }
  TransformerRunner& rank(int r) { return *ranks_[size_t(r)]; }
  const ModelConfig& config() const { return cfg_; }
  // Every rank's KV cache together (each holds its own KV heads for every block).
  size_t kv_bytes() const;

 private:
  TensorParallelRunner() = default;
  // job(rank) on every rank at once; a failure stops the step on every rank and is rethrown.
  void on_ranks(const std::function<void(int)>& job);
  ModelConfig cfg_;
  std::vector<std::unique_ptr<Communicator>> comms_;
  std::vector<std::shared_ptr<TransformerRunner>> ranks_;
  std::unique_ptr<Lockstep> threads_;  // after ranks_: its threads stop before they go
  std::vector<std::vector<float>> rank_logits_;  // each rank's [rows, its vocab slice]
};

}  // namespace ember
