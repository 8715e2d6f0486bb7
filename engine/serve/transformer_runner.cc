#include "engine/serve/transformer_runner.h"

#include <chrono>

#include "engine/core/error.h"
#include "engine/model/dummy_weights.h"

namespace ember {

std::shared_ptr<TransformerRunner> TransformerRunner::open(const std::string& dir,
                                                           std::unique_ptr<Backend> backend,
                                                           const RunnerOptions& opts) {
  if (!backend) fail("model runner: no backend");
  std::shared_ptr<TransformerRunner> r(new TransformerRunner());
  const auto t0 = std::chrono::steady_clock::now();
  r->backend_ = std::move(backend);
  r->model_ = load_model(dir, *r->backend_, opts.progress);
  r->alloc_kv(opts);
  size_t bytes = 0;
  for (const auto& [_, t] : r->model_.files.all()) bytes += t->nbytes;
  r->report_loaded(opts, t0, bytes);
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
  r->alloc_kv(opts);
  r->report_loaded(opts, t0, 0);
  return r;
}

void TransformerRunner::alloc_kv(const RunnerOptions& opts) {
  const ModelConfig& cfg = model_.cfg;
  const DType kv_dtype = backend_->activation_dtype();
  const int64_t useful = opts.max_useful_tokens > 0 ? opts.max_useful_tokens : int64_t(1) << 40;
  const int blocks = kv_blocks_for_budget(cfg, kv_dtype, opts.block_size, opts.kv,
                                          backend_->kv_memory_available(), useful);
  kv_ = backend_->alloc_kv_cache(model_.model->kv_spec(blocks, opts.block_size));
}

void TransformerRunner::report_loaded(const RunnerOptions& opts,
                                      std::chrono::steady_clock::time_point t0,
                                      size_t weight_bytes) const {
  if (!opts.on_loaded) return;
  LoadSummary s;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.weight_bytes = weight_bytes;
  s.kv_blocks = kv_.spec.num_blocks;
  s.block_size = kv_.spec.block_size;
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
  for (const auto& c : copies) pairs_.emplace_back(c.src, c.dst);
  backend_->copy_kv_blocks(kv_, pairs_);
}

void TransformerRunner::forward(const StepInput& step, std::vector<float>& logits) {
  model_.model->forward(step, kv_, logits);
}

}  // namespace ember
