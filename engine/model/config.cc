#include "engine/model/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/model/json_fields.h"

namespace ember {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

struct ArchName {
  Arch arch;
  const char* hf_name;
  const char* model_type;
};

constexpr ArchName kArchs[] = {
    {Arch::Llama, "LlamaForCausalLM", "llama"},
    {Arch::Mistral, "MistralForCausalLM", "mistral"},
    {Arch::Qwen2, "Qwen2ForCausalLM", "qwen2"},
    {Arch::Qwen3, "Qwen3ForCausalLM", "qwen3"},
    {Arch::Phi3, "Phi3ForCausalLM", "phi3"},
    {Arch::Gemma2, "Gemma2ForCausalLM", "gemma2"},
    {Arch::Gemma3, "Gemma3ForCausalLM", "gemma3_text"},
};

std::string supported_list() {
  std::string s;
  for (const auto& a : kArchs) {
    if (!s.empty()) s += ", ";
    s += a.hf_name;
  }
  return s;
}

Arch parse_arch(const json::Fields& f) {
  std::vector<std::string> names;
  if (auto e = f.find("architectures")) {
    if (e->type() != element_type::ARRAY) f.wrong_type("architectures", "an array", *e);
    for (element item : e->get_array()) {
      if (item.type() != element_type::STRING)
        f.wrong_type("architectures[]", "a string", item);
      names.emplace_back(std::string_view(item.get_string()));
    }
    for (const auto& n : names)
      for (const auto& a : kArchs)
        if (n == a.hf_name) return a.arch;
  } else if (auto mt = f.opt_string("model_type")) {
    for (const auto& a : kArchs)
      if (*mt == a.model_type) return a.arch;
    names.push_back("model_type " + *mt);
  }
  if (names.empty())
    fail("{}: no \"architectures\" (or \"model_type\"); supported: {}", f.source(),
         supported_list());
  std::string got;
  for (const auto& n : names) got += (got.empty() ? "" : ", ") + n;
  fail("{}: unsupported architecture {}; supported: {}", f.source(), got, supported_list());
}

// Token ids may be an integer, a list of integers or null.
std::vector<int> parse_token_ids(const json::Fields& f, std::string_view key) {
  std::vector<int> ids;
  auto e = f.find(key);
  if (!e) return ids;
  auto check = [&](element v) {
    auto i = json::as_int(v);
    if (!i) f.wrong_type(key, "an integer or a list of integers", v);
    if (*i < 0 || *i > INT32_MAX) fail("{}: {}={} is not a valid token id", f.source(), key, *i);
    ids.push_back(int(*i));
  };
  if (e->type() == element_type::ARRAY) {
    for (element v : e->get_array()) check(v);
  } else {
    check(*e);
  }
  return ids;
}

// One RoPE scaling object: {"rope_type" (or "type"): ..., "factor": ..., ...}.
RopeScaling parse_rope_object(const json::Fields& r);

RopeScaling parse_rope_scaling(const json::Fields& f) {
  auto e = f.find("rope_scaling");
  if (!e) return {};
  if (e->type() != element_type::OBJECT) f.wrong_type("rope_scaling", "an object or null", *e);
  return parse_rope_object(json::Fields(e->get_object(), f.source()));
}

RopeScaling parse_rope_object(const json::Fields& r) {
  RopeScaling rs;
  const json::Fields& f = r;  // errors name the same file
  // transformers renamed "type" to "rope_type"; either may be present.
  auto type = r.opt_string("rope_type");
  if (!type) type = r.opt_string("type");
  if (!type) fail("{}: rope_scaling has no \"rope_type\" (or \"type\")", f.source());
  auto factor = [&]() {
    auto v = r.opt_number("factor");
    if (!v) fail("{}: rope_scaling.factor is missing", f.source());
    if (!(*v >= 1.0)) fail("{}: rope_scaling.factor={} must be >= 1", f.source(), *v);
    return *v;
  };
  if (*type == "default") return rs;
  if (*type == "linear") {
    rs.type = RopeScaling::Type::Linear;
    rs.factor = factor();
  } else if (*type == "llama3") {
    rs.type = RopeScaling::Type::Llama3;
    rs.factor = factor();
    rs.low_freq_factor = r.opt_number("low_freq_factor").value_or(1.0);
    rs.high_freq_factor = r.opt_number("high_freq_factor").value_or(4.0);
    rs.original_max_position_embeddings =
        int(r.opt_int("original_max_position_embeddings").value_or(8192));
    if (!(rs.low_freq_factor > 0) || !(rs.high_freq_factor > rs.low_freq_factor))
      fail("{}: rope_scaling needs 0 < low_freq_factor={} < high_freq_factor={}", f.source(),
           rs.low_freq_factor, rs.high_freq_factor);
    if (rs.original_max_position_embeddings <= 0)
      fail("{}: rope_scaling.original_max_position_embeddings={} must be positive", f.source(),
           rs.original_max_position_embeddings);
  } else {
    fail("{}: rope_scaling type \"{}\" is not supported (supported: default, linear, llama3)",
         f.source(), *type);
  }
  return rs;
}

// transformers >= 5 writes RoPE as "rope_parameters": {"rope_type", "rope_theta", "factor", ...},
// or, where layer types differ (Gemma 3), one such object per layer type. It overrides the
// older top-level rope_theta / rope_scaling / rope_local_base_freq when present.
void apply_rope_parameters(const json::Fields& f, ModelConfig& c) {
  auto e = f.find("rope_parameters");
  if (!e) return;
  if (e->type() != element_type::OBJECT) f.wrong_type("rope_parameters", "an object", *e);
  json::Fields p(e->get_object(), f.source());
  auto sub = [&](const char* key) -> std::optional<json::Fields> {
    auto x = p.find(key);
    if (!x) return std::nullopt;
    if (x->type() != element_type::OBJECT)
      f.wrong_type(std::string("rope_parameters.") + key, "an object", *x);
    return json::Fields(x->get_object(), f.source());
  };
  const std::optional<json::Fields> full = sub("full_attention"), local = sub("sliding_attention");
  const json::Fields& global = full ? *full : p;
  if (auto t = global.opt_number("rope_theta")) c.rope_theta = *t;
  if (global.opt_string("rope_type") || global.opt_string("type"))
    c.rope_scaling = parse_rope_object(global);
  if (local)
    if (auto t = local->opt_number("rope_theta")) c.rope_local_theta = *t;
  if (!(c.rope_theta > 1.0))
    fail("{}: rope_parameters rope_theta={} must be > 1", f.source(), c.rope_theta);
}

int positive_int(const json::Fields& f, std::string_view key, std::optional<int64_t> v) {
  if (!v) fail("{}: {} is missing", f.source(), key);
  if (*v <= 0 || *v > INT32_MAX) fail("{}: {}={} must be a positive integer", f.source(), key, *v);
  return int(*v);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: read error", path);
  return ss.str();
}

simdjson::dom::object parse_object(simdjson::dom::parser& parser, std::string_view text,
                                   const std::string& source) {
  element root;
  if (auto err = parser.parse(text.data(), text.size()).get(root))
    fail("{}: invalid JSON: {}", source, simdjson::error_message(err));
  if (root.type() != element_type::OBJECT)
    fail("{}: top level must be a JSON object, got {}", source, json::type_name(root.type()));
  return root.get_object();
}

bool is_gemma(Arch a) { return a == Arch::Gemma2 || a == Arch::Gemma3; }

// Gemma names it hidden_activation (hidden_act is its older spelling); the others hidden_act.
Activation parse_activation(const json::Fields& f, Arch arch) {
  const char* key = "hidden_act";
  std::optional<std::string> act;
  if (is_gemma(arch) && (act = f.opt_string("hidden_activation"))) key = "hidden_activation";
  if (!act) act = f.opt_string("hidden_act");
  if (!act) return is_gemma(arch) ? Activation::GeluTanh : Activation::Silu;
  if (*act == "silu" || *act == "swish") return Activation::Silu;
  if (*act == "gelu_pytorch_tanh" || *act == "gelu_tanh") return Activation::GeluTanh;
  fail("{}: {}=\"{}\" is not supported (silu, gelu_pytorch_tanh)", f.source(), key, *act);
}

// A nullable positive number (Gemma's soft-capping values): 0 when absent or null.
double opt_positive(const json::Fields& f, std::string_view key, double dflt) {
  element e;
  if (f.object()[key].get(e) == simdjson::SUCCESS && e.is_null()) return 0;
  const double v = f.opt_number(key).value_or(dflt);
  if (!(v >= 0)) fail("{}: {}={} must be positive or null", f.source(), key, v);
  return v;
}

// Gemma 2 and 3: defaults as transformers' Gemma2Config / Gemma3TextConfig.
void parse_gemma(const json::Fields& f, ModelConfig& c) {
  const std::string& src = f.source();
  const bool g3 = c.arch == Arch::Gemma3;
  c.norm_plus_one = c.sandwich_norms = c.scale_embedding = true;
  c.query_pre_attn_scalar = f.opt_number("query_pre_attn_scalar").value_or(256);
  if (!(c.query_pre_attn_scalar > 0))
    fail("{}: query_pre_attn_scalar={} must be positive", src, c.query_pre_attn_scalar);
  c.attn_logit_softcap = opt_positive(f, "attn_logit_softcapping", g3 ? 0 : 50.0);
  c.final_logit_softcap = opt_positive(f, "final_logit_softcapping", g3 ? 0 : 30.0);
  if (auto sw = f.opt_int("sliding_window")) {
    if (*sw < 0 || *sw > INT32_MAX) fail("{}: sliding_window={} must be >= 0", src, *sw);
    c.sliding_window = int(*sw);
  } else {
    c.sliding_window = int(opt_positive(f, "sliding_window", 4096));  // null: none
  }
  // Which layers slide: layer_types when given, else every pattern-th layer is global
  // (Gemma 2 alternates; Gemma 3's sliding_window_pattern defaults to 6).
  c.sliding_layers.assign(size_t(c.num_layers), false);
  if (auto lt = f.find("layer_types")) {
    if (lt->type() != element_type::ARRAY) f.wrong_type("layer_types", "an array", *lt);
    size_t i = 0;
    for (element e : lt->get_array()) {
      if (e.type() != element_type::STRING) f.wrong_type("layer_types[]", "a string", e);
      const std::string_view s = e.get_string();
      if (s != "sliding_attention" && s != "full_attention")
        fail("{}: layer_types[{}]=\"{}\" is not sliding_attention or full_attention", src, i, s);
      if (i < c.sliding_layers.size()) c.sliding_layers[i] = s == "sliding_attention";
      ++i;
    }
    if (i != c.sliding_layers.size())
      fail("{}: layer_types has {} entries for num_hidden_layers={}", src, i, c.num_layers);
  } else {
    const int64_t pattern = g3 ? f.opt_int("sliding_window_pattern").value_or(6) : 2;
    if (pattern < 1) fail("{}: sliding_window_pattern={} must be positive", src, pattern);
    for (int i = 0; i < c.num_layers; ++i) c.sliding_layers[size_t(i)] = (i + 1) % pattern != 0;
  }
  if (g3) {
    c.rope_theta = f.opt_number("rope_theta").value_or(1e6);
    c.rope_local_theta = f.opt_number("rope_local_base_freq").value_or(10000.0);
    if (!(c.rope_local_theta > 1.0))
      fail("{}: rope_local_base_freq={} must be > 1", src, c.rope_local_theta);
  }
}

}  // namespace

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : kArchs) v.emplace_back(a.hf_name);
    return v;
  }();
  return names;
}

