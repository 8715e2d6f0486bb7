// Random model folders. Weights come from our own PRNG and add/multiply arithmetic only
// (no std:: distributions, no libm), so the same options give the same bytes everywhere.
// GCC never contracts a*b+c into an FMA in ISO C++ mode; clang needs to be told.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "engine/model/random_model.h"

#include <bit>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/core/json_text.h"
#include "engine/model/safetensors.h"

namespace ember {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Each tensor has its own stream (seed, name), so adding a tensor does not shift the others.
class Stream {
 public:
  Stream(uint64_t seed, std::string_view name) {
    uint64_t s = seed;
    state_ = splitmix64(s) ^ fnv1a(name);
  }
  // Uniform in [0, 1) with 53 random bits: exact in a double.
  double uniform() { return double(splitmix64(state_) >> 11) * 0x1.0p-53; }
  // Irwin-Hall of 4 uniforms rescaled to mean 0, variance 1: normal-ish, bounded by +-3.47.
  double normalish() {
    const double s = uniform() + uniform() + uniform() + uniform();
    return (s - 2.0) * 1.7320508075688772;
  }

 private:
  uint64_t state_;
};

// NormOffset: a norm weight w of x·(1 + w) (Gemma), near 0.
enum class Init { Matrix, Norm, NormOffset, Bias };

std::vector<uint8_t> random_bytes(const std::string& name, int64_t numel, Init init, DType dtype,
                                  uint64_t seed) {
  Stream rng(seed, name);
  const size_t es = dtype_size(dtype);
  std::vector<uint8_t> out(size_t(numel) * es);
  for (int64_t i = 0; i < numel; ++i) {
    const double n = rng.normalish();
    double v = 0;
    switch (init) {
      case Init::Matrix: v = 0.02 * n; break;
      // Norm weights near 1 with enough spread that a skipped or misapplied norm shows.
      case Init::Norm: v = 0.1 * n; v = v + 1.0; break;
      case Init::NormOffset: v = 0.1 * n; break;
      case Init::Bias: v = 0.05 * n; break;
    }
    const float f = float(v);
    uint32_t bits = std::bit_cast<uint32_t>(f);
    if (dtype == DType::BF16) bits = f32_to_bf16(f);
    if (dtype == DType::F16) bits = f32_to_f16(f);
    for (size_t b = 0; b < es; ++b) out[size_t(i) * es + b] = uint8_t(bits >> (8 * b));  // LE
  }
  return out;
}

struct ArchInfo {
  const char* short_name;
  const char* model_type;
};

ArchInfo arch_info(Arch a) {
  switch (a) {
    case Arch::Llama: return {"llama", "llama"};
    case Arch::Mistral: return {"mistral", "mistral"};
    case Arch::Qwen2: return {"qwen2", "qwen2"};
    case Arch::Qwen3: return {"qwen3", "qwen3"};
    case Arch::Phi3: return {"phi3", "phi3"};
    case Arch::Gemma2: return {"gemma2", "gemma2"};
    case Arch::Gemma3: return {"gemma3", "gemma3_text"};
  }
  return {"?", "?"};
}

constexpr Arch kAllArchs[] = {Arch::Llama,  Arch::Mistral, Arch::Qwen2, Arch::Qwen3,
                              Arch::Phi3,   Arch::Gemma2,  Arch::Gemma3};

bool gemma(Arch a) { return a == Arch::Gemma2 || a == Arch::Gemma3; }

// Qwen3 and Gemma 3 keep head_dim apart from hidden/heads (as the real ones do: Qwen3-0.6B has
// 16 x 128 > 1024, Gemma-3-270M 4 x 256 > 640), so the random ones exercise an o_proj that is
// not square.
int head_dim_of(const RandomModelOptions& o) {
  return o.arch == Arch::Qwen3 || o.arch == Arch::Gemma3 ? 2 * (o.hidden / o.heads)
                                                         : o.hidden / o.heads;
}

bool tied(Arch a) { return a == Arch::Llama || a == Arch::Qwen3 || gemma(a); }

// Gemma's softmax scale comes from query_pre_attn_scalar, which real Gemma 2 27B and Gemma 3
// 27B set apart from head_dim; the random ones do too, so a scale taken from head_dim shows.
int query_pre_attn_scalar_of(const RandomModelOptions& o) { return head_dim_of(o) + 8; }

std::string torch_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    default: return "bfloat16";
  }
}

