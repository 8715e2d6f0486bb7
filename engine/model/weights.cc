#include "engine/model/weights.h"

#include <cstring>

#include <fmt/ranges.h>

#include "engine/core/error.h"

namespace ember {

namespace {

struct Expected {
  std::string name;
  Shape shape;
};

std::string layer_prefix(int i) { return fmt::format("model.layers.{}.", i); }

// The checkpoint tensors an architecture needs, with the shapes the config implies.
std::vector<Expected> expected_tensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, D = c.head_dim;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  std::vector<Expected> e;
  e.push_back({"model.embed_tokens.weight", {V, H}});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    e.push_back({p + "input_layernorm.weight", {H}});
    if (c.arch == Arch::Phi3) {
      e.push_back({p + "self_attn.qkv_proj.weight", {Q + 2 * KV, H}});
    } else {
      e.push_back({p + "self_attn.q_proj.weight", {Q, H}});
      e.push_back({p + "self_attn.k_proj.weight", {KV, H}});
      e.push_back({p + "self_attn.v_proj.weight", {KV, H}});
      if (c.qkv_bias) {
        e.push_back({p + "self_attn.q_proj.bias", {Q}});
        e.push_back({p + "self_attn.k_proj.bias", {KV}});
        e.push_back({p + "self_attn.v_proj.bias", {KV}});
      }
    }
    if (c.qk_norm) {
      e.push_back({p + "self_attn.q_norm.weight", {D}});
      e.push_back({p + "self_attn.k_norm.weight", {D}});
    }
    e.push_back({p + "self_attn.o_proj.weight", {H, Q}});
    e.push_back({p + "post_attention_layernorm.weight", {H}});
    if (c.sandwich_norms) {
      e.push_back({p + "pre_feedforward_layernorm.weight", {H}});
      e.push_back({p + "post_feedforward_layernorm.weight", {H}});
    }
    if (c.arch == Arch::Phi3) {
      e.push_back({p + "mlp.gate_up_proj.weight", {2 * I, H}});
    } else {
      e.push_back({p + "mlp.gate_proj.weight", {I, H}});
      e.push_back({p + "mlp.up_proj.weight", {I, H}});
    }
    e.push_back({p + "mlp.down_proj.weight", {H, I}});
  }
  e.push_back({"model.norm.weight", {H}});
  if (!c.tie_word_embeddings) e.push_back({"lm_head.weight", {V, H}});
  return e;
}

