#include "engine/model/weights.h"

#include <cstring>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/random_model.h"
#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Records every upload; copies unless borrowing is allowed, so tests can see which weights are
// used in place from the mapping and which were assembled on the host.
class HostBackend : public Backend {
 public:
  struct Upload {
    const void* src;
    bool borrowable;
  };
  std::vector<Upload> uploads;

  std::string name() const override { return "host-fake"; }
  DType activation_dtype() const override { return DType::F32; }
  Tensor alloc(DType dtype, const Shape& shape) override {
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    auto buf = std::shared_ptr<uint8_t[]>(new uint8_t[t.nbytes() + 1]());
    t.data = buf.get();
    t.owner = buf;
    return t;
  }
  Tensor upload(const void* data, DType dtype, const Shape& shape, bool borrowable) override {
    uploads.push_back({data, borrowable});
    if (borrowable) return Tensor{const_cast<void*>(data), dtype, shape, nullptr};
    Tensor t = alloc(dtype, shape);
    std::memcpy(t.data, data, t.nbytes());
    return t;
  }
  void download(const Tensor& src, void* dst) override { std::memcpy(dst, src.data, src.nbytes()); }
  StepTensors upload_step(const StepInput&) override { throw Error("fake"); }
  KvCache alloc_kv_cache(const KvCacheSpec&) override { throw Error("fake"); }
  size_t kv_memory_available() const override { return 0; }
  void embed(const Tensor&, const StepTensors&, Tensor&) override {}
  void embed_shard(const Tensor&, const StepTensors&, int64_t, int64_t, Tensor&) override {}
  void rmsnorm(const Tensor&, const Tensor&, float, Tensor&) override {}
  void add_rmsnorm(Tensor&, const Tensor&, const Tensor&, float, Tensor&) override {}
  void matmul(const Tensor&, const Tensor&, const Tensor*, Tensor&) override {}
  void qk_rmsnorm(Tensor&, const Tensor&, const Tensor&, float, const AttnShape&) override {}
  void rope_and_store_kv(Tensor&, const Tensor&, const StepTensors&, const AttnShape&, KvCache&,
                         int) override {}
  void paged_attention(const Tensor&, const KvCache&, int, const StepTensors&, const AttnShape&,
                       Tensor&) override {}
  void silu_mul(const Tensor&, Tensor&) override {}
  void gelu_tanh_mul(const Tensor&, Tensor&) override {}
  void scale(Tensor&, float) override {}
  void softcap(Tensor&, float) override {}
  void all_reduce(Tensor&) override {}
  void gather_rows(const Tensor&, const StepTensors&, Tensor&) override {}
  void copy_kv_blocks(KvCache&, std::span<const std::pair<int32_t, int32_t>>) override {}
};

std::string bytes_of(const Tensor& t) {
  return std::string(static_cast<const char*>(t.data), t.nbytes());
}
std::string bytes_of(const TensorView& t, size_t offset = 0, size_t n = std::string::npos) {
  return std::string(reinterpret_cast<const char*>(t.data), t.nbytes).substr(offset, n);
}

class Weights : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ember::test::per_test_dir("ember_w");
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string make(Arch a, const std::string& name, DType dt = DType::BF16) {
    RandomModelOptions o;
    o.arch = a;
    o.dtype = dt;
    const std::string d = (root_ / name).string();
    write_random_model(o, d);
    return d;
  }

  // Rewrites DIR/model.safetensors through `edit` (drop, rename or reshape tensors).
  void rewrite(const std::string& dir, const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    std::vector<TensorToWrite> ts;
    {
      WeightFiles wf = WeightFiles::open(dir);
      for (const auto& [name, t] : wf.all())
        ts.push_back({name, t->dtype, t->shape, std::vector<uint8_t>(t->data, t->data + t->nbytes)});
    }
    edit(ts);
    write_safetensors(dir + "/model.safetensors", ts);
  }

  void expect_load_error(const std::string& dir, std::initializer_list<std::string> parts) {
    ModelConfig c = load_model_config(dir);
    WeightFiles wf = WeightFiles::open(dir);
    HostBackend be;
    try {
      load_weights(c, wf, be);
      ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
      for (const auto& p : parts) EXPECT_THAT(e.what(), HasSubstr(p));
    }
  }

  fs::path root_;
};

