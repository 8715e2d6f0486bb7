
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/model/config.h"
#include "engine/model/random_model.h"
#include "engine/model/safetensors.h"
#include "engine/model/tensor.h"
#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

class MakeModel : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ember::test::per_test_dir("ember_mm");
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string make(const RandomModelOptions& o, const std::string& name) {
    const std::string d = (root_ / name).string();
    write_random_model(o, d);
    return d;
  }
  fs::path root_;
};

const char* kFiles[] = {"config.json", "generation_config.json", "model.safetensors",
                        "tokenizer.json", "tokenizer_config.json"};

TEST_F(MakeModel, SameOptionsSameBytes) {
  for (Arch a : {Arch::Llama, Arch::Qwen2, Arch::Phi3}) {
    RandomModelOptions o;
    o.arch = a;
    o.seed = 7;
    const std::string d1 = make(o, "a"), d2 = make(o, "b");
    for (const char* f : kFiles) {
      ASSERT_TRUE(fs::exists(fs::path(d1) / f)) << f;
      EXPECT_EQ(slurp(fs::path(d1) / f), slurp(fs::path(d2) / f)) << f;
    }
    o.seed = 8;
    const std::string d3 = make(o, "c");
    EXPECT_NE(slurp(fs::path(d1) / "model.safetensors"), slurp(fs::path(d3) / "model.safetensors"));
    EXPECT_EQ(slurp(fs::path(d1) / "tokenizer.json"), slurp(fs::path(d3) / "tokenizer.json"));
    fs::remove_all(root_);
  }
}

// Pins the generator across machines and versions: golden logits committed elsewhere were
// computed from exactly these bytes. If this fails on purpose, regenerate those goldens too.
TEST_F(MakeModel, GoldenBytes) {
  RandomModelOptions o;  // llama, defaults, seed 0
  const std::string d = make(o, "golden");
  EXPECT_EQ(fnv1a(slurp(fs::path(d) / "model.safetensors")), 0xb690b7993def2a22ull);
  o.arch = Arch::Qwen2;
  o.dtype = DType::F32;
  o.seed = 1234;
  const std::string q = make(o, "golden_qwen2");
  EXPECT_EQ(fnv1a(slurp(fs::path(q) / "model.safetensors")), 0x115e8289d4602157ull);
}