bool is_float_weight(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Rows of one checkpoint tensor (dim 0); a fused weight is a list of these.
struct Piece {
  const TensorView* t;
  int64_t row0, rows;
};

size_t row_bytes(const TensorView& t) {
  return t.shape.empty() || t.shape[0] == 0 ? 0 : t.nbytes / size_t(t.shape[0]);
}

bool aligned(const void* p, DType t) {
  return reinterpret_cast<uintptr_t>(p) % dtype_size(t) == 0;
}

// Uploads the concatenation of `pieces` along dim 0. One piece is used in place from the mapping;
// several are copied into one host buffer first (upload copies it, so it may die after).
Tensor upload_rows(Backend& be, std::vector<Piece> pieces) {
  // Adjacent rows of the same tensor are one piece (Phi3's fused qkv at TP=1 stays in place).
  std::vector<Piece> merged;
  for (const Piece& p : pieces) {
    if (!merged.empty() && merged.back().t == p.t &&
        merged.back().row0 + merged.back().rows == p.row0)
      merged.back().rows += p.rows;
    else
      merged.push_back(p);
  }
  const TensorView& first = *merged[0].t;
  int64_t rows = 0;
  for (const Piece& p : merged) {
    if (p.t->dtype != first.dtype)
      fail("{}: tensor '{}' is {} but '{}' is {}; fused weights need one dtype", p.t->file,
           p.t->name, dtype_name(p.t->dtype), first.name, dtype_name(first.dtype));
    rows += p.rows;
  }
  Shape shape = first.shape;
  shape[0] = rows;
  if (merged.size() == 1) {
    const uint8_t* src = first.data + size_t(merged[0].row0) * row_bytes(first);
    return be.upload(src, first.dtype, shape, aligned(src, first.dtype));
  }
  std::vector<uint8_t> host;
  for (const Piece& p : merged) {
    const size_t rb = row_bytes(*p.t);
    const uint8_t* src = p.t->data + size_t(p.row0) * rb;
    host.insert(host.end(), src, src + size_t(p.rows) * rb);
  }
  return be.upload(host.data(), first.dtype, shape, false);
}

// Columns [c0, c0 + n) of a 2-D tensor (a Row-split weight's share of the input dim).
Tensor upload_cols(Backend& be, const TensorView& t, int64_t c0, int64_t n) {
  if (c0 == 0 && n == t.shape[1])
    return be.upload(t.data, t.dtype, t.shape, aligned(t.data, t.dtype));
  const size_t es = dtype_size(t.dtype), rb = row_bytes(t);
  std::vector<uint8_t> host(size_t(t.shape[0]) * size_t(n) * es);
  for (int64_t r = 0; r < t.shape[0]; ++r)
    std::memcpy(host.data() + size_t(r) * size_t(n) * es, t.data + size_t(r) * rb + size_t(c0) * es,
                size_t(n) * es);
  return be.upload(host.data(), t.dtype, {t.shape[0], n}, false);
}

class Loader {
 public:
  Loader(const ModelConfig& c, const WeightFiles& f, Backend& be, const ShardPlan& plan)
      : c_(c), f_(f), be_(be), plan_(plan) {
    plan.check(c);
    local_ = plan.local(c);
  }

  // A matmul weight as the backend reads it fastest (Backend::prepare_matmul_weight), prepared
  // here rather than after loading so that, once the backend has its copy, the mapped pages it
  // was made from can leave RSS at once: the peak stays near one copy of the weights.
  Tensor prepared(const Tensor& t, std::initializer_list<const TensorView*> sources) {
    // A weight that is one whole checkpoint tensor used in place (o_proj, down, lm_head at
    // TP=1) lets its pages go as the backend reads them: the lm_head is a large share of a small
    // model, and would otherwise sit in RSS twice until the end.
    const TensorView* in_place = nullptr;
    if (sources.size() == 1 && t.data == (*sources.begin())->data &&
        t.nbytes() == (*sources.begin())->nbytes)
      in_place = *sources.begin();
    Backend::RowsConsumed consumed;
    if (in_place && t.rows() > 0)
      consumed = [in_place, row_bytes = t.nbytes() / size_t(t.rows())](int64_t rows) {
        release_resident(*in_place, size_t(rows) * row_bytes);
      };
    Tensor out = be_.prepare_matmul_weight(t, consumed);
    const uint8_t* p = static_cast<const uint8_t*>(out.data);
    for (const TensorView* v : sources) {
      const bool aliases = p < v->data + v->nbytes && v->data < p + out.nbytes();
      if (!aliases) release_resident(*v);
    }
    return out;
  }

  // A norm weight as the factor it multiplies by (1 + w for Gemma); norms are replicated.
  Tensor norm(const std::string& name) {
    if (!c_.norm_plus_one) return whole("norm", name);
    const TensorView& t = f_.get(name);
    const std::vector<float> f = norm_plus_one(t.data, t.dtype, t.shape[0]);
    return be_.upload(f.data(), DType::F32, t.shape, false);
  }

  Tensor whole(const std::string& canonical, const std::string& name) {
    const TensorView& t = f_.get(name);
    switch (plan_.split_for(canonical)) {
      case Split::Replicated: return upload_rows(be_, {{&t, 0, t.shape[0]}});
      case Split::Column: return column(canonical, {{&t, 0, t.shape[0]}}, 1);
      case Split::Row: return row(canonical, t, 1);
    }
    return {};
  }

  // Rows [vocab_begin, vocab_end) of the embedding or lm_head: the rank's slice of the
  // vocabulary (all of it at TP=1).
  Tensor vocab_slice(const std::string& name) {
    const TensorView& t = f_.get(name);
    const int64_t b = plan_.vocab_begin(c_.vocab_size), e = plan_.vocab_end(c_.vocab_size);
    return upload_rows(be_, {{&t, b, e - b}});
  }

  // The rank's rows of q, k and v (weights or biases; each piece the whole of its part): its
  // query heads, and its KV heads, which are a copy of a shared one when there are fewer KV
  // heads than ranks.
  std::vector<Piece> qkv_rows(Piece q, Piece k, Piece v) const {
    const int64_t D = c_.head_dim, Qr = local_.q_dim(), KVr = local_.kv_dim();
    const int64_t k0 = int64_t(plan_.first_kv_head(c_)) * D;
    return {{q.t, q.row0 + plan_.rank * Qr, Qr}, {k.t, k.row0 + k0, KVr}, {v.t, v.row0 + k0, KVr}};
  }

  // A Column-split weight made of `parts` (q, k, v or gate, up): each rank takes its share of
  // every part, in units of `unit` rows (a head), and the shares are concatenated.
  Tensor column(const std::string& canonical, std::vector<Piece> parts, int64_t unit) {
    if (plan_.world == 1 || plan_.split_for(canonical) != Split::Column)
      return upload_rows(be_, parts);
    std::vector<Piece> mine;
    for (const Piece& p : parts) {
      if (p.rows % (unit * plan_.world) != 0)
        fail("{}: tensor '{}': {} rows ({} units of {}) cannot be split across {} ranks",
             p.t->file, p.t->name, p.rows, p.rows / unit, unit, plan_.world);
      const int64_t share = p.rows / plan_.world;
      mine.push_back({p.t, p.row0 + share * plan_.rank, share});
    }
    return upload_rows(be_, mine);
  }

  Tensor row(const std::string& canonical, const TensorView& t, int64_t unit) {
    const int64_t cols = t.shape[1];
    if (plan_.world == 1) return upload_cols(be_, t, 0, cols);
    if (cols % (unit * plan_.world) != 0)
      fail("{}: tensor '{}': {} columns cannot be split across {} ranks", t.file, t.name, cols,
           plan_.world);
    const int64_t share = cols / plan_.world;
    return upload_cols(be_, t, share * plan_.rank, share);
  }

  ModelWeights load() {
    ModelWeights w;
    const int64_t Q = c_.q_dim(), KV = c_.kv_dim(), I = c_.intermediate_size, D = c_.head_dim;
    w.embed = vocab_slice("model.embed_tokens.weight");
    for (int i = 0; i < c_.num_layers; ++i) {
      const std::string p = layer_prefix(i);
      const std::string cn = fmt::format("layers.{}.", i);
      LayerWeights l;
      l.attn_norm = norm(p + "input_layernorm.weight");
      if (c_.arch == Arch::Phi3) {
        const TensorView& qkv = f_.get(p + "self_attn.qkv_proj.weight");
        l.qkv = prepared(upload_rows(be_, qkv_rows({&qkv, 0, Q}, {&qkv, Q, KV}, {&qkv, Q + KV, KV})),
                         {&qkv});
        const TensorView& gu = f_.get(p + "mlp.gate_up_proj.weight");
        l.gate_up = prepared(column(cn + "gate_up", {{&gu, 0, I}, {&gu, I, I}}, 1), {&gu});
      } else {
        auto part = [&](const std::string& n) {
          const TensorView& t = f_.get(p + n);
          return Piece{&t, 0, t.shape[0]};
        };
        const Piece q = part("self_attn.q_proj.weight"), k = part("self_attn.k_proj.weight"),
                    v = part("self_attn.v_proj.weight");
        l.qkv = prepared(upload_rows(be_, qkv_rows(q, k, v)), {q.t, k.t, v.t});
        if (c_.qkv_bias)
          l.qkv_bias = upload_rows(be_, qkv_rows(part("self_attn.q_proj.bias"),
                                                 part("self_attn.k_proj.bias"),
                                                 part("self_attn.v_proj.bias")));
        const Piece gate = part("mlp.gate_proj.weight"), up = part("mlp.up_proj.weight");
        l.gate_up = prepared(column(cn + "gate_up", {gate, up}, 1), {gate.t, up.t});
      }
      if (c_.qk_norm) {
        l.q_norm = norm(p + "self_attn.q_norm.weight");
        l.k_norm = norm(p + "self_attn.k_norm.weight");
      }
      const TensorView& o = f_.get(p + "self_attn.o_proj.weight");
      l.o_proj = prepared(row(cn + "o_proj", o, D), {&o});
      // Gemma's post_attention_layernorm follows attention; its MLP norm is
      // pre_feedforward_layernorm. Elsewhere post_attention_layernorm is the MLP's norm.
      if (c_.sandwich_norms) {
        l.post_attn_norm = norm(p + "post_attention_layernorm.weight");
        l.mlp_norm = norm(p + "pre_feedforward_layernorm.weight");
        l.post_mlp_norm = norm(p + "post_feedforward_layernorm.weight");
      } else {
        l.mlp_norm = norm(p + "post_attention_layernorm.weight");
      }
      const TensorView& down = f_.get(p + "mlp.down_proj.weight");
      l.down = prepared(row(cn + "down", down, 1), {&down});
      w.layers.push_back(std::move(l));
    }
    w.final_norm = norm("model.norm.weight");
    // A tied lm_head gets its own prepared copy; the embedding stays row-major for its gather.
    const TensorView& head = f_.get(c_.tie_word_embeddings ? "model.embed_tokens.weight"
                                                           : "lm_head.weight");
    w.lm_head = prepared(c_.tie_word_embeddings ? w.embed : vocab_slice(head.name), {&head});
    upload_rope(c_, be_, w);
    return w;
  }

 private:
  const ModelConfig& c_;
  const WeightFiles& f_;
  Backend& be_;
  const ShardPlan& plan_;
  ModelConfig local_;  // the rank's shapes
};

}  // namespace

