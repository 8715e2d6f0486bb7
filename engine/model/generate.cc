#include "engine/model/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/core/error.h"
#include "engine/model/weights.h"

namespace ember {

LoadedModel load_model(const std::string& dir, Backend& backend, const ProgressFn& progress) {
  LoadedModel m{load_model_config(dir), WeightFiles::open(dir, progress), nullptr};
  ModelWeights w = load_weights(m.cfg, m.files, backend, {}, progress);
  m.model = std::make_unique<Transformer>(m.cfg, backend, std::move(w));
  return m;
}

int32_t argmax_id(const float* logits, int n) {
  return int32_t(std::max_element(logits, logits + n) - logits);
}

int32_t sample_id(const float* logits, int n, float temperature, std::mt19937_64& rng) {
  const float m = *std::max_element(logits, logits + n);
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += p[size_t(i)] = std::exp(double(logits[i] - m) / temperature);
  // 53 random bits -> [0, 1): the same draw on every platform (unlike uniform_real_distribution).
  const double u = double(rng() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (int i = 0; i < n; ++i) {
    acc += p[size_t(i)];
    if (u < acc) return int32_t(i);
  }
  return int32_t(n - 1);
}

GenerateResult generate(Transformer& model, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opts,
                        const std::function<bool(int32_t)>& on_token) {
  const ModelConfig& cfg = model.config();
  if (prompt.empty()) fail("generate: the prompt is empty (start from BOS)");
  if (opts.block_size <= 0) fail("generate: block size {} must be positive", opts.block_size);
  if (opts.temperature < 0 || !std::isfinite(opts.temperature))
    fail("generate: temperature {} must be >= 0", opts.temperature);
  const int max_pos = cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : 1 << 30;
  if (int(prompt.size()) > max_pos)
    fail("generate: prompt of {} tokens exceeds max_position_embeddings={}", prompt.size(),
         max_pos);
  for (int32_t id : prompt)
    if (id < 0 || id >= cfg.vocab_size)
      fail("generate: prompt token id {} outside the vocabulary [0, {})", id, cfg.vocab_size);

  const int budget = std::max(0, std::min(opts.max_tokens, max_pos - int(prompt.size())));
  const int total = int(prompt.size()) + budget;
  const int nblocks = std::max(1, (total + opts.block_size - 1) / opts.block_size);
  KvCache kv = model.backend().alloc_kv_cache(model.kv_spec(nblocks, opts.block_size));
  std::vector<int32_t> table(static_cast<size_t>(nblocks));
  std::iota(table.begin(), table.end(), 0);

  std::mt19937_64 rng(opts.seed);
  GenerateResult res;
  std::vector<float> logits;
  std::vector<int32_t> chunk = prompt;
  int pos = 0;
  while (int(res.ids.size()) < budget) {
    StepInput step;
    step.add_sequence(chunk, pos, table, opts.block_size, true);
    model.forward(step, kv, logits);
    pos += int(chunk.size());
    const int32_t id = opts.temperature == 0.f
                           ? argmax_id(logits.data(), cfg.vocab_size)
                           : sample_id(logits.data(), cfg.vocab_size, opts.temperature, rng);
    res.ids.push_back(id);
    if (on_token && !on_token(id)) {
      res.finish = GenerateResult::Finish::Cancelled;
      return res;
    }
    if (std::find(opts.stop_ids.begin(), opts.stop_ids.end(), id) != opts.stop_ids.end()) {
      res.finish = GenerateResult::Finish::Stop;
      return res;
    }
    chunk = {id};
  }
  res.finish = GenerateResult::Finish::Length;
  return res;
}

}  // namespace ember