TEST_F(MakeModel, ConfigMatchesOptionsForEveryArch) {
  for (Arch a : {Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Qwen3, Arch::Phi3, Arch::Gemma2,
                 Arch::Gemma3}) {
    const bool gemma = a == Arch::Gemma2 || a == Arch::Gemma3;
    RandomModelOptions o;
    o.arch = a;
    o.hidden = 96;
    o.heads = 6;
    o.kv_heads = 3;
    o.layers = 3;
    o.intermediate = 80;
    o.vocab = 300;
    o.dtype = DType::F16;
    const std::string d = make(o, std::string(arch_hf_name(a)));
    ModelConfig c = load_model_config(d);
    SCOPED_TRACE(arch_hf_name(a));
    EXPECT_EQ(c.arch, a);
    EXPECT_EQ(c.hidden_size, 96);
    EXPECT_EQ(c.num_heads, 6);
    EXPECT_EQ(c.num_kv_heads, 3);
    EXPECT_EQ(c.num_layers, 3);
    EXPECT_EQ(c.intermediate_size, 80);
    EXPECT_EQ(c.vocab_size, 300);
    EXPECT_EQ(c.dtype, DType::F16);
    EXPECT_EQ(c.head_dim, a == Arch::Qwen3 || a == Arch::Gemma3 ? 32 : 16);
    EXPECT_EQ(c.qkv_bias, a == Arch::Qwen2);
    EXPECT_EQ(c.qk_norm, a == Arch::Qwen3 || a == Arch::Gemma3);
    EXPECT_EQ(c.tie_word_embeddings, a == Arch::Llama || a == Arch::Qwen3 || gemma);
    EXPECT_EQ(c.rope_scaling.type, a == Arch::Llama    ? RopeScaling::Type::Llama3
                                   : a == Arch::Gemma3 ? RopeScaling::Type::Linear
                                                       : RopeScaling::Type::None);
    EXPECT_EQ(c.sandwich_norms, gemma);
    EXPECT_EQ(c.hidden_act, gemma ? Activation::GeluTanh : Activation::Silu);
    if (gemma) {  // alternating sliding and global layers
      EXPECT_TRUE(c.layer_is_sliding(0));
      EXPECT_FALSE(c.layer_is_sliding(1));
      EXPECT_TRUE(c.layer_is_sliding(2));
      EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, c.head_dim + 8);
    }
    // eos: <|im_end|> then <|endoftext|> (generation_config), both inside the vocab.
    EXPECT_EQ(c.eos_token_ids, (std::vector<int>{299, 297}));
    EXPECT_EQ(c.bos_token_id, 297);

    WeightFiles wf = WeightFiles::open(d);
    const std::string p = "model.layers.2.";
    if (a == Arch::Phi3) {
      EXPECT_EQ(wf.get(p + "self_attn.qkv_proj.weight").shape, (Shape{(6 + 6) * 16, 96}));
      EXPECT_EQ(wf.get(p + "mlp.gate_up_proj.weight").shape, (Shape{160, 96}));
    } else {
      EXPECT_EQ(wf.get(p + "self_attn.k_proj.weight").shape, (Shape{3 * c.head_dim, 96}));
      EXPECT_EQ(wf.get(p + "mlp.up_proj.weight").shape, (Shape{80, 96}));
    }
    EXPECT_EQ(wf.find("model.layers.0.self_attn.q_proj.bias") != nullptr, a == Arch::Qwen2);
    EXPECT_EQ(wf.find("model.layers.0.self_attn.q_norm.weight") != nullptr, c.qk_norm);
    EXPECT_EQ(wf.find("model.layers.0.post_feedforward_layernorm.weight") != nullptr, gemma);
    EXPECT_EQ(wf.find("lm_head.weight") != nullptr, !c.tie_word_embeddings);
    for (const auto& [name, t] : wf.all()) EXPECT_EQ(t->dtype, DType::F16) << name;
  }
}

double mean(const TensorView& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += load_as_f32(t.data, t.dtype, i);
  return s / double(t.numel());
}
double stddev(const TensorView& t) {
  const double m = mean(t);
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double d = load_as_f32(t.data, t.dtype, i) - m;
    s += d * d;
  }
  return std::sqrt(s / double(t.numel()));
}

TEST_F(MakeModel, WeightStatistics) {
  RandomModelOptions o;
  o.arch = Arch::Qwen2;
  WeightFiles wf = WeightFiles::open(make(o, "stats"));
  const TensorView& emb = wf.get("model.embed_tokens.weight");
  EXPECT_NEAR(mean(emb), 0.0, 0.002);
  EXPECT_NEAR(stddev(emb), 0.02, 0.002);
  const TensorView& norm = wf.get("model.layers.1.input_layernorm.weight");
  EXPECT_NEAR(mean(norm), 1.0, 0.05);
  EXPECT_GT(stddev(norm), 0.05);  // not all ones: a skipped norm must change the output
  const TensorView& bias = wf.get("model.layers.0.self_attn.k_proj.bias");
  EXPECT_GT(stddev(bias), 0.02);
  // Different tensors draw different numbers.
  const TensorView& q0 = wf.get("model.layers.0.self_attn.q_proj.weight");
  const TensorView& q1 = wf.get("model.layers.1.self_attn.q_proj.weight");
  EXPECT_NE(std::string(reinterpret_cast<const char*>(q0.data), q0.nbytes),
            std::string(reinterpret_cast<const char*>(q1.data), q1.nbytes));
}