std::vector<float> norm_plus_one(const void* w, DType dtype, int64_t n) {
  std::vector<float> f(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) f[size_t(i)] = 1.0f + load_as_f32(w, dtype, size_t(i));
  return f;
}

void upload_rope(const ModelConfig& cfg, Backend& be, ModelWeights& w) {
  const std::vector<float> inv = rope_inv_freq(cfg);
  w.inv_freq = be.upload(inv.data(), DType::F32, {int64_t(inv.size())}, false);
  if (cfg.rope_local_theta > 0) {
    const std::vector<float> loc = rope_inv_freq(cfg, true);
    w.inv_freq_local = be.upload(loc.data(), DType::F32, {int64_t(loc.size())}, false);
  }
}

Split ShardPlan::split_for(const std::string& canonical_name) const {
  const auto dot = canonical_name.rfind('.');
  const std::string leaf = dot == std::string::npos ? canonical_name : canonical_name.substr(dot + 1);
  if (leaf == "qkv" || leaf == "qkv_bias" || leaf == "gate_up") return Split::Column;
  if (leaf == "o_proj" || leaf == "down") return Split::Row;
  if (leaf == "embed" || leaf == "lm_head") return Split::Column;  // by vocabulary rows
  return Split::Replicated;  // the norms
}

void ShardPlan::check(const ModelConfig& c) const {
  if (world < 1) fail("--tensor-parallel-size {} must be at least 1", world);
  if (rank < 0 || rank >= world) fail("shard plan: rank {} of world {} is invalid", rank, world);
  if (world == 1) return;
  if (c.num_heads % world)
    fail("--tensor-parallel-size {} does not divide {} query heads", world, c.num_heads);
  if (c.num_kv_heads >= world && c.num_kv_heads % world)
    fail("--tensor-parallel-size {} does not divide {} KV heads", world, c.num_kv_heads);
  // Fewer KV heads than ranks: each KV head is copied to world / num_kv_heads ranks, whose
  // query heads are then exactly the ones that share it.
  if (c.num_kv_heads < world && world % c.num_kv_heads)
    fail("--tensor-parallel-size {} is not a multiple of {} KV heads (with fewer KV heads than "
         "ranks, each KV head is copied to the same number of ranks)",
         world, c.num_kv_heads);
  if (c.intermediate_size % world)
    fail("--tensor-parallel-size {} does not divide the MLP's intermediate size {}", world,
         c.intermediate_size);
  if (c.vocab_size < world)
    fail("--tensor-parallel-size {} exceeds the vocabulary of {}", world, c.vocab_size);
}

