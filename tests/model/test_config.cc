#include "engine/model/config.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/model/weights.h"
#include "tests/test_support.h"

namespace ember {
namespace {

using ::testing::HasSubstr;

ModelConfig parse(const std::string& json) { return parse_model_config_json(json, "config.json"); }

// Parsing `json` fails with a message holding every one of `parts`.
void expect_error(const std::string& json, std::initializer_list<std::string> parts) {
  try {
    parse(json);
    ADD_FAILURE() << "accepted: " << json;
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_THAT(e.what(), HasSubstr(p)) << json;
  }
}

// Llama-3.1-8B-Instruct's config.json, trimmed of keys we ignore.
const char* kLlama31 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096,
  "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "vocab_size": 128256})";

// Replaces the first occurrence of `from` in `s`.
std::string with(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

TEST(Config, Llama31) {
  ModelConfig c = parse(kLlama31);
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_layers, 32);
  EXPECT_EQ(c.num_heads, 32);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
  EXPECT_EQ(c.kv_bytes_per_token(DType::BF16), 128 * 1024);  // the design note's number
}

TEST(Config, Llama2AndLinearScaling) {
  ModelConfig c = parse(R"({"architectures":["LlamaForCausalLM"],"hidden_size":4096,
    "intermediate_size":11008,"num_attention_heads":32,"num_hidden_layers":32,
    "max_position_embeddings":4096,"rms_norm_eps":1e-05,"vocab_size":32000,
    "bos_token_id":1,"eos_token_id":2,"rope_scaling":null,"torch_dtype":"float16"})");
  EXPECT_EQ(c.num_kv_heads, 32);  // absent: same as num_attention_heads
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::None);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.dtype, DType::F16);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});

  ModelConfig lin = parse(with(kLlama31, R"("rope_scaling": {)",
                               R"("rope_scaling": {"type": "linear", "factor": 2.0}, "x": {)"));
  EXPECT_EQ(lin.rope_scaling.type, RopeScaling::Type::Linear);
  EXPECT_DOUBLE_EQ(lin.rope_scaling.factor, 2.0);
}

TEST(Config, MistralSlidingWindow) {
  const std::string base = R"({"architectures":["MistralForCausalLM"],"hidden_size":4096,
    "intermediate_size":14336,"num_attention_heads":32,"num_hidden_layers":32,
    "num_key_value_heads":8,"max_position_embeddings":32768,"vocab_size":32768,
    "rope_theta":1000000.0,"sliding_window":SW,"tie_word_embeddings":false})";
  EXPECT_EQ(parse(with(base, "SW", "null")).sliding_window, 0);
  ModelConfig c = parse(with(base, "SW", "4096"));
  EXPECT_EQ(c.arch, Arch::Mistral);
  EXPECT_EQ(c.sliding_window, 4096);
  expect_error(with(base, "SW", "-1"), {"config.json", "sliding_window=-1"});
}

TEST(Config, Qwen2AlwaysHasQkvBias) {
  const std::string base = R"({"architectures":["Qwen2ForCausalLM"],"hidden_size":896,
    "intermediate_size":4864,"num_attention_heads":14,"num_hidden_layers":24,
    "num_key_value_heads":2,"max_position_embeddings":32768,"vocab_size":151936,
    "rope_theta":1000000.0,"sliding_window":32768,"use_sliding_window":USW,
    "tie_word_embeddings":true,"eos_token_id":151645,"bos_token_id":null})";
  ModelConfig c = parse(with(base, "USW", "false"));
  EXPECT_EQ(c.arch, Arch::Qwen2);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window=false: the window is not applied
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_TRUE(c.tie_word_embeddings);
  expect_error(with(base, "USW", "true"), {"config.json", "use_sliding_window"});
}

TEST(Config, Qwen3HeadDimFromConfig) {
  ModelConfig c = parse(R"({"architectures":["Qwen3ForCausalLM"],"hidden_size":1024,
    "head_dim":128,"intermediate_size":3072,"num_attention_heads":16,"num_hidden_layers":28,
    "num_key_value_heads":8,"max_position_embeddings":40960,"vocab_size":151936,
    "rope_theta":1000000,"attention_bias":false,"rms_norm_eps":1e-06,"tie_word_embeddings":true})");
  EXPECT_EQ(c.arch, Arch::Qwen3);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 2048);  // larger than hidden_size: o_proj is [1024, 2048]
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);  // an integer in the JSON
}