std::string_view arch_hf_name(Arch a) {
  for (const auto& x : kArchs)
    if (x.arch == a) return x.hf_name;
  return "?";
}

ModelConfig parse_model_config_json(std::string_view text, const std::string& src) {
  simdjson::dom::parser parser;
  json::Fields f(parse_object(parser, text, src), src);
  ModelConfig c;
  c.arch = parse_arch(f);

  c.hidden_size = positive_int(f, "hidden_size", f.opt_int("hidden_size"));
  c.intermediate_size = positive_int(f, "intermediate_size", f.opt_int("intermediate_size"));
  c.num_layers = positive_int(f, "num_hidden_layers", f.opt_int("num_hidden_layers"));
  c.num_heads = positive_int(f, "num_attention_heads", f.opt_int("num_attention_heads"));
  c.num_kv_heads = f.find("num_key_value_heads")
                       ? positive_int(f, "num_key_value_heads", f.opt_int("num_key_value_heads"))
                       : c.num_heads;
  c.vocab_size = positive_int(f, "vocab_size", f.opt_int("vocab_size"));
  c.max_position_embeddings =
      positive_int(f, "max_position_embeddings",
                   f.opt_int("max_position_embeddings").value_or(c.arch == Arch::Phi3 ? 4096
                                                                                      : 2048));
  if (c.num_heads % c.num_kv_heads != 0)
    fail("{}: num_key_value_heads={} must divide num_attention_heads={}", src, c.num_kv_heads,
         c.num_heads);

  // Qwen3 and Gemma always read head_dim from their config (defaults 128 and 256, as
  // transformers' configs); the others fall back to hidden_size / num_attention_heads.
  if (auto hd = f.opt_int("head_dim")) {
    c.head_dim = positive_int(f, "head_dim", hd);
  } else if (c.arch == Arch::Qwen3) {
    c.head_dim = 128;
  } else if (is_gemma(c.arch)) {
    c.head_dim = 256;
  } else {
    if (c.hidden_size % c.num_heads != 0)
      fail("{}: hidden_size={} is not divisible by num_attention_heads={} (and no head_dim)", src,
           c.hidden_size, c.num_heads);
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0) fail("{}: head_dim={} must be even for RoPE", src, c.head_dim);
  if (c.arch == Arch::Phi3 && c.head_dim * c.num_heads != c.hidden_size)
    fail("{}: head_dim={} x num_attention_heads={} must equal hidden_size={} for Phi3", src,
         c.head_dim, c.num_heads, c.hidden_size);

  c.rms_norm_eps = f.opt_number("rms_norm_eps").value_or(c.arch == Arch::Phi3 ? 1e-5 : 1e-6);
  if (!(c.rms_norm_eps > 0) || c.rms_norm_eps > 1)
    fail("{}: rms_norm_eps={} must be in (0, 1]", src, c.rms_norm_eps);
  c.rope_theta = f.opt_number("rope_theta").value_or(10000.0);
  if (!(c.rope_theta > 1.0)) fail("{}: rope_theta={} must be > 1", src, c.rope_theta);
  c.rope_scaling = parse_rope_scaling(f);
  if (auto prf = f.opt_number("partial_rotary_factor"); prf && *prf != 1.0)
    fail("{}: partial_rotary_factor={} is not supported (only full rotary embeddings)", src,
         *prf);

  c.hidden_act = parse_activation(f, c.arch);

  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings").value_or(false);
  c.qkv_bias = c.arch == Arch::Qwen2 || f.opt_bool("attention_bias").value_or(false);
  if (c.arch == Arch::Phi3 && c.qkv_bias)
    fail("{}: attention_bias=true is not supported for Phi3 (its qkv_proj has no bias)", src);
  c.mlp_bias = f.opt_bool("mlp_bias").value_or(false);
  if (c.mlp_bias) fail("{}: mlp_bias=true is not supported", src);
  c.qk_norm = c.arch == Arch::Qwen3 || c.arch == Arch::Gemma3;

  // Mistral and Phi3 apply sliding_window to every layer (Llama ignores the key); Qwen applies
  // it only to some layers (use_sliding_window, max_window_layers), which we do not model.
  if (is_gemma(c.arch)) {
    parse_gemma(f, c);
  } else if (c.arch == Arch::Qwen2 || c.arch == Arch::Qwen3) {
    if (f.opt_bool("use_sliding_window").value_or(false))
      fail("{}: use_sliding_window=true is not supported for {}", src, arch_hf_name(c.arch));
  } else if (auto sw = f.opt_int("sliding_window");
             sw && (c.arch == Arch::Mistral || c.arch == Arch::Phi3)) {
    if (*sw < 0 || *sw > INT32_MAX) fail("{}: sliding_window={} must be >= 0", src, *sw);
    c.sliding_window = int(*sw);
  }

  apply_rope_parameters(f, c);

  // transformers >= 4.56 writes "dtype"; older ones "torch_dtype".
  auto dt = f.opt_string("torch_dtype");
  if (!dt) dt = f.opt_string("dtype");
  if (dt) {
    auto t = dtype_from_torch_name(*dt);
    if (!t) fail("{}: torch_dtype=\"{}\" is not supported (bfloat16, float16, float32)", src, *dt);
    c.dtype = *t;
  }

  auto bos = parse_token_ids(f, "bos_token_id");
  if (bos.size() > 1) fail("{}: bos_token_id must be a single id", src);
  if (!bos.empty()) c.bos_token_id = bos[0];
  c.eos_token_ids = parse_token_ids(f, "eos_token_id");
  for (int id : c.eos_token_ids)
    if (id >= c.vocab_size)
      fail("{}: eos_token_id={} is outside vocab_size={}", src, id, c.vocab_size);
  if (c.bos_token_id >= c.vocab_size)
    fail("{}: bos_token_id={} is outside vocab_size={}", src, c.bos_token_id, c.vocab_size);
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const std::string cfg_path = (fs::path(model_dir) / "config.json").string();
  if (!fs::exists(cfg_path)) fail("{}: not found (is {} a model directory?)", cfg_path, model_dir);
  ModelConfig c = parse_model_config_json(read_file(cfg_path), cfg_path);

  const std::string gen_path = (fs::path(model_dir) / "generation_config.json").string();
  if (fs::exists(gen_path)) {
    std::string text = read_file(gen_path);
    simdjson::dom::parser parser;
    json::Fields g(parse_object(parser, text, gen_path), gen_path);
    auto eos = parse_token_ids(g, "eos_token_id");
    for (int id : eos)
      if (id >= c.vocab_size)
        fail("{}: eos_token_id={} is outside vocab_size={}", gen_path, id, c.vocab_size);
    if (!eos.empty()) c.eos_token_ids = eos;
    auto bos = parse_token_ids(g, "bos_token_id");
    if (bos.size() > 1) fail("{}: bos_token_id must be a single id", gen_path);
    if (!bos.empty()) {
      if (bos[0] >= c.vocab_size)
        fail("{}: bos_token_id={} is outside vocab_size={}", gen_path, bos[0], c.vocab_size);
      c.bos_token_id = bos[0];
    }
  }
  return c;
}

}  // namespace ember
