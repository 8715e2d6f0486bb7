#include "engine/encoder/encoder_model.h"

#include <cmath>
#include <cstring>

#include <fmt/ranges.h>

#include "engine/core/error.h"
#include "engine/encoder/relative_position.h"

namespace ember {
namespace {

bool aligned(const void* p, DType dt) {
  return reinterpret_cast<uintptr_t>(p) % dtype_size(dt) == 0;
}

class Loader {
 public:
  Loader(const WeightFiles& f, Backend& be, std::string prefix)
      : f_(f), be_(be), prefix_(std::move(prefix)) {}

  const TensorView& view(const std::string& name, const Shape& shape) const {
    const TensorView& t = f_.get(prefix_ + name);
    if (t.shape != shape)
      fail("{}: tensor '{}' has shape [{}], expected [{}]", t.file, t.name,
           fmt::join(t.shape, ", "), fmt::join(shape, ", "));
    if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16)
      fail("{}: tensor '{}' is {}, expected F32, BF16 or F16", t.file, t.name, dtype_name(t.dtype));
    return t;
  }
  Tensor get(const std::string& name, const Shape& shape) const {
    const TensorView& t = view(name, shape);
    return be_.upload(t.data, t.dtype, t.shape, aligned(t.data, t.dtype));
  }
  std::vector<float> f32(const std::string& name, const Shape& shape) const {
    const TensorView& t = view(name, shape);
    if (t.dtype != DType::F32)
      fail("{}: tensor '{}' must be F32 here, is {}", t.file, t.name, dtype_name(t.dtype));
    std::vector<float> v(size_t(t.numel()));
    std::memcpy(v.data(), t.data, t.nbytes);
    return v;
  }
  // q, k and v stacked into one [3 * rows, ...] tensor (weights) or [3 * n] (biases), in F32.
  Tensor fused(const std::vector<std::string>& names, const Shape& shape) const {
    std::vector<float> all;
    for (const auto& n : names) {
      const auto v = widen(view(n, shape));
      all.insert(all.end(), v.begin(), v.end());
    }
    Shape s = shape;
    s[0] *= int64_t(names.size());
    return be_.upload(all.data(), DType::F32, s, false);
  }
  Tensor matmul_weight(const std::string& name, const Shape& shape) const {
    return be_.prepare_matmul_weight(get(name, shape));
  }