std::string config_json(const RandomModelOptions& o, const RandomTokenizerIds& ids) {
  const Arch a = o.arch;
  std::string s = "{\n";
  auto kv = [&](const char* k, const std::string& v) {
    s += fmt::format("  \"{}\": {},\n", k, v);
  };
  kv("architectures", fmt::format("[\"{}\"]", arch_hf_name(a)));
  kv("model_type", json::quote(arch_info(a).model_type));
  kv("hidden_size", std::to_string(o.hidden));
  kv("intermediate_size", std::to_string(o.intermediate));
  kv("num_hidden_layers", std::to_string(o.layers));
  kv("num_attention_heads", std::to_string(o.heads));
  kv("num_key_value_heads", std::to_string(o.kv_heads));
  if (a == Arch::Qwen3 || gemma(a)) kv("head_dim", std::to_string(head_dim_of(o)));
  kv("vocab_size", std::to_string(o.vocab));
  if (gemma(a)) {
    kv("hidden_activation", "\"gelu_pytorch_tanh\"");
    kv("hidden_act", "\"gelu_pytorch_tanh\"");
    kv("query_pre_attn_scalar", std::to_string(query_pre_attn_scalar_of(o)));
    // Alternating sliding and global layers, so a 2-layer model has one of each (real Gemma 3
    // has five sliding layers per global one).
    std::string types;
    for (int i = 0; i < o.layers; ++i)
      types += fmt::format("{}\"{}\"", i ? ", " : "",
                           (i + 1) % 2 ? "sliding_attention" : "full_attention");
    kv("layer_types", "[" + types + "]");
  } else {
    kv("hidden_act", "\"silu\"");
  }
  switch (a) {
    case Arch::Llama:
      kv("max_position_embeddings", "131072");
      kv("rms_norm_eps", "1e-05");
      kv("rope_theta", "500000.0");
      kv("rope_scaling",
         "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
         "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}");
      kv("attention_bias", "false");
      kv("mlp_bias", "false");
      break;
    case Arch::Mistral:
      kv("max_position_embeddings", "32768");
      kv("rms_norm_eps", "1e-05");
      kv("rope_theta", "1000000.0");
      kv("sliding_window", "null");
      break;
    case Arch::Qwen2:
      kv("max_position_embeddings", "32768");
      kv("rms_norm_eps", "1e-06");
      kv("rope_theta", "1000000.0");
      kv("use_sliding_window", "false");
      break;
    case Arch::Qwen3:
      kv("max_position_embeddings", "40960");
      kv("rms_norm_eps", "1e-06");
      kv("rope_theta", "1000000.0");
      kv("attention_bias", "false");
      kv("use_sliding_window", "false");
      break;
    case Arch::Phi3:
      kv("max_position_embeddings", "4096");
      kv("original_max_position_embeddings", "4096");
      kv("rms_norm_eps", "1e-05");
      kv("rope_theta", "10000.0");
      kv("rope_scaling", "null");
      kv("sliding_window", "null");
      break;
    case Arch::Gemma2:
      kv("max_position_embeddings", "8192");
      kv("rms_norm_eps", "1e-06");
      kv("rope_theta", "10000.0");
      kv("sliding_window", "4096");
      kv("attn_logit_softcapping", "50.0");
      kv("final_logit_softcapping", "30.0");
      kv("attention_bias", "false");
      break;
    case Arch::Gemma3:
      // Global layers with linear RoPE scaling and local ones with their own base, as the 4B+
      // models: a layer that takes the wrong frequencies shows.
      kv("max_position_embeddings", "131072");
      kv("rms_norm_eps", "1e-06");
      kv("rope_theta", "1000000.0");
      kv("rope_local_base_freq", "10000.0");
      kv("rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 8.0}");
      kv("sliding_window", "512");
      kv("attn_logit_softcapping", "null");
      kv("final_logit_softcapping", "null");
      kv("attention_bias", "false");
      break;
  }
  kv("tie_word_embeddings", tied(a) ? "true" : "false");
  kv("initializer_range", "0.02");
  kv("attention_dropout", "0.0");
  kv("use_cache", "true");
  kv("bos_token_id", std::to_string(ids.endoftext));
  kv("eos_token_id", std::to_string(ids.im_end));
  // transformers' Phi3Config defaults pad_token_id to 32000, outside a small vocab.
  kv("pad_token_id", std::to_string(ids.endoftext));
  s += fmt::format("  \"torch_dtype\": \"{}\"\n}}\n", torch_dtype_name(o.dtype));
  return s;
}

std::string generation_config_json(const RandomTokenizerIds& ids) {
  return fmt::format(
      "{{\n  \"bos_token_id\": {},\n  \"eos_token_id\": [{}, {}],\n  \"pad_token_id\": {},\n"
      "  \"do_sample\": false\n}}\n",
      ids.endoftext, ids.im_end, ids.endoftext, ids.endoftext);
}