ModelConfig ShardPlan::local(const ModelConfig& c) const {
  check(c);
  ModelConfig l = c;
  l.num_heads = c.num_heads / world;
  l.num_kv_heads = c.num_kv_heads >= world ? c.num_kv_heads / world : 1;
  l.intermediate_size = c.intermediate_size / world;
  l.vocab_size = int(vocab_end(c.vocab_size) - vocab_begin(c.vocab_size));
  return l;
}

int ShardPlan::first_kv_head(const ModelConfig& c) const {
  if (c.num_kv_heads >= world) return rank * (c.num_kv_heads / world);
  return rank / (world / c.num_kv_heads);
}

size_t shard_weight_bytes(const ModelConfig& c, const WeightFiles& files, const ShardPlan& plan) {
  const ModelConfig l = plan.local(c);
  double total = 0;
  for (const auto& entry : files.all()) {
    // A named reference, not a structured binding: clang (the fuzz build) cannot capture those.
    const std::string& name = entry.first;
    const auto& t = entry.second;
    auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
    double share = 1;  // norms
    if (has("embed_tokens") || has("lm_head"))
      share = double(l.vocab_size) / c.vocab_size;
    else if (has("qkv_proj"))
      share = double(l.q_dim() + 2 * l.kv_dim()) / double(c.q_dim() + 2 * c.kv_dim());
    else if (has("q_proj"))
      share = double(l.num_heads) / c.num_heads;
    else if (has("k_proj") || has("v_proj"))  // a copied KV head counts on every rank
      share = double(l.num_kv_heads) / c.num_kv_heads;
    else if (has("o_proj") || has("gate_proj") || has("up_proj") || has("gate_up_proj") ||
             has("down_proj"))
      share = 1.0 / plan.world;
    total += double(t->nbytes) * share;
  }
  return size_t(total);
}