 private:
  static std::vector<float> widen(const TensorView& t) {
    std::vector<float> v(size_t(t.numel()));
    for (size_t i = 0; i < v.size(); ++i) {
      if (t.dtype == DType::F32) {
        std::memcpy(&v[i], t.data + 4 * i, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v[i] = t.dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
      }
    }
    return v;
  }
  const WeightFiles& f_;
  Backend& be_;
  std::string prefix_;
};

// "bert." / "mpnet." when the checkpoint was saved from a task model, else "".
std::string find_prefix(const WeightFiles& f, const EncoderConfig& c) {
  for (const char* p : {"", "bert.", "mpnet.", "model."})
    if (f.find(std::string(p) + "embeddings.word_embeddings.weight")) return p;
  fail("{}: no embeddings.word_embeddings.weight tensor: not a {} checkpoint", c.name,
       c.arch == EncoderArch::Bert ? "BERT" : "MPNet");
}

}  // namespace

EncoderModel::EncoderModel(const EncoderConfig& cfg, const std::string& dir, Backend& be)
    : cfg_(cfg), be_(be), files_(WeightFiles::open(dir)) {
  const Loader ld(files_, be_, find_prefix(files_, cfg_));
  const int64_t H = cfg_.hidden, I = cfg_.intermediate;
  const bool bert = cfg_.arch == EncoderArch::Bert;
  word_ = ld.get("embeddings.word_embeddings.weight", {cfg_.vocab, H});
  {
    // Token type 0 is every token's type for a single text: its row is folded into the
    // position table once, rather than added to every token.
    auto pos = ld.f32("embeddings.position_embeddings.weight", {cfg_.max_positions, H});
    if (bert) {
      const auto type = ld.f32("embeddings.token_type_embeddings.weight", {cfg_.type_vocab, H});
      for (int64_t p = 0; p < cfg_.max_positions; ++p)
        for (int64_t i = 0; i < H; ++i) pos[size_t(p * H + i)] += type[size_t(i)];
    }
    pos_ = be_.upload(pos.data(), DType::F32, {cfg_.max_positions, H}, false);
  }
  emb_ln_w_ = ld.get("embeddings.LayerNorm.weight", {H});
  emb_ln_b_ = ld.get("embeddings.LayerNorm.bias", {H});
  if (!bert)
    rel_bias_weights_ =
        ld.f32("encoder.relative_attention_bias.weight", {cfg_.relative_buckets, cfg_.heads});
  for (int l = 0; l < cfg_.layers; ++l) {
    const std::string p = fmt::format("encoder.layer.{}.", l);
    const std::string at = p + (bert ? "attention.self." : "attention.attn.");
    const std::vector<std::string> qkv =
        bert ? std::vector<std::string>{at + "query", at + "key", at + "value"}
             : std::vector<std::string>{at + "q", at + "k", at + "v"};
    const std::string o = bert ? p + "attention.output.dense" : at + "o";
    const std::string ln1 = bert ? p + "attention.output.LayerNorm" : p + "attention.LayerNorm";
    Layer L;
    L.qkv_w = be_.prepare_matmul_weight(
        ld.fused({qkv[0] + ".weight", qkv[1] + ".weight", qkv[2] + ".weight"}, {H, H}));
    L.qkv_b = ld.fused({qkv[0] + ".bias", qkv[1] + ".bias", qkv[2] + ".bias"}, {H});
    L.o_w = ld.matmul_weight(o + ".weight", {H, H});
    L.o_b = ld.get(o + ".bias", {H});
    L.ln1_w = ld.get(ln1 + ".weight", {H});
    L.ln1_b = ld.get(ln1 + ".bias", {H});
    L.up_w = ld.matmul_weight(p + "intermediate.dense.weight", {I, H});
    L.up_b = ld.get(p + "intermediate.dense.bias", {I});
    L.down_w = ld.matmul_weight(p + "output.dense.weight", {H, I});
    L.down_b = ld.get(p + "output.dense.bias", {H});
    L.ln2_w = ld.get(p + "output.LayerNorm.weight", {H});
    L.ln2_b = ld.get(p + "output.LayerNorm.bias", {H});
    layers_.push_back(std::move(L));
  }
}

std::vector<float> EncoderModel::forward(const std::vector<std::vector<int32_t>>& seqs) {
  const int64_t H = cfg_.hidden, I = cfg_.intermediate;
  StepInput words, positions;
  for (const auto& ids : seqs) {
    if (ids.empty()) fail("encoder: an empty sequence (the tokenizer adds special tokens)");
    if (int(ids.size()) > cfg_.max_seq_length)
      fail("encoder: a sequence of {} tokens exceeds max_seq_length {}", ids.size(),
           cfg_.max_seq_length);
    const int n = int(ids.size());
    // MPNet numbers real tokens from pad_id + 1 (transformers' create_position_ids_from_input_ids).
    const int first = cfg_.arch == EncoderArch::MPNet ? cfg_.pad_id + 1 : 0;
    for (int i = 0; i < n; ++i) {
      if (ids[size_t(i)] < 0 || ids[size_t(i)] >= cfg_.vocab)
        fail("encoder: token id {} outside the vocabulary [0, {})", ids[size_t(i)], cfg_.vocab);
      words.tokens.push_back(ids[size_t(i)]);
      words.positions.push_back(i);
      positions.tokens.push_back(first + i);
      positions.positions.push_back(i);
    }
    words.seqs.push_back({n, n, {}});
    positions.seqs.push_back({n, n, {}});
  }
  words.slot_mapping.assign(words.tokens.size(), 0);
  positions.slot_mapping.assign(positions.tokens.size(), 0);
  const int64_t T = words.num_tokens();
  if (T == 0) return {};

  const StepTensors sw = be_.upload_step(words), sp = be_.upload_step(positions);
  const DType act = be_.activation_dtype();
  Tensor x = be_.alloc(act, {T, H}), tmp = be_.alloc(act, {T, H}), ctx = be_.alloc(act, {T, H});
  Tensor qkv = be_.alloc(act, {T, 3 * H}), inter = be_.alloc(act, {T, I});
  be_.embed(word_, sw, x);
  be_.embed(pos_, sp, tmp);
  be_.add_layernorm(x, &tmp, emb_ln_w_, emb_ln_b_, cfg_.ln_eps);

  Tensor bias;
  if (cfg_.arch == EncoderArch::MPNet) {
    const int L = sw.max_q_len;
    const auto table =
        relative_bias_table(rel_bias_weights_, cfg_.relative_buckets, cfg_.heads, L);
    bias = be_.upload(table.data(), DType::F32, {cfg_.heads, 2 * int64_t(L) - 1}, false);
  }
  AttnShape a;
  a.n_heads = a.n_kv_heads = cfg_.heads;
  a.head_dim = cfg_.head_dim();
  a.scale = 1.f / std::sqrt(float(a.head_dim));
  for (const Layer& L : layers_) {
    be_.matmul(x, L.qkv_w, &L.qkv_b, qkv);
    be_.encoder_attention(qkv, sw, a, bias.data ? &bias : nullptr, ctx);
    be_.matmul(ctx, L.o_w, &L.o_b, tmp);
    be_.add_layernorm(x, &tmp, L.ln1_w, L.ln1_b, cfg_.ln_eps);
    be_.matmul(x, L.up_w, &L.up_b, inter);
    be_.gelu_erf(inter);
    be_.matmul(inter, L.down_w, &L.down_b, tmp);
    be_.add_layernorm(x, &tmp, L.ln2_w, L.ln2_b, cfg_.ln_eps);
  }
  if (act != DType::F32) fail("encoder: activations must be F32 to be read back, are {}", dtype_name(act));
  std::vector<float> out(size_t(T * H));
  be_.download(x, out.data());
  return out;
}

}  // namespace ember