std::vector<TensorToWrite> random_tensors(const RandomModelOptions& o) {
  const int64_t H = o.hidden, I = o.intermediate, V = o.vocab, D = head_dim_of(o);
  const int64_t Q = o.heads * D, KV = o.kv_heads * D;
  std::vector<TensorToWrite> ts;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, Init init) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    ts.push_back({name, o.dtype, shape, random_bytes(name, n, init, o.dtype, o.seed)});
  };
  const Init norm = gemma(o.arch) ? Init::NormOffset : Init::Norm;
  add("model.embed_tokens.weight", {V, H}, Init::Matrix);
  for (int i = 0; i < o.layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    add(p + "input_layernorm.weight", {H}, norm);
    if (o.arch == Arch::Phi3) {
      add(p + "self_attn.qkv_proj.weight", {Q + 2 * KV, H}, Init::Matrix);
    } else {
      add(p + "self_attn.q_proj.weight", {Q, H}, Init::Matrix);
      add(p + "self_attn.k_proj.weight", {KV, H}, Init::Matrix);
      add(p + "self_attn.v_proj.weight", {KV, H}, Init::Matrix);
      if (o.arch == Arch::Qwen2) {
        add(p + "self_attn.q_proj.bias", {Q}, Init::Bias);
        add(p + "self_attn.k_proj.bias", {KV}, Init::Bias);
        add(p + "self_attn.v_proj.bias", {KV}, Init::Bias);
      }
    }
    if (o.arch == Arch::Qwen3 || o.arch == Arch::Gemma3) {
      add(p + "self_attn.q_norm.weight", {D}, norm);
      add(p + "self_attn.k_norm.weight", {D}, norm);
    }
    add(p + "self_attn.o_proj.weight", {H, Q}, Init::Matrix);
    add(p + "post_attention_layernorm.weight", {H}, norm);
    if (gemma(o.arch)) {
      add(p + "pre_feedforward_layernorm.weight", {H}, norm);
      add(p + "post_feedforward_layernorm.weight", {H}, norm);
    }
    if (o.arch == Arch::Phi3) {
      add(p + "mlp.gate_up_proj.weight", {2 * I, H}, Init::Matrix);
    } else {
      add(p + "mlp.gate_proj.weight", {I, H}, Init::Matrix);
      add(p + "mlp.up_proj.weight", {I, H}, Init::Matrix);
    }
    add(p + "mlp.down_proj.weight", {H, I}, Init::Matrix);
  }
  add("model.norm.weight", {H}, norm);
  if (!tied(o.arch)) add("lm_head.weight", {V, H}, Init::Matrix);
  return ts;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) fail("{}: write failed", path.string());
}

}  // namespace

Arch parse_arch_name(std::string_view name) {
  for (Arch a : kAllArchs)
    if (name == arch_info(a).short_name || name == arch_hf_name(a)) return a;
  fail("unknown architecture \"{}\" (expected llama, mistral, qwen2, qwen3, phi3, gemma2 or "
       "gemma3)",
       name);
}

void validate_random_model_options(const RandomModelOptions& o) {
  auto positive = [](const char* what, int v) {
    if (v <= 0) fail("make-model: --{} must be positive, got {}", what, v);
  };
  positive("hidden", o.hidden);
  positive("layers", o.layers);
  positive("heads", o.heads);
  positive("kv-heads", o.kv_heads);
  positive("intermediate", o.intermediate);
  positive("vocab", o.vocab);
  if (o.hidden % o.heads != 0)
    fail("make-model: --heads {} does not divide --hidden {}", o.heads, o.hidden);
  if (o.heads % o.kv_heads != 0)
    fail("make-model: --kv-heads {} does not divide --heads {}", o.kv_heads, o.heads);
  if ((o.hidden / o.heads) % 2 != 0)
    fail("make-model: head dim --hidden/--heads = {} must be even for RoPE", o.hidden / o.heads);
  if (o.vocab < kRandomTokenizerMinVocab)
    fail("make-model: --vocab {} is too small: the tokenizer needs 256 byte tokens and 3 special "
         "tokens ({} ids)",
         o.vocab, kRandomTokenizerMinVocab);
  if (o.dtype != DType::BF16 && o.dtype != DType::F16 && o.dtype != DType::F32)
    fail("make-model: dtype {} is not supported (bf16, f16, f32)", dtype_name(o.dtype));
  // Keep accidental huge requests from filling the disk: 2^31 elements is already 4 GB in bf16.
  const int64_t biggest = std::max(int64_t(o.vocab) * o.hidden, int64_t(o.intermediate) * o.hidden);
  if (biggest > (int64_t(1) << 31))
    fail("make-model: a {}x{} tensor is larger than a random test model should be", o.vocab,
         o.hidden);
}

void write_random_model(const RandomModelOptions& o, const std::string& dir) {
  validate_random_model_options(o);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("{}: cannot create directory: {}", dir, ec.message());
  const RandomTokenizerIds ids = random_tokenizer_ids(o.vocab);
  write_text(fs::path(dir) / "config.json", config_json(o, ids));
  write_text(fs::path(dir) / "generation_config.json", generation_config_json(ids));
  write_safetensors((fs::path(dir) / "model.safetensors").string(), random_tensors(o),
                    {{"format", "pt"}});
  write_random_tokenizer(o.vocab, dir);
}

}  // namespace ember
