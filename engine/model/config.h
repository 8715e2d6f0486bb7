#pragma once
// ModelConfig: everything the transformer needs from a Hugging Face config.json (and
// generation_config.json), validated on load.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/dtype.h"

namespace ember {

enum class Arch { Llama, Mistral, Qwen2, Qwen3, Phi3, Gemma2, Gemma3 };

// The MLP's gate activation: SiLU, or GELU with the tanh approximation (Gemma's
// gelu_pytorch_tanh).
enum class Activation { Silu, GeluTanh };

// The config.json "architectures" names we load, in the order error messages list them.
const std::vector<std::string>& supported_architectures();
std::string_view arch_hf_name(Arch a);  // "LlamaForCausalLM", ...

struct RopeScaling {
  enum class Type { None, Linear, Llama3 };
  Type type = Type::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // config "head_dim" or hidden_size / num_heads
  int vocab_size = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 (or config "attention_bias")
  bool mlp_bias = false;  // config "mlp_bias" (Llama)
  bool qk_norm = false;   // Qwen3: RMSNorm over each q and k head before RoPE
  int sliding_window = 0;  // 0: none. Mistral/Qwen may set one; attention honours it.
  // Layers that use sliding_window; empty: every layer does (Mistral). Gemma interleaves
  // sliding layers with global ones (layer_types).
  std::vector<bool> sliding_layers;
  Activation hidden_act = Activation::Silu;

  // Gemma. Its RMSNorm scales by (1 + w); it normalises the output of attention and of the MLP
  // before each is added to the residual ("sandwich" norms); it scales the embedding by
  // sqrt(hidden_size); its softmax scale is query_pre_attn_scalar^-0.5.
  bool norm_plus_one = false;
  bool sandwich_norms = false;
  bool scale_embedding = false;
  double query_pre_attn_scalar = 0;  // 0: head_dim
  double attn_logit_softcap = 0;     // 0: none; else scores = cap * tanh(scores / cap) (Gemma 2)
  double final_logit_softcap = 0;    // 0: none; the same on the logits (Gemma 2)
  double rope_local_theta = 0;       // 0: rope_theta; the sliding layers' RoPE base (Gemma 3)
  DType dtype = DType::BF16;  // config "torch_dtype"
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;  // config.json, then generation_config.json overrides

  bool layer_is_sliding(int layer) const {
    return sliding_window > 0 && (sliding_layers.empty() || sliding_layers[size_t(layer)]);
  }
  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  // Bytes of K and V for one token across all layers.
  int64_t kv_bytes_per_token(DType kv_dtype) const {
    return int64_t(2) * num_layers * num_kv_heads * head_dim * int64_t(dtype_size(kv_dtype));
  }
};

// Parses and validates config.json; errors name the file and the key ("config.json:
// num_key_value_heads=0 must divide num_attention_heads=32").
ModelConfig parse_model_config_json(std::string_view json, const std::string& source_name);
// Reads DIR/config.json and, when present, DIR/generation_config.json.
ModelConfig load_model_config(const std::string& model_dir);

}  // namespace ember