void check_weights(const ModelConfig& cfg, const WeightFiles& files, const ProgressFn& progress) {
  const std::vector<Expected> expected = expected_tensors(cfg);
  LoadProgress p;
  p.tensors_total = expected.size();
  for (const Expected& e : expected) {
    const TensorView* t = files.find(e.name);
    if (!t) {
      if (e.name == "lm_head.weight")
        fail("lm_head.weight is missing and config.json has tie_word_embeddings=false");
      files.get(e.name);  // throws, naming where it looked
    }
    if (!is_float_weight(t->dtype))
      fail("{}: tensor '{}': dtype {} is not supported (weights must be F32, F16 or BF16)",
           t->file, t->name, dtype_name(t->dtype));
    if (t->shape != e.shape)
      fail("{}: tensor '{}': expected shape [{}] from config.json, got [{}]", t->file, t->name,
           fmt::join(e.shape, ", "), fmt::join(t->shape, ", "));
    ++p.tensors_checked;
    if (progress && (p.tensors_checked % 64 == 0 || p.tensors_checked == p.tensors_total))
      progress(p);
  }
}

ModelWeights load_weights(const ModelConfig& cfg, const WeightFiles& files, Backend& backend,
                          const ShardPlan& plan, const ProgressFn& progress) {
  check_weights(cfg, files, progress);
  return Loader(cfg, files, backend, plan).load();
}

}  // namespace ember
