#pragma once
// The BERT / MPNet encoder's forward pass, written against the backend's op set: embeddings
// (word + absolute position [+ token type 0]) and LayerNorm, then post-LN layers of
// bidirectional attention (MPNet adds its relative position bias) and an exact-GELU MLP.
// Sequences are packed without padding, so no attention mask is needed.
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/encoder/encoder_config.h"
#include "engine/model/backend.h"
#include "engine/model/safetensors.h"

namespace ember {

class EncoderModel {
 public:
  // Loads DIR/model.safetensors (or its shards) onto `be`, which must outlive the model.
  EncoderModel(const EncoderConfig& cfg, const std::string& dir, Backend& be);

  // The last hidden states of each sequence, packed: [sum of lengths, hidden] row-major on the
  // host. Every id must be below the vocabulary size and every sequence at most
  // cfg.max_seq_length long (callers truncate).
  std::vector<float> forward(const std::vector<std::vector<int32_t>>& seqs);

  const EncoderConfig& config() const { return cfg_; }

 private:
  struct Layer {
    Tensor qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, up_w, up_b, down_w, down_b, ln2_w, ln2_b;
  };
  EncoderConfig cfg_;
  Backend& be_;
  WeightFiles files_;  // the mapping the borrowed weights point into
  Tensor word_, pos_, emb_ln_w_, emb_ln_b_;
  std::vector<Layer> layers_;
  std::vector<float> rel_bias_weights_;  // MPNet: [num_buckets, n_heads]
};

}  // namespace ember