TEST_F(Weights, LoadsEveryArchitecture) {
  for (Arch a : {Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Qwen3, Arch::Phi3, Arch::Gemma2,
                 Arch::Gemma3}) {
    SCOPED_TRACE(arch_hf_name(a));
    const std::string d = make(a, std::string(arch_hf_name(a)));
    ModelConfig c = load_model_config(d);
    WeightFiles wf = WeightFiles::open(d);
    HostBackend be;
    size_t checked = 0;
    ModelWeights w = load_weights(c, wf, be, {}, [&](const LoadProgress& p) {
      checked = p.tensors_checked;
      EXPECT_LE(p.tensors_checked, p.tensors_total);
    });
    const int64_t H = c.hidden_size, D = c.head_dim, Q = c.q_dim(), KV = c.kv_dim();
    const int64_t I = c.intermediate_size;
    EXPECT_GT(checked, 0u);
    ASSERT_EQ(int(w.layers.size()), c.num_layers);
    EXPECT_EQ(w.embed.shape, (Shape{c.vocab_size, H}));
    EXPECT_EQ(w.lm_head.shape, (Shape{c.vocab_size, H}));
    EXPECT_EQ(w.final_norm.shape, Shape{H});
    EXPECT_EQ(w.inv_freq.dtype, DType::F32);
    EXPECT_EQ(w.inv_freq.shape, Shape{D / 2});
    for (int i = 0; i < c.num_layers; ++i) {
      const LayerWeights& l = w.layers[i];
      const std::string p = fmt::format("model.layers.{}.", i);
      EXPECT_EQ(l.qkv.shape, (Shape{Q + 2 * KV, H}));
      EXPECT_EQ(l.qkv.dtype, DType::BF16);
      EXPECT_EQ(l.gate_up.shape, (Shape{2 * I, H}));
      EXPECT_EQ(l.o_proj.shape, (Shape{H, Q}));
      EXPECT_EQ(l.down.shape, (Shape{H, I}));
      EXPECT_EQ(l.attn_norm.shape, Shape{H});
      EXPECT_EQ(l.qkv_bias.has_value(), a == Arch::Qwen2);
      EXPECT_EQ(l.q_norm.has_value(), c.qk_norm);
      EXPECT_EQ(l.k_norm.has_value(), c.qk_norm);
      EXPECT_EQ(l.post_attn_norm.has_value(), c.sandwich_norms);
      EXPECT_EQ(l.post_mlp_norm.has_value(), c.sandwich_norms);
      if (a == Arch::Phi3) {
        EXPECT_EQ(bytes_of(l.qkv), bytes_of(wf.get(p + "self_attn.qkv_proj.weight")));
        EXPECT_EQ(bytes_of(l.gate_up), bytes_of(wf.get(p + "mlp.gate_up_proj.weight")));
      } else {
        // Fused rows are q, then k, then v; gate rows, then up rows.
        EXPECT_EQ(bytes_of(l.qkv), bytes_of(wf.get(p + "self_attn.q_proj.weight")) +
                                       bytes_of(wf.get(p + "self_attn.k_proj.weight")) +
                                       bytes_of(wf.get(p + "self_attn.v_proj.weight")));
        EXPECT_EQ(bytes_of(l.gate_up), bytes_of(wf.get(p + "mlp.gate_proj.weight")) +
                                           bytes_of(wf.get(p + "mlp.up_proj.weight")));
      }
      if (l.qkv_bias) {
        EXPECT_EQ(l.qkv_bias->shape, Shape{Q + 2 * KV});
        EXPECT_EQ(bytes_of(*l.qkv_bias), bytes_of(wf.get(p + "self_attn.q_proj.bias")) +
                                             bytes_of(wf.get(p + "self_attn.k_proj.bias")) +
                                             bytes_of(wf.get(p + "self_attn.v_proj.bias")));
      }
      if (l.q_norm) {
        EXPECT_EQ(l.q_norm->shape, Shape{D});
        if (!c.norm_plus_one)
          EXPECT_EQ(bytes_of(*l.k_norm), bytes_of(wf.get(p + "self_attn.k_norm.weight")));
      }
      if (c.norm_plus_one) {
        // Gemma's norms hold the factor 1 + w, in F32; its MLP norm is pre_feedforward's.
        const auto factor_of = [&](const Tensor& t, const std::string& name) {
          const TensorView& v = wf.get(name);
          ASSERT_EQ(t.dtype, DType::F32) << name;
          ASSERT_EQ(t.numel(), v.numel()) << name;
          for (int64_t k = 0; k < t.numel(); ++k)
            ASSERT_EQ(t.as<float>()[k], 1.f + load_as_f32(v.data, v.dtype, size_t(k))) << name;
        };
        factor_of(l.attn_norm, p + "input_layernorm.weight");
        factor_of(*l.post_attn_norm, p + "post_attention_layernorm.weight");
        factor_of(l.mlp_norm, p + "pre_feedforward_layernorm.weight");
        factor_of(*l.post_mlp_norm, p + "post_feedforward_layernorm.weight");
        if (l.k_norm) factor_of(*l.k_norm, p + "self_attn.k_norm.weight");
      }
      EXPECT_EQ(bytes_of(l.o_proj), bytes_of(wf.get(p + "self_attn.o_proj.weight")));
    }
    EXPECT_EQ(w.inv_freq_local.has_value(), a == Arch::Gemma3);
    if (c.tie_word_embeddings)
      EXPECT_EQ(w.lm_head.data, w.embed.data);
    else
      EXPECT_EQ(bytes_of(w.lm_head), bytes_of(wf.get("lm_head.weight")));
  }
}

