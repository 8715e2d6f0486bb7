// `ember inspect`: what a model folder holds and what it needs: shapes, parameters, weight
// bytes, KV-cache bytes per token, and how much context fits on common GPU sizes.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/model/config.h"
#include "engine/model/safetensors.h"
#include "engine/model/weights.h"
#include "tools/ember/commands.h"
#include "tools/ember/model_names.h"
#include "tools/ember/load_progress.h"

namespace ember::cli {

namespace {

std::string rope_desc(const ModelConfig& c) {
  switch (c.rope_scaling.type) {
    case RopeScaling::Type::None: return "none";
    case RopeScaling::Type::Linear: return fmt::format("linear x{}", c.rope_scaling.factor);
    case RopeScaling::Type::Llama3:
      return fmt::format("llama3 x{} (original context {})", c.rope_scaling.factor,
                         c.rope_scaling.original_max_position_embeddings);
  }
  return "?";
}

std::string window_desc(const ModelConfig& c) {
  if (c.sliding_window <= 0) return "";
  int sliding = c.num_layers;
  if (!c.sliding_layers.empty()) {
    sliding = 0;
    for (int l = 0; l < c.num_layers; ++l) sliding += c.layer_is_sliding(l);
  }
  std::string s = fmt::format("; sliding window {} on {} of {} layers", c.sliding_window, sliding,
                              c.num_layers);
  if (c.rope_local_theta > 0) s += fmt::format(" (their rope theta {})", c.rope_local_theta);
  return s;
}

// Gemma's departures from the Llama layer, when present.
std::string attention_desc(const ModelConfig& c) {
  std::vector<std::string> parts;
  if (c.qk_norm) parts.push_back("q/k RMSNorm");
  if (c.query_pre_attn_scalar > 0)
    parts.push_back(fmt::format("scale 1/sqrt({})", c.query_pre_attn_scalar));
  if (c.attn_logit_softcap > 0) parts.push_back(fmt::format("score soft-cap {}", c.attn_logit_softcap));
  if (c.final_logit_softcap > 0)
    parts.push_back(fmt::format("final logit soft-cap {}", c.final_logit_softcap));
  if (c.sandwich_norms) parts.push_back("norms before and after attention and MLP");
  if (c.norm_plus_one) parts.push_back("RMSNorm x(1+w)");
  if (c.scale_embedding) parts.push_back("embedding x sqrt(hidden)");
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : "; ") + p;
  return s;
}

// What "fits next to the weights" assumes: 90% of the card is usable (the CUDA context, the
// allocator's slack and fragmentation take the rest), and 1 GiB goes to activations and
// GEMM workspace.
constexpr double kUsableFraction = 0.90;
constexpr double kActivationReserve = 1024.0 * 1024 * 1024;

// Per GPU at tensor-parallel size N: the shard's weights, its KV bytes per token (its KV heads),
// and the KV tokens that fit beside them on each card; or why the model does not split so.
void print_tensor_parallel(const ModelConfig& c, const WeightFiles& files, int tp) {
  fmt::print("tensor parallel (per GPU: weights, KV per token, KV tokens that fit on 24 / 48 / 80 "
             "GiB; --tensor-parallel-size N):\n");
  std::vector<int> sizes = {1, 2, 4, 8};
  if (tp > 0 && std::find(sizes.begin(), sizes.end(), tp) == sizes.end()) sizes.push_back(tp);
  for (int n : sizes) {
    size_t bytes = 0;
    try {
      bytes = shard_weight_bytes(c, files, ShardPlan{0, n});
    } catch (const Error& e) {
      fmt::print("  TP {:<2} {}\n", n, e.what());
      continue;
    }
    const int64_t kv = ShardPlan{0, n}.local(c).kv_bytes_per_token(c.dtype);
    std::string fits;
    for (int gb : {24, 48, 80}) {
      const double free = double(gb) * 1024 * 1024 * 1024 * kUsableFraction - double(bytes) -
                          kActivationReserve;
      fits += fmt::format("  {:>12}", free <= 0 ? std::string("no fit")
                                                : fmt::format("{}", int64_t(free / double(kv))));
    }
    fmt::print("  TP {:<2} {:>11} {:>11}{}{}\n", n, human_bytes(double(bytes)),
               human_bytes(double(kv)), fits, n == tp ? "   <- --tp" : "");
  }
}

void run_inspect(const std::string& dir, int tp) {
  if (tp < 0) fail("--tp {} must be positive", tp);
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(STDERR_FILENO);
  const ModelConfig c = load_model_config(dir);
  const ProgressFn progress = terminal_progress();
  const WeightFiles files = WeightFiles::open(dir, progress);
  check_weights(c, files, progress);
  if (tty) std::fprintf(stderr, "\r%60s\r", "");
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int64_t params = 0;
  std::map<DType, size_t> bytes_by_dtype;
  size_t weight_bytes = 0;
  for (const auto& [_, t] : files.all()) {
    params += t->numel();
    bytes_by_dtype[t->dtype] += t->nbytes;
    weight_bytes += t->nbytes;
  }

  fmt::print("model          {}\n", dir);
  fmt::print("architecture   {}\n", arch_hf_name(c.arch));
  fmt::print("layers         {}\n", c.num_layers);
  fmt::print("hidden         {} (intermediate {})\n", c.hidden_size, c.intermediate_size);
  fmt::print("heads          {} query, {} key/value, head dim {}\n", c.num_heads, c.num_kv_heads,
             c.head_dim);
  fmt::print("vocab          {}{}\n", c.vocab_size,
             c.tie_word_embeddings ? " (lm_head tied to the embedding)" : "");
  fmt::print("context        {} positions; rope theta {}, scaling {}{}\n",
             c.max_position_embeddings, c.rope_theta, rope_desc(c), window_desc(c));
  fmt::print("mlp            {}\n",
             c.hidden_act == Activation::GeluTanh ? "GeGLU (gelu tanh)" : "SwiGLU (silu)");
  if (c.sandwich_norms || c.qk_norm || c.attn_logit_softcap > 0 || c.final_logit_softcap > 0 ||
      c.query_pre_attn_scalar > 0)
    fmt::print("attention      {}\n", attention_desc(c));
  fmt::print("parameters     {} ({})\n", params,
             params >= 1000000000 ? fmt::format("{:.2f} B", double(params) / 1e9)
                                  : fmt::format("{:.2f} M", double(params) / 1e6));
  for (const auto& [dt, b] : bytes_by_dtype)
    fmt::print("weights {:<6} {}\n", dtype_name(dt), human_bytes(double(b)));
  const int64_t kv = c.kv_bytes_per_token(c.dtype);
  fmt::print("KV per token   {} ({}: 2 x {} layers x {} kv heads x {} dims x {} bytes)\n",
             human_bytes(double(kv)), dtype_name(c.dtype), c.num_layers, c.num_kv_heads,
             c.head_dim, dtype_size(c.dtype));
  fmt::print("KV-cache tokens (all sequences together) that fit next to the weights (assumes {:.0f}% of GPU memory usable, "
             "minus the weights, minus {} for activations):\n",
             kUsableFraction * 100, human_bytes(kActivationReserve));
  // The cards miners rent, by memory size.
  const std::pair<int, const char*> cards[] = {
      {24, "RTX 4090"}, {48, "L40 / A6000"}, {80, "H100"}};
  for (const auto& [gb, names] : cards) {
    const double free = double(gb) * 1024 * 1024 * 1024 * kUsableFraction -
                        double(weight_bytes) - kActivationReserve;
    if (free <= 0)
      fmt::print("  {:>2} GiB GPU ({:<11})  weights do not fit\n", gb, names);
    else
      fmt::print("  {:>2} GiB GPU ({:<11})  {} tokens\n", gb, names, int64_t(free / double(kv)));
  }
  print_tensor_parallel(c, files, tp);
  // A size the model cannot split is an error when asked for, after the table shows why.
  if (tp > 0) ShardPlan{0, tp}.check(c);
  fmt::print("loaded and checked in {:.2f} s\n", secs);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto tp = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand("inspect", "Show a model's shape, size and memory needs");
  cmd->add_option("--model", *dir, "Model folder (config.json + safetensors)")->required();
  cmd->add_option("--tensor-parallel-size,--tp", *tp,
                  "Also show this tensor-parallel size beside 1, 2, 4 and 8 (and fail when the "
                  "model cannot be split so)")
      ->check(CLI::PositiveNumber);
  cmd->callback([dir, tp] { run_inspect(resolve_model_arg(*dir), *tp); });
}

}  // namespace ember::cli
