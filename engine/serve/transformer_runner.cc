#include "engine/serve/transformer_runner.h"

#include <algorithm>
#include <chrono>

#include "engine/core/error.h"
#include "engine/model/dummy_weights.h"
#include "engine/sample/sample_rows.h"

namespace ember {

std::shared_ptr<TransformerRunner> TransformerRunner::open(const std::string& dir,
                                                           std::unique_ptr<Backend> backend,
                                                           const RunnerOptions& opts) {
  if (!backend) fail("model runner: no backend");
  std::shared_ptr<TransformerRunner> r(new TransformerRunner());
  const auto t0 = std::chrono::steady_clock::now();
  r->backend_ = std::move(backend);
  r->model_ = load_model(dir, *r->backend_, opts.progress);
  r->prepare(opts);
  r->report_loaded(opts, t0, r->weight_bytes());
  return r;
}

size_t TransformerRunner::weight_bytes() const {
  size_t bytes = 0;
  for (const auto& [_, t] : model_.files.all()) bytes += t->nbytes;
  return bytes;
}

std::shared_ptr<TransformerRunner> TransformerRunner::open_shard(
    const std::string& dir, std::unique_ptr<Backend> backend, const RunnerOptions& opts,
    const ShardPlan& plan, std::optional<uint64_t> dummy_seed) {
  if (!backend) fail("model runner: no backend");
  std::shared_ptr<TransformerRunner> r(new TransformerRunner());
  r->backend_ = std::move(backend);
  ModelWeights w;
  if (dummy_seed) {
    r->model_.cfg = load_dummy_config(dir);
    DummyWeightOptions wo;
    wo.seed = *dummy_seed;
    wo.dtype = r->model_.cfg.dtype == DType::F32 ? DType::F32 : DType::BF16;
    w = make_dummy_weights(r->model_.cfg, *r->backend_, wo, plan);
  } else {
    r->model_.cfg = load_model_config(dir);
    plan.check(r->model_.cfg);  // before mapping anything
    r->model_.files = WeightFiles::open(dir, opts.progress);
    w = load_weights(r->model_.cfg, r->model_.files, *r->backend_, plan, opts.progress);
  }
  r->model_.model =
      std::make_unique<Transformer>(r->model_.cfg, *r->backend_, std::move(w), plan);
  r->reserve(opts);
  return r;
}

std::shared_ptr<TransformerRunner> TransformerRunner::open_dummy(const std::string& config_json,
                                                                 std::unique_ptr<Backend> backend,
                                                                 const RunnerOptions& opts,
                                                                 uint64_t seed) {
  if (!backend) fail("model runner: no backend");
  std::shared_ptr<TransformerRunner> r(new TransformerRunner());
  const auto t0 = std::chrono::steady_clock::now();
  r->backend_ = std::move(backend);
  r->model_.cfg = load_dummy_config(config_json);
  DummyWeightOptions wo;
  wo.seed = seed;
  wo.dtype = r->model_.cfg.dtype == DType::F32 ? DType::F32 : DType::BF16;
  r->model_.model = std::make_unique<Transformer>(
      r->model_.cfg, *r->backend_, make_dummy_weights(r->model_.cfg, *r->backend_, wo));
  r->prepare(opts);
  r->report_loaded(opts, t0, 0);
  return r;
}

void TransformerRunner::reserve(const RunnerOptions& opts) {
  // An accelerator may hold the activation buffers' addresses (a CUDA graph), so they are sized
  // for the largest step up front; before the KV cache, whose budget is the memory free now.
  // Without one they grow on demand (a one-sequence chat never pays for a 256-row batch).
  if (opts.accelerator)
    model_.model->reserve(std::max(opts.max_batched_tokens, 0), std::max(opts.max_num_seqs, 0));
}

void TransformerRunner::prepare(const RunnerOptions& opts) {
  reserve(opts);
  allocate_kv(affordable_kv_blocks(opts), opts);
}

int TransformerRunner::affordable_kv_blocks(const RunnerOptions& opts, int sharers) const {
  // The rank's own shapes: at TP=N each rank caches its share of the KV heads, so the same
  // budget holds up to N times the tokens.
  const ModelConfig& cfg = model_.model->config();
  const DType kv_dtype = opts.kv_dtype.value_or(backend_->activation_dtype());
  const int64_t useful = opts.max_useful_tokens > 0 ? opts.max_useful_tokens : int64_t(1) << 40;
  KvBudget budget = opts.kv;
  sharers = std::max(sharers, 1);
  if (budget.gib) *budget.gib /= sharers;
  budget.fraction /= sharers;
  return kv_blocks_for_budget(cfg, kv_dtype, opts.block_size, budget,
                              backend_->kv_memory_available(), useful);
}

void TransformerRunner::allocate_kv(int blocks, const RunnerOptions& opts) {
  const DType kv_dtype = opts.kv_dtype.value_or(backend_->activation_dtype());
  // The pad block is the last id, so the scheduler's ids [0, blocks) are the same with or
  // without an accelerator.
  const int pad = opts.accelerator ? 1 : 0;
  kv_ = backend_->alloc_kv_cache(model_.model->kv_spec(blocks + pad, opts.block_size, kv_dtype));
  // A backend may keep its own cache type (CUDA: the activation dtype) whatever was asked.
  if (kv_.spec.dtype != kv_dtype)
    fail("--kv-cache-dtype {}: the {} backend keeps its KV cache in {}", dtype_name(kv_dtype),
         backend_->name(), dtype_name(kv_.spec.dtype));
  usable_blocks_ = kv_.spec.num_blocks - pad;
  if (opts.accelerator)
    accel_ = opts.accelerator(StepAcceleratorContext{*model_.model, *backend_, kv_, usable_blocks_,
                                                     opts.max_num_seqs, opts.max_batched_tokens});
}

void TransformerRunner::report_loaded(const RunnerOptions& opts,
                                      std::chrono::steady_clock::time_point t0,
                                      size_t weight_bytes) const {
  if (!opts.on_loaded) return;
  LoadSummary s;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.weight_bytes = weight_bytes;
  s.kv_blocks = usable_blocks_;
  s.block_size = kv_.spec.block_size;
  s.kv_dtype = kv_.spec.dtype;
  s.backend = backend_->name();
  opts.on_loaded(s);
}

std::string TransformerRunner::name() const { return backend_->name(); }

std::vector<int32_t> TransformerRunner::eos_token_ids() const {
  return {model_.cfg.eos_token_ids.begin(), model_.cfg.eos_token_ids.end()};
}

void TransformerRunner::copy_blocks(std::span<const BlockCopy> copies) {
  if (copies.empty()) return;
  pairs_.clear();
  for (const auto& c : copies) {
    // The backend checks ids against the whole cache, which includes the pad block.
    if (c.src < 0 || c.src >= usable_blocks_ || c.dst < 0 || c.dst >= usable_blocks_)
      fail("model runner: copy of block {} to {} outside the KV cache of {} blocks", c.src, c.dst,
           usable_blocks_);
    pairs_.emplace_back(c.src, c.dst);
  }
  backend_->copy_kv_blocks(kv_, pairs_);
}

void TransformerRunner::forward(const StepInput& step, std::vector<float>& logits) {
  if (accel_ && accel_->accepts(step)) {
    accel_->forward(step, logits);
    ++accelerated_steps_;
    return;
  }
  model_.model->forward(step, kv_, logits);
  ++eager_steps_;
}

void TransformerRunner::run(StepPlan& plan, std::vector<SampledRow>& out) {
  begin_step(plan);
  copy_blocks(plan.copies);
  out.resize(plan.rows.size());
  const StepInput& step = plan.input;
  Tensor logits;
  if (accel_ && accel_->accepts(step)) {
    ++accelerated_steps_;
    if (!accel_->forward_device(step, logits)) {
      accel_->forward(step, host_logits_);
      const int64_t rows = int64_t(step.logit_rows.size());
      sample_rows(host_logits_.data(), rows, vocab_size(), plan.rows, slots_, out);
      return;
    }
  } else {
    ++eager_steps_;
    logits = model_.model->forward_logits(step, kv_);
  }
  backend_->sample(logits, plan.rows, slots_, out);
}

}  // namespace ember