const char* kPhi3 = R"({"architectures":["Phi3ForCausalLM"],"hidden_size":3072,
    "intermediate_size":8192,"num_attention_heads":32,"num_hidden_layers":32,
    "num_key_value_heads":32,"max_position_embeddings":4096,"vocab_size":32064,
    "rope_scaling":null,"sliding_window":2047,"bos_token_id":1,"eos_token_id":32000,
    "rms_norm_eps":1e-05,"torch_dtype":"bfloat16"})";

TEST(Config, RopeParametersOfTransformers5) {
  ModelConfig c = parse(with(kLlama31, R"("rope_theta": 500000.0,)",
                             R"("rope_parameters": {"rope_type": "default",)"
                             R"( "rope_theta": 250000.0},)"));
  EXPECT_DOUBLE_EQ(c.rope_theta, 2.5e5);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::None);  // the old rope_scaling yields
  expect_error(with(kLlama31, R"("rope_theta": 500000.0,)", R"("rope_parameters": 3,)"),
               {"config.json", "rope_parameters"});
}

TEST(Config, Phi3) {
  ModelConfig c = parse(kPhi3);
  EXPECT_EQ(c.arch, Arch::Phi3);
  EXPECT_EQ(c.head_dim, 96);
  EXPECT_EQ(c.sliding_window, 2047);
  EXPECT_FALSE(c.qkv_bias);
}

// google/gemma-2-2b-it's config.json (its keys and values).
const char* kGemma2 = R"({"architectures":["Gemma2ForCausalLM"],"attention_bias":false,
    "attn_logit_softcapping":50.0,"bos_token_id":2,"cache_implementation":"hybrid",
    "eos_token_id":[1,107],"final_logit_softcapping":30.0,"head_dim":256,
    "hidden_act":"gelu_pytorch_tanh","hidden_activation":"gelu_pytorch_tanh","hidden_size":2304,
    "intermediate_size":9216,"max_position_embeddings":8192,"model_type":"gemma2",
    "num_attention_heads":8,"num_hidden_layers":26,"num_key_value_heads":4,"pad_token_id":0,
    "query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_theta":10000.0,
    "sliding_window":4096,"torch_dtype":"float32","vocab_size":256000})";

TEST(Config, Gemma2) {
  ModelConfig c = parse(kGemma2);
  EXPECT_EQ(c.arch, Arch::Gemma2);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.q_dim(), 2048);  // not hidden_size
  EXPECT_EQ(c.hidden_act, Activation::GeluTanh);
  EXPECT_TRUE(c.norm_plus_one && c.sandwich_norms && c.scale_embedding);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, 256);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcap, 50);
  EXPECT_DOUBLE_EQ(c.final_logit_softcap, 30);
  EXPECT_EQ(c.sliding_window, 4096);
  // Even layers slide, odd ones are global (transformers' Gemma2Config default).
  EXPECT_TRUE(c.layer_is_sliding(0));
  EXPECT_FALSE(c.layer_is_sliding(1));
  EXPECT_TRUE(c.layer_is_sliding(24));
  EXPECT_FALSE(c.layer_is_sliding(25));
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{1, 107}));
  // Soft-capping switched off with null.
  ModelConfig n = parse(with(kGemma2, R"("final_logit_softcapping":30.0)",
                             R"("final_logit_softcapping":null)"));
  EXPECT_DOUBLE_EQ(n.final_logit_softcap, 0);
  EXPECT_DOUBLE_EQ(n.attn_logit_softcap, 50);
  expect_error(with(kGemma2, R"("hidden_activation":"gelu_pytorch_tanh")",
                    R"("hidden_activation":"relu")"),
               {"config.json", "hidden_activation=\"relu\"", "not supported"});
}

// google/gemma-3-270m's config.json (text model), with layer_types shortened by the test.
const char* kGemma3 = R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text",
    "attention_bias":false,"attn_logit_softcapping":null,"bos_token_id":2,"eos_token_id":1,
    "final_logit_softcapping":null,"head_dim":256,"hidden_activation":"gelu_pytorch_tanh",
    "hidden_size":640,"intermediate_size":2048,"max_position_embeddings":32768,
    "num_attention_heads":4,"num_hidden_layers":18,"num_key_value_heads":1,"pad_token_id":0,
    "query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_local_base_freq":10000.0,
    "rope_scaling":null,"rope_theta":1000000.0,"sliding_window":512,
    "torch_dtype":"bfloat16","vocab_size":262144})";

