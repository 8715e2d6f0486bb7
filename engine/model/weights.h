#pragma once
// Model weights on a backend, loaded through a sharding plan. Checkpoint names differ by
// architecture; here every model has the same shape: a fused QKV projection (with bias when the
// model has one) and a fused gate+up projection, concatenated at load time, so one forward pass
// and one set of kernels serve every architecture.
#include <optional>
#include <string>
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/config.h"
#include "engine/model/safetensors.h"

namespace ember {

// How a weight is divided across tensor-parallel ranks. Column: split the output dim (rows of
// [out, in]); Row: split the input dim (its output is then all-reduced).
enum class Split { Replicated, Column, Row };

// Megatron-style: q, k and v by heads, gate and up by rows (Column); o_proj and down by input
// columns (Row, then all-reduced); the embedding and lm_head by vocabulary rows, each rank a
// contiguous slice (the last ones one row shorter when the vocabulary does not divide); norms
// (Qwen3's and Gemma 3's per-head q/k norms too) replicated. With fewer KV heads than ranks each
// rank holds a copy of the one KV head its query heads use.
struct ShardPlan {
  int rank = 0;
  int world = 1;
  Split split_for(const std::string& canonical_name) const;

  // Throws ember::Error when `cfg` cannot be split across `world` ranks, naming the flag and
  // what does not divide ("--tensor-parallel-size 3 does not divide 32 query heads").
  void check(const ModelConfig& cfg) const;
  // The rank's shapes: its query heads, its KV heads, its share of the MLP's intermediate size
  // and of the vocabulary (everything else as in `cfg`).
  ModelConfig local(const ModelConfig& cfg) const;
  // The first of the rank's KV heads in the checkpoint's numbering.
  int first_kv_head(const ModelConfig& cfg) const;
  // The rank's vocabulary rows [vocab_begin, vocab_end).
  int64_t vocab_begin(int64_t vocab) const { return vocab * rank / world; }
  int64_t vocab_end(int64_t vocab) const { return vocab * (rank + 1) / world; }
};

// Norm weights hold the factor the norm multiplies by: for Gemma, whose checkpoints store w of
// x·(1 + w), that is 1 + w in F32, made at load (as transformers computes it, in fp32).
struct LayerWeights {
  Tensor attn_norm;  // [H]
  Tensor qkv;        // [(nq + 2 nkv) * D, H]
  std::optional<Tensor> qkv_bias;  // [(nq + 2 nkv) * D]
  std::optional<Tensor> q_norm, k_norm;  // [D] (Qwen3, Gemma 3)
  Tensor o_proj;     // [H, nq * D]
  Tensor mlp_norm;   // [H]
  // Gemma's sandwich norms, on the attention output and the MLP output before each is added to
  // the residual.
  std::optional<Tensor> post_attn_norm, post_mlp_norm;  // [H]
  Tensor gate_up;    // [2 I, H]: gate rows, then up rows
  Tensor down;       // [H, I]
};

struct ModelWeights {
  Tensor embed;      // [V, H]
  std::vector<LayerWeights> layers;
  Tensor final_norm; // [H]
  Tensor lm_head;    // [V, H]; the embedding itself when tied
  Tensor inv_freq;   // F32 [D / 2], RoPE frequencies with the config's scaling applied
  // The sliding layers' own frequencies (Gemma 3's rope_local_base_freq, no scaling); when
  // absent every layer uses inv_freq.
  std::optional<Tensor> inv_freq_local;
  const Tensor& layer_inv_freq(const ModelConfig& cfg, int layer) const {
    return inv_freq_local && cfg.layer_is_sliding(layer) ? *inv_freq_local : inv_freq;
  }
};

// Checks presence, dtype and shape of every tensor the config needs, without uploading
// (`ember inspect`, and the first thing load_weights does). Reports tensors_checked.
void check_weights(const ModelConfig& cfg, const WeightFiles& files,
                   const ProgressFn& progress = {});

// Validates every tensor's presence, dtype and shape against the config (errors name the file
// and the tensor), then uploads through the backend.
ModelWeights load_weights(const ModelConfig& cfg, const WeightFiles& files, Backend& backend,
                          const ShardPlan& plan = {}, const ProgressFn& progress = {});

// Bytes of the checkpoint's tensors (in their file dtype) that rank `plan.rank` holds: what
// `ember inspect --tp N` shows per GPU. Throws as plan.check does.
size_t shard_weight_bytes(const ModelConfig& cfg, const WeightFiles& files, const ShardPlan& plan);

// RoPE inverse frequencies (length head_dim / 2) as Hugging Face computes them, including
// `rope_scaling` type llama3 and linear. `local`: the sliding layers' base (rope_local_theta)
// without scaling, as Gemma 3's local rotary embedding.
std::vector<float> rope_inv_freq(const ModelConfig& cfg, bool local = false);

// Uploads inv_freq (and inv_freq_local when the config has a local RoPE base).
void upload_rope(const ModelConfig& cfg, Backend& backend, ModelWeights& w);

// Gemma's norm weights as the factor they multiply by: 1 + w, in F32.
std::vector<float> norm_plus_one(const void* w, DType dtype, int64_t n);

}  // namespace ember
