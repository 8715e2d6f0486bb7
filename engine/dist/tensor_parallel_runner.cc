#include "engine/dist/tensor_parallel_runner.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/core/error.h"
#include "engine/model/dummy_weights.h"

namespace ember {

std::shared_ptr<TensorParallelRunner> TensorParallelRunner::open(
    const std::string& dir, std::vector<std::unique_ptr<Backend>> backends,
    std::vector<std::unique_ptr<Communicator>> comms, const TensorParallelOptions& opts) {
  const int world = int(backends.size());
  if (world < 1) fail("tensor parallel: no backends");
  if (int(comms.size()) != world)
    fail("tensor parallel: {} backends but {} communicators", world, comms.size());
  for (int r = 0; r < world; ++r) {
    if (!backends[size_t(r)]) fail("tensor parallel: rank {} has no backend", r);
    if (!comms[size_t(r)] || comms[size_t(r)]->rank() != r || comms[size_t(r)]->world() != world)
      fail("tensor parallel: communicator {} is not rank {} of {}", r, r, world);
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<TensorParallelRunner> tp(new TensorParallelRunner());
  // The split is checked before any rank maps a file or allocates.
  tp->cfg_ = opts.dummy_seed ? load_dummy_config(dir) : load_model_config(dir);
  ShardPlan{0, world}.check(tp->cfg_);
  tp->comms_ = std::move(comms);
  tp->ranks_.resize(size_t(world));
  tp->rank_logits_.resize(size_t(world));
  tp->threads_ = std::make_unique<Lockstep>(world, opts.rank_thread_init, [tp = tp.get()] {
    for (auto& c : tp->comms_) c->abort();
  });
  RunnerOptions ro = opts.runner;
  ro.on_loaded = nullptr;
  // Progress from one rank is the picture of all (they load the same bytes at the same pace).
  tp->on_ranks([&](int r) {
    RunnerOptions mine = ro;
    if (r != 0) mine.progress = nullptr;
    tp->ranks_[size_t(r)] = TransformerRunner::open_shard(dir, std::move(backends[size_t(r)]),
                                                          mine, ShardPlan{r, world},
                                                          opts.dummy_seed);
    tp->ranks_[size_t(r)]->backend().set_communicator(tp->comms_[size_t(r)].get());
  });
  // Every rank gets the same block ids: the scheduler's one block table serves them all.
  // Each rank asks its own backend, on its own thread (a GPU's free memory is its device's).
  const int sharers = opts.ranks_share_memory ? world : 1;
  std::vector<int> affordable(static_cast<size_t>(world), 0);
  tp->on_ranks([&](int r) {
    affordable[size_t(r)] = tp->ranks_[size_t(r)]->affordable_kv_blocks(ro, sharers);
  });
  const int blocks = *std::min_element(affordable.begin(), affordable.end());
  tp->on_ranks([&](int r) { tp->ranks_[size_t(r)]->allocate_kv(blocks, ro); });
  if (opts.runner.on_loaded) {
    LoadSummary s;
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.weight_bytes = tp->ranks_[0]->weight_bytes();
    s.kv_blocks = tp->num_kv_blocks();
    s.block_size = tp->kv_block_size();
    s.kv_dtype = ro.kv_dtype.value_or(tp->ranks_[0]->backend().activation_dtype());
    s.backend = tp->name();
    opts.runner.on_loaded(s);
  }
  return tp;
}

TensorParallelRunner::~TensorParallelRunner() {
  // Each rank is released on its own thread (a GPU backend frees on its device), then the
  // threads stop, then the communicators go.
  if (threads_) {
    try {
      threads_->run([&](int r) { ranks_[size_t(r)].reset(); });
    } catch (...) {
    }
  }
  threads_.reset();
  ranks_.clear();
}

std::string TensorParallelRunner::name() const {
  return ranks_[0]->name() + " x" + std::to_string(world()) + " (tensor parallel)";
}

std::vector<int32_t> TensorParallelRunner::eos_token_ids() const {
  return {cfg_.eos_token_ids.begin(), cfg_.eos_token_ids.end()};
}

size_t TensorParallelRunner::kv_bytes() const {
  size_t b = 0;
  for (const auto& r : ranks_) b += r->kv_bytes();
  return b;
}

void TensorParallelRunner::on_ranks(const std::function<void(int)>& job) {
  try {
    threads_->run(job);
  } catch (...) {
    // Every rank has left the step: the group may serve the next one.
    for (auto& c : comms_) c->recover();
    throw;
  }
}

void TensorParallelRunner::copy_blocks(std::span<const BlockCopy> copies) {
  if (copies.empty()) return;
  on_ranks([&](int r) { ranks_[size_t(r)]->copy_blocks(copies); });
}

void TensorParallelRunner::forward(const StepInput& step, std::vector<float>& logits) {
  // Token ids are checked here, once: a rank's embedding sees only its slice's rows.
  for (const int32_t t : step.tokens)
    if (t < 0 || t >= cfg_.vocab_size)
      fail("tensor parallel: token id {} outside the vocabulary of {}", t, cfg_.vocab_size);
  on_ranks([&](int r) { ranks_[size_t(r)]->forward(step, rank_logits_[size_t(r)]); });
  const size_t R = step.logit_rows.size(), V = size_t(cfg_.vocab_size);
  logits.resize(R * V);
  const int W = world();
  for (int r = 0; r < W; ++r) {
    const ShardPlan plan{r, W};
    const size_t b = size_t(plan.vocab_begin(int64_t(V))), n = size_t(plan.vocab_end(int64_t(V))) - b;
    const std::vector<float>& part = rank_logits_[size_t(r)];
    if (part.size() != R * n)
      fail("tensor parallel: rank {} returned {} logits for {} rows of {}", r, part.size(), R, n);
    for (size_t i = 0; i < R; ++i)
      std::memcpy(logits.data() + i * V + b, part.data() + i * n, n * sizeof(float));
  }
}

}  // namespace ember