TEST(Config, Gemma3) {
  ModelConfig c = parse(kGemma3);
  EXPECT_EQ(c.arch, Arch::Gemma3);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.q_dim(), 1024);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcap, 0);
  EXPECT_DOUBLE_EQ(c.final_logit_softcap, 0);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local_theta, 1e4);
  // No layer_types: every sixth layer is global (sliding_window_pattern 6).
  for (int l = 0; l < 18; ++l) EXPECT_EQ(c.layer_is_sliding(l), (l + 1) % 6 != 0) << l;
  // layer_types, when given, decides.
  const std::string sw = R"("sliding_window":512,)";
  std::string types = R"("layer_types":[)";
  for (int l = 0; l < 18; ++l)
    types += std::string(l ? "," : "") +
             (l == 3 ? R"("full_attention")" : R"("sliding_attention")");
  ModelConfig t = parse(with(kGemma3, sw, sw + types + "],"));
  for (int l = 0; l < 18; ++l) EXPECT_EQ(t.layer_is_sliding(l), l != 3) << l;
  expect_error(with(kGemma3, sw, sw + R"("layer_types":["full_attention"],)"),
               {"config.json", "layer_types has 1 entries", "num_hidden_layers=18"});
  expect_error(with(kGemma3, sw, sw + R"("layer_types":[1],)"), {"config.json", "layer_types[]"});
  // The local layers' RoPE has its own base and no scaling.
  ModelConfig s = parse(with(kGemma3, R"("rope_scaling":null)",
                             R"("rope_scaling":{"rope_type":"linear","factor":8.0})"));
  const std::vector<float> global = rope_inv_freq(s), local = rope_inv_freq(s, true);
  EXPECT_FLOAT_EQ(global[0], 1.f / 8);
  EXPECT_FLOAT_EQ(local[0], 1.f);
  EXPECT_NEAR(local[1], std::pow(1e4, -2.0 / 256), 1e-7);
  EXPECT_NEAR(global[1], std::pow(1e6, -2.0 / 256) / 8, 1e-7);
  // transformers 5 writes RoPE per layer type under rope_parameters; it wins over the old keys.
  ModelConfig v5 = parse(with(kGemma3, R"("rope_scaling":null)",
                              R"("rope_parameters":{"full_attention":{"rope_type":"linear",)"
                              R"("factor":8.0,"rope_theta":500000.0},"sliding_attention":)"
                              R"({"rope_type":"default","rope_theta":20000.0}})"));
  EXPECT_DOUBLE_EQ(v5.rope_theta, 5e5);
  EXPECT_DOUBLE_EQ(v5.rope_local_theta, 2e4);
  EXPECT_EQ(v5.rope_scaling.type, RopeScaling::Type::Linear);
  EXPECT_DOUBLE_EQ(v5.rope_scaling.factor, 8);
  // An explicit null window means none.
  EXPECT_EQ(
      parse(with(kGemma3, R"("sliding_window":512)", R"("sliding_window":null)")).sliding_window,
      0);
}

TEST(Config, RejectsUnsupportedRopeScaling) {
  expect_error(with(kPhi3, R"("rope_scaling":null)",
                    R"("rope_scaling":{"type":"longrope","long_factor":[1.0],"short_factor":[1.0]})"),
               {"config.json", "rope_scaling", "longrope", "not supported"});
  expect_error(with(kLlama31, R"("rope_type": "llama3")", R"("rope_type": "yarn")"),
               {"yarn"});
  expect_error(with(kLlama31, R"("rope_type": "llama3")", R"("nope": 1)"),
               {"rope_scaling", "rope_type"});
  expect_error(with(kLlama31, R"("factor": 8.0)", R"("factor": 0.5)"), {"rope_scaling.factor"});
}

TEST(Config, UnsupportedArchitectureListsTheSupportedOnes) {
  expect_error(R"({"architectures":["GPT2LMHeadModel"],"hidden_size":8})",
               {"config.json", "GPT2LMHeadModel", "LlamaForCausalLM", "MistralForCausalLM",
                "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Phi3ForCausalLM", "Gemma2ForCausalLM",
                "Gemma3ForCausalLM"});
  expect_error(R"({"hidden_size":8})", {"config.json", "architectures", "supported"});
  EXPECT_EQ(supported_architectures().size(), 7u);
  EXPECT_EQ(arch_hf_name(Arch::Qwen3), "Qwen3ForCausalLM");
}