TEST_F(MakeModel, TokenizerJsonIsAConsistentByteLevelBpe) {
  for (int vocab : {259, 512, 5000}) {
    RandomModelOptions o;
    o.vocab = vocab;
    const std::string d = make(o, "tok" + std::to_string(vocab));
    simdjson::dom::parser parser;
    simdjson::padded_string text = simdjson::padded_string::load(d + "/tokenizer.json");
    simdjson::dom::element root = parser.parse(text);
    simdjson::dom::object v = root["model"]["vocab"];
    std::set<int64_t> ids;
    std::set<std::string> tokens;
    for (auto kv : v) {
      ids.insert(int64_t(kv.value));
      tokens.insert(std::string(kv.key));
    }
    EXPECT_EQ(int(ids.size()), vocab - 3);
    EXPECT_EQ(*ids.begin(), 0);
    EXPECT_EQ(*ids.rbegin(), vocab - 4);
    EXPECT_TRUE(tokens.count("\xc4\xa0"));  // U+0120 'Ġ' is the space byte
    simdjson::dom::array merges = root["model"]["merges"];
    EXPECT_EQ(int(merges.size()), vocab - 259);
    for (simdjson::dom::array m : merges) {
      std::string a(std::string_view(m.at(0))), b(std::string_view(m.at(1)));
      EXPECT_TRUE(tokens.count(a) && tokens.count(b) && tokens.count(a + b)) << a << " " << b;
    }
    std::vector<int64_t> special;
    for (auto t : root["added_tokens"].get_array()) special.push_back(int64_t(t["id"]));
    EXPECT_EQ(special, (std::vector<int64_t>{vocab - 3, vocab - 2, vocab - 1}));
    simdjson::dom::element cfg = parser.parse(simdjson::padded_string::load(d + "/tokenizer_config.json"));
    EXPECT_THAT(std::string(std::string_view(cfg["chat_template"])), HasSubstr("<|im_start|>"));
    EXPECT_EQ(std::string_view(cfg["eos_token"]), "<|im_end|>");
  }
}

// The reference `tokenizers` library loads the file and round-trips text through it.
TEST_F(MakeModel, HuggingFaceTokenizersLoadsIt) {
  const std::string py = test::python();
  if (!fs::exists(py)) GTEST_SKIP() << "no Python at " << py;
  RandomModelOptions o;
  const std::string d = make(o, "hf");
  const std::string script = root_.string() + "/check.py";
  std::ofstream(script) << R"(import sys
try:
    from tokenizers import Tokenizer
except ImportError:
    sys.exit(77)
t = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
text = "The engine answers: 42 questions, caf\u00e9 \u2603!"
ids = t.encode(text).ids
assert t.decode(ids) == text, (ids, t.decode(ids))
assert len(ids) < len(text.encode()), ids
sp = t.encode("<|im_start|>user\nhi<|im_end|>").ids
assert sp[0] == 510 and sp[-1] == 511, sp
assert t.get_vocab_size() == 512
print("ok", len(ids))
)";
  const int rc = std::system((py + " " + script + " " + d).c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) GTEST_SKIP() << "tokenizers is not installed";
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

TEST_F(MakeModel, BadOptions) {
  auto expect_bad = [&](RandomModelOptions o, const std::string& part) {
    try {
      write_random_model(o, (root_ / "bad").string());
      ADD_FAILURE() << "accepted: " << part;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(part));
    }
    EXPECT_FALSE(fs::exists(root_ / "bad" / "config.json"));
  };
  RandomModelOptions o;
  o.heads = 3;
  expect_bad(o, "--heads 3 does not divide --hidden 64");
  o = {};
  o.kv_heads = 3;
  expect_bad(o, "--kv-heads 3 does not divide --heads 4");
  o = {};
  o.vocab = 258;
  expect_bad(o, "--vocab 258");
  o = {};
  o.layers = 0;
  expect_bad(o, "--layers");
  o = {};
  o.hidden = 36;
  o.heads = 4;  // head dim 9
  expect_bad(o, "even");
  EXPECT_EQ(parse_arch_name("qwen3"), Arch::Qwen3);
  EXPECT_EQ(parse_arch_name("Phi3ForCausalLM"), Arch::Phi3);
  EXPECT_THROW(parse_arch_name("gpt2"), Error);
}

}  // namespace
}  // namespace ember