TEST_F(Weights, BorrowsMappedTensorsAndCopiesFusedOnes) {
  const std::string d = make(Arch::Llama, "llama");
  ModelConfig c = load_model_config(d);
  WeightFiles wf = WeightFiles::open(d);
  HostBackend be;
  ModelWeights w = load_weights(c, wf, be);
  EXPECT_EQ(w.embed.data, wf.get("model.embed_tokens.weight").data);
  EXPECT_EQ(w.layers[1].o_proj.data, wf.get("model.layers.1.self_attn.o_proj.weight").data);
  for (const auto& u : be.uploads) {
    const bool in_mapping = u.src == wf.get("model.embed_tokens.weight").data ||
                            u.src == wf.get("model.norm.weight").data;
    if (in_mapping) {
      EXPECT_TRUE(u.borrowable);
    }
  }
  EXPECT_NE(w.layers[0].qkv.data, wf.get("model.layers.0.self_attn.q_proj.weight").data);
  EXPECT_TRUE(w.layers[0].qkv.owner != nullptr);  // a copy that the backend owns

  // Phi3's fused tensors are used in place: nothing to concatenate at TP=1.
  const std::string p = make(Arch::Phi3, "phi3");
  ModelConfig pc = load_model_config(p);
  WeightFiles pf = WeightFiles::open(p);
  ModelWeights pw = load_weights(pc, pf, be);
  EXPECT_EQ(pw.layers[0].qkv.data, pf.get("model.layers.0.self_attn.qkv_proj.weight").data);
  EXPECT_EQ(pw.layers[0].gate_up.data, pf.get("model.layers.0.mlp.gate_up_proj.weight").data);
}

TEST_F(Weights, InvFreqFollowsTheConfig) {
  const std::string d = make(Arch::Llama, "llama");
  ModelConfig c = load_model_config(d);
  WeightFiles wf = WeightFiles::open(d);
  HostBackend be;
  ModelWeights w = load_weights(c, wf, be);
  std::vector<float> want = rope_inv_freq(c);
  ASSERT_EQ(w.inv_freq.numel(), int64_t(want.size()));
  EXPECT_EQ(0, std::memcmp(w.inv_freq.data, want.data(), want.size() * 4));
}