TEST(Config, ModelTypeWhenArchitecturesIsAbsent) {
  std::string j = with(kLlama31, R"("architectures": ["LlamaForCausalLM"],)", "");
  EXPECT_EQ(parse(j).arch, Arch::Llama);
}

TEST(Config, ValidationErrorsNameTheKey) {
  expect_error(with(kLlama31, R"("num_key_value_heads": 8)", R"("num_key_value_heads": 0)"),
               {"config.json", "num_key_value_heads=0"});
  expect_error(with(kLlama31, R"("num_key_value_heads": 8)", R"("num_key_value_heads": 5)"),
               {"config.json", "num_key_value_heads=5 must divide num_attention_heads=32"});
  expect_error(with(kLlama31, R"("hidden_size": 4096)", R"("hidden_size": "4096")"),
               {"config.json", "hidden_size must be an integer, got string"});
  expect_error(with(kLlama31, R"("hidden_size": 4096)", R"("hidden_size": 4100)"),
               {"hidden_size=4100", "num_attention_heads=32"});
  expect_error(with(kLlama31, R"("hidden_size": 4096,)", ""), {"hidden_size is missing"});
  expect_error(with(kLlama31, R"("vocab_size": 128256)", R"("vocab_size": -3)"),
               {"vocab_size=-3"});
  expect_error(with(kLlama31, R"("hidden_size": 4096)", R"("hidden_size": 4096, "head_dim": 7)"),
               {"head_dim=7", "even"});
  expect_error(with(kLlama31, R"("mlp_bias": false)", R"("mlp_bias": true)"), {"mlp_bias"});
  expect_error(with(kLlama31, R"("hidden_act": "silu")", R"("hidden_act": "gelu")"),
               {"hidden_act", "gelu"});
  expect_error(with(kLlama31, R"("torch_dtype": "bfloat16")", R"("torch_dtype": "int8")"),
               {"torch_dtype", "int8"});
  expect_error(with(kLlama31, R"("rms_norm_eps": 1e-05)", R"("rms_norm_eps": 0)"),
               {"rms_norm_eps"});
  expect_error(with(kLlama31, R"("tie_word_embeddings": false)", R"("tie_word_embeddings": 1)"),
               {"tie_word_embeddings", "true or false"});
}

TEST(Config, TokenIds) {
  expect_error(with(kLlama31, "128001, 128008, 128009", R"(128001, "x")"),
               {"eos_token_id", "integer"});
  expect_error(with(kLlama31, "128001, 128008, 128009", "200000"),
               {"eos_token_id=200000", "vocab_size=128256"});
  expect_error(with(kLlama31, R"("bos_token_id": 128000)", R"("bos_token_id": -1)"),
               {"bos_token_id=-1"});
  EXPECT_TRUE(parse(with(kLlama31, "[128001, 128008, 128009]", "null")).eos_token_ids.empty());
}

TEST(Config, MalformedJson) {
  expect_error("{\"architectures\": [", {"config.json", "invalid JSON"});
  expect_error("[1]", {"config.json", "JSON object"});
}

class ConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ember_cfg_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigDir, GenerationConfigOverridesTokenIds) {
  write("config.json", kLlama31);
  EXPECT_EQ(load_model_config(dir_.string()).eos_token_ids.size(), 3u);
  write("generation_config.json", R"({"bos_token_id": 5, "eos_token_id": 128009, "do_sample": true})");
  ModelConfig c = load_model_config(dir_.string());
  EXPECT_EQ(c.bos_token_id, 5);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{128009});
  write("generation_config.json", R"({"eos_token_id": [1, "two"]})");
  try {
    load_model_config(dir_.string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("generation_config.json"));
    EXPECT_THAT(e.what(), HasSubstr("eos_token_id"));
  }
}

TEST_F(ConfigDir, MissingConfigNamesThePath) {
  try {
    load_model_config(dir_.string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("config.json"));
    EXPECT_THAT(e.what(), HasSubstr(dir_.string()));
  }
}

TEST(Config, SharedStories260K) {
  EMBER_REQUIRE_ASSET("models/stories260K/hf/config.json");
  ModelConfig c = load_model_config(test::asset("models/stories260K/hf"));
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.dtype, DType::F32);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
}

}  // namespace
}  // namespace ember