TEST_F(Weights, MissingTensorIsNamed) {
  const std::string d = make(Arch::Mistral, "m");
  rewrite(d, [](auto& ts) {
    std::erase_if(ts, [](const TensorToWrite& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  expect_load_error(d, {"model.safetensors", "'model.layers.1.mlp.up_proj.weight'", "missing"});
}

TEST_F(Weights, UntiedModelWithoutLmHead) {
  const std::string d = make(Arch::Mistral, "m");
  rewrite(d, [](auto& ts) {
    std::erase_if(ts, [](const TensorToWrite& t) { return t.name == "lm_head.weight"; });
  });
  expect_load_error(d, {"lm_head.weight", "tie_word_embeddings=false"});
}

TEST_F(Weights, ExtraTensorsAreIgnored) {
  const std::string d = make(Arch::Llama, "l");
  rewrite(d, [](auto& ts) {
    ts.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", DType::F32, {1}, {0, 0, 0, 0}});
  });
  ModelConfig c = load_model_config(d);
  WeightFiles wf = WeightFiles::open(d);
  HostBackend be;
  EXPECT_NO_THROW(load_weights(c, wf, be));
}

TEST_F(Weights, WrongShapeSaysExpectedAndGot) {
  const std::string d = make(Arch::Qwen2, "q");
  rewrite(d, [](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.k_proj.bias") {
        t.shape = {16};
        t.bytes.resize(32);
      }
  });
  expect_load_error(d, {"model.safetensors", "'model.layers.0.self_attn.k_proj.bias'",
                        "expected shape [32]", "got [16]"});
}

TEST_F(Weights, NonFloatDtypeIsRejected) {
  const std::string d = make(Arch::Llama, "l");
  rewrite(d, [](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.norm.weight") {
        t.dtype = DType::F8_E4M3;
        t.bytes.resize(t.bytes.size() / 2);
      }
  });
  expect_load_error(d, {"'model.norm.weight'", "F8_E4M3", "not supported"});
}

TEST_F(Weights, MixedDtypesInOneFusedWeight) {
  const std::string d = make(Arch::Llama, "l");
  rewrite(d, [](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.v_proj.weight") {
        t.dtype = DType::F16;  // same size, different type
      }
  });
  expect_load_error(d, {"v_proj", "one dtype"});
}

TEST_F(Weights, ShardPlanSplits) {
  ShardPlan plan;
  EXPECT_EQ(plan.split_for("layers.3.qkv"), Split::Column);
  EXPECT_EQ(plan.split_for("layers.3.qkv_bias"), Split::Column);
  EXPECT_EQ(plan.split_for("layers.3.gate_up"), Split::Column);
  EXPECT_EQ(plan.split_for("layers.3.o_proj"), Split::Row);
  EXPECT_EQ(plan.split_for("layers.3.down"), Split::Row);
  EXPECT_EQ(plan.split_for("layers.3.attn_norm"), Split::Replicated);
  EXPECT_EQ(plan.split_for("embed"), Split::Column);  // by vocabulary rows
  EXPECT_EQ(plan.split_for("lm_head"), Split::Column);
}

// At TP=2 each rank holds its half of the q, k and v heads (and of gate and up), and its half
// of o_proj's and down's input columns.
TEST_F(Weights, TensorParallelSlices) {
  const std::string d = make(Arch::Qwen2, "q", DType::F32);
  ModelConfig c = load_model_config(d);
  WeightFiles wf = WeightFiles::open(d);
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  const size_t row = size_t(H) * 4;
  for (int rank = 0; rank < 2; ++rank) {
    HostBackend be;
    ModelWeights w = load_weights(c, wf, be, ShardPlan{rank, 2});
    const LayerWeights& l = w.layers[1];
    const std::string p = "model.layers.1.";
    EXPECT_EQ(l.qkv.shape, (Shape{(Q + 2 * KV) / 2, H}));
    EXPECT_EQ(bytes_of(l.qkv),
              bytes_of(wf.get(p + "self_attn.q_proj.weight"), rank * row * Q / 2, row * Q / 2) +
                  bytes_of(wf.get(p + "self_attn.k_proj.weight"), rank * row * KV / 2, row * KV / 2) +
                  bytes_of(wf.get(p + "self_attn.v_proj.weight"), rank * row * KV / 2, row * KV / 2));
    EXPECT_EQ(l.qkv_bias->shape, Shape{(Q + 2 * KV) / 2});
    EXPECT_EQ(l.gate_up.shape, (Shape{I, H}));
    EXPECT_EQ(bytes_of(l.gate_up),
              bytes_of(wf.get(p + "mlp.gate_proj.weight"), rank * row * I / 2, row * I / 2) +
                  bytes_of(wf.get(p + "mlp.up_proj.weight"), rank * row * I / 2, row * I / 2));
    EXPECT_EQ(l.o_proj.shape, (Shape{H, Q / 2}));
    EXPECT_EQ(l.down.shape, (Shape{H, I / 2}));
    // Row r of down's shard is columns [rank*I/2, (rank+1)*I/2) of row r of the full weight.
    const TensorView& down = wf.get(p + "mlp.down_proj.weight");
    for (int64_t r : {int64_t(0), H - 1})
      EXPECT_EQ(0, std::memcmp(static_cast<const float*>(l.down.data) + r * I / 2,
                               reinterpret_cast<const float*>(down.data) + r * I + rank * I / 2,
                               size_t(I / 2) * 4));
    // The rank's half of the vocabulary rows.
    const int64_t V = c.vocab_size, v0 = V * rank / 2, v1 = V * (rank + 1) / 2;
    EXPECT_EQ(w.embed.shape, (Shape{v1 - v0, H}));
    EXPECT_EQ(bytes_of(w.embed),
              bytes_of(wf.get("model.embed_tokens.weight"), size_t(v0) * row, size_t(v1 - v0) * row));
  }
  // At TP=4 over 2 KV heads, ranks 0 and 1 hold KV head 0 and ranks 2 and 3 KV head 1, each
  // with its one query head.
  const int64_t D = c.head_dim;
  for (int rank = 0; rank < 4; ++rank) {
    HostBackend be;
    ModelWeights w = load_weights(c, wf, be, ShardPlan{rank, 4});
    const std::string p = "model.layers.0.";
    const size_t kv_head = size_t(rank / 2);
    EXPECT_EQ(bytes_of(w.layers[0].qkv),
              bytes_of(wf.get(p + "self_attn.q_proj.weight"), rank * row * D, row * D) +
                  bytes_of(wf.get(p + "self_attn.k_proj.weight"), kv_head * row * D, row * D) +
                  bytes_of(wf.get(p + "self_attn.v_proj.weight"), kv_head * row * D, row * D));
    EXPECT_EQ(w.layers[0].qkv_bias->shape, Shape{3 * D});
  }
  HostBackend be;
  try {
    load_weights(c, wf, be, ShardPlan{0, 3});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--tensor-parallel-size 3 does not divide"));
  }
  EXPECT_THROW(load_weights(c, wf, be, ShardPlan{2, 2}), Error);
}

TEST_F(Weights, LoadsIntoTheCpuBackend) {
  const std::string d = make(Arch::Qwen3, "q3");
  ModelConfig c = load_model_config(d);
  WeightFiles wf = WeightFiles::open(d);
  auto be = make_cpu_backend(1);
  ModelWeights w = load_weights(c, wf, *be);
  // The loader prepares the projections: bf16 panels of 16 rows, where word j * 16 + r of a
  // panel is row r's element pair j. Row 0 of qkv is row 0 of q_proj.
  const Tensor& qkv = w.layers[0].qkv;
  ASSERT_EQ(qkv.layout, TensorLayout::CpuBf16Panels16);
  const int64_t K = qkv.shape[1];
  std::string row0;
  for (int64_t j = 0; j < K / 2; ++j)
    row0.append(reinterpret_cast<const char*>(qkv.as<uint32_t>() + j * 16), 4);
  EXPECT_EQ(row0, bytes_of(wf.get("model.layers.0.self_attn.q_proj.weight"), 0, size_t(K) * 2));
  // The mapped pages of what the backend copied were dropped from RSS; read again, every
  // tensor is still what the file holds.
  WeightFiles fresh = WeightFiles::open(d);
  for (const auto& [name, t] : wf.all()) EXPECT_EQ(bytes_of(*t), bytes_of(fresh.get(name))) << name;
}

TEST(WeightsShared, Stories260K) {
  EMBER_REQUIRE_ASSET("models/stories260K/hf/model.safetensors");
  const std::string d = test::asset("models/stories260K/hf");
  ModelConfig c = load_model_config(d);
  WeightFiles wf = WeightFiles::open(d);
  HostBackend be;
  ModelWeights w = load_weights(c, wf, be);
  EXPECT_EQ(w.layers.size(), 5u);
  EXPECT_EQ(w.layers[0].qkv.shape, (Shape{(8 + 2 * 4) * 8, 64}));
  EXPECT_EQ(w.lm_head.data, w.embed.data);  // tied
  EXPECT_EQ(w.embed.dtype, DType::F32);
}

}  // namespace
}  // namespace ember
