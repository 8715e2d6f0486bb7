// The forward pass, written once against the Backend op set. Per layer:
//   x = norm(h); qkv = x·Wqkv (+b); [qk-norm]; RoPE + KV store; attention; h += [norm](attn·Wo);
//   x = norm(h); h += [norm](down(act(gate) * up))
// The bracketed norms are Gemma's sandwich norms; act is SiLU or Gemma's tanh GELU.
// The residual add is fused into the next norm (add_rmsnorm), so `h` is updated lazily.
#include "engine/model/transformer.h"

#include <cmath>

#include "engine/core/error.h"

namespace ember {

struct TransformerScratch {
  int64_t tokens = 0, rows = 0;  // capacities
  uint64_t generation = 0;       // bumped whenever a buffer moves
  Tensor resid, normed, qkv, attn, proj, post, gate_up, act, sel, logits;
  Tensor sel_qkv, sel_resid;  // the logit rows' qkv and residual in the last layer
};

namespace {

// The first `rows` rows of a scratch buffer.
Tensor rows_of(const Tensor& t, int64_t rows) {
  Tensor v = t;
  v.shape = {rows, t.cols()};
  return v;
}

// The step's logit rows as a step of their own: one query token each, over its context up to
// its position (its K and V are already in the cache), in logit-row order.
StepInput logit_row_step(const StepInput& in) {
  std::vector<int32_t> seq_of;
  seq_of.reserve(in.tokens.size());
  for (size_t s = 0; s < in.seqs.size(); ++s)
    seq_of.insert(seq_of.end(), size_t(in.seqs[s].q_len), int32_t(s));
  StepInput out;
  for (const int32_t r : in.logit_rows) {
    const size_t i = size_t(r);
    out.logit_rows.push_back(int32_t(out.tokens.size()));
    out.tokens.push_back(in.tokens[i]);
    out.positions.push_back(in.positions[i]);
    out.slot_mapping.push_back(in.slot_mapping[i]);
    out.seqs.push_back(SeqStep{1, in.positions[i] + 1, in.seqs[size_t(seq_of[i])].block_table});
  }
  return out;
}

}  // namespace

Transformer::Transformer(const ModelConfig& cfg, Backend& backend, ModelWeights weights,
                         const ShardPlan& plan)
    : cfg_(plan.local(cfg)), plan_(plan), input_vocab_(cfg.vocab_size),
      vocab_begin_(plan.vocab_begin(cfg.vocab_size)), backend_(backend), w_(std::move(weights)),
      scratch_(std::make_shared<TransformerScratch>()) {
  if (int(w_.layers.size()) != cfg_.num_layers)
    fail("transformer: {} layers of weights for a config of {}", w_.layers.size(),
         cfg_.num_layers);
  // load_weights prepared these already (preparing is idempotent); weights made another way
  // (dummy weights, tests) are prepared here. A tied lm_head gets its own prepared copy; the
  // embedding stays row-major for its gather.
  for (LayerWeights& lw : w_.layers)
    for (Tensor* t : {&lw.qkv, &lw.o_proj, &lw.gate_up, &lw.down})
      *t = backend_.prepare_matmul_weight(*t);
  w_.lm_head = backend_.prepare_matmul_weight(w_.lm_head);
}

KvCacheSpec Transformer::kv_spec(int num_blocks, int block_size,
                                 std::optional<DType> dtype) const {
  KvCacheSpec s;
  s.num_layers = cfg_.num_layers;
  s.num_blocks = num_blocks;
  s.block_size = block_size;
  s.num_kv_heads = cfg_.num_kv_heads;
  s.head_dim = cfg_.head_dim;
  s.dtype = dtype.value_or(backend_.activation_dtype());
  return s;
}

void Transformer::reserve(int64_t T, int64_t R) {
  TransformerScratch& s = *scratch_;
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size, V = cfg_.vocab_size;
  const int64_t qkv_w = int64_t(cfg_.num_heads + 2 * cfg_.num_kv_heads) * cfg_.head_dim;
  const DType act = backend_.activation_dtype();
  if (T > s.tokens) {
    s.tokens = T;
    s.resid = backend_.alloc(act, {T, H});
    s.normed = backend_.alloc(act, {T, H});
    s.qkv = backend_.alloc(act, {T, qkv_w});
    s.attn = backend_.alloc(act, {T, int64_t(cfg_.q_dim())});
    s.proj = backend_.alloc(act, {T, H});
    if (cfg_.sandwich_norms) s.post = backend_.alloc(act, {T, H});
    s.gate_up = backend_.alloc(act, {T, 2 * I});
    s.act = backend_.alloc(act, {T, I});
    ++s.generation;
  }
  if (R > s.rows) {
    s.rows = R;
    s.sel = backend_.alloc(act, {R, H});
    s.logits = backend_.alloc(DType::F32, {R, V});
    s.sel_qkv = backend_.alloc(act, {R, qkv_w});
    s.sel_resid = backend_.alloc(act, {R, H});
    ++s.generation;
  }
}

uint64_t Transformer::scratch_generation() const { return scratch_->generation; }

void Transformer::forward(const StepInput& step, KvCache& kv, std::vector<float>& logits) {
  const StepTensors st = backend_.upload_step(step);
  const int64_t R = int64_t(step.logit_rows.size());
  logits.assign(size_t(R * cfg_.vocab_size), 0.f);
  if (st.num_tokens == 0) return;
  Tensor out = forward_device(st, kv);
  if (R > 0) backend_.download(out, logits.data());
}

Tensor Transformer::forward_logits(const StepInput& step, KvCache& kv) {
  const StepTensors st = backend_.upload_step(step);
  return forward_device(st, kv);
}

Tensor Transformer::forward_device(const StepTensors& st, KvCache& kv) {
  const int64_t T = st.num_tokens, R = int64_t(st.host->logit_rows.size());
  reserve(T, R);
  TransformerScratch& s = *scratch_;
  if (T == 0) return rows_of(s.logits, 0);
  Tensor resid = rows_of(s.resid, T), normed = rows_of(s.normed, T), qkv = rows_of(s.qkv, T);
  Tensor attn = rows_of(s.attn, T), proj = rows_of(s.proj, T);
  Tensor post = cfg_.sandwich_norms ? rows_of(s.post, T) : Tensor{};
  Tensor gate_up = rows_of(s.gate_up, T), actv = rows_of(s.act, T);

  AttnShape a;
  a.n_heads = cfg_.num_heads;
  a.n_kv_heads = cfg_.num_kv_heads;
  a.head_dim = cfg_.head_dim;
  a.scale = float(1.0 / std::sqrt(cfg_.query_pre_attn_scalar > 0 ? cfg_.query_pre_attn_scalar
                                                                  : double(cfg_.head_dim)));
  a.logit_softcap = float(cfg_.attn_logit_softcap);
  const float eps = float(cfg_.rms_norm_eps);
  Backend& be = backend_;

  if (plan_.world == 1) {
    be.embed(w_.embed, st, resid);
  } else {  // each rank embeds the ids of its vocabulary slice; the sum adds the others' rows
    be.embed_shard(w_.embed, st, vocab_begin_, input_vocab_, resid);
    be.all_reduce(resid);
  }
  // transformers multiplies by sqrt(hidden_size) rounded to the activation dtype (fp32 here).
  if (cfg_.scale_embedding) be.scale(resid, float(std::sqrt(double(cfg_.hidden_size))));
  // What the next norm adds to the residual first: the last output projection, or its norm.
  const Tensor* delta = &proj;
  // A step with rows whose logits nobody wants (a prompt's chunk) runs the last layer's
  // attention, output projection and MLP on the logit rows alone, once every row's K and V are
  // in the cache (none at all when no row wants logits): about 7% of a prefill's work on a
  // 12-layer model. Every op is row-wise, so those rows get the logits the whole step would
  // give them (bit for bit on the CPU, whose kernels do not depend on the batch).
  const bool prune = R > 0 && R < T;
  StepInput rows_in;
  StepTensors rows_st;
  const StepTensors* at = &st;  // the step from the attention on
  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& lw = w_.layers[size_t(l)];
    a.sliding_window = cfg_.layer_is_sliding(l) ? cfg_.sliding_window : 0;
    if (l == 0)
      be.rmsnorm(resid, lw.attn_norm, eps, normed);
    else
      be.add_rmsnorm(resid, *delta, lw.attn_norm, eps, normed);  // adds the previous MLP output
    be.matmul(normed, lw.qkv, lw.qkv_bias ? &*lw.qkv_bias : nullptr, qkv);
    if (cfg_.qk_norm) {
      if (!lw.q_norm || !lw.k_norm) fail("transformer: layer {} lacks q_norm/k_norm weights", l);
      be.qk_rmsnorm(qkv, *lw.q_norm, *lw.k_norm, eps, a);
    }
    be.rope_and_store_kv(qkv, w_.layer_inv_freq(cfg_, l), st, a, kv, l);
    const bool last = l == cfg_.num_layers - 1;
    if (last && R == 0) break;
    if (last && prune) {
      Tensor sel_qkv = rows_of(s.sel_qkv, R), sel_resid = rows_of(s.sel_resid, R);
      be.gather_rows(qkv, st, sel_qkv);
      be.gather_rows(resid, st, sel_resid);
      rows_in = logit_row_step(*st.host);
      rows_st = be.upload_step(rows_in);  // after the gathers: on CUDA it reuses st's buffer
      at = &rows_st;
      qkv = sel_qkv;
      resid = sel_resid;
      normed = rows_of(s.normed, R);
      attn = rows_of(s.attn, R);
      proj = rows_of(s.proj, R);
      if (cfg_.sandwich_norms) post = rows_of(s.post, R);
      gate_up = rows_of(s.gate_up, R);
      actv = rows_of(s.act, R);
    }
    be.paged_attention(qkv, kv, l, *at, a, attn);
    be.matmul(attn, lw.o_proj, nullptr, proj);
    be.all_reduce(proj);
    delta = &proj;
    if (lw.post_attn_norm) {
      be.rmsnorm(proj, *lw.post_attn_norm, eps, post);
      delta = &post;
    }
    be.add_rmsnorm(resid, *delta, lw.mlp_norm, eps, normed);
    be.matmul(normed, lw.gate_up, nullptr, gate_up);
    if (cfg_.hidden_act == Activation::GeluTanh)
      be.gelu_tanh_mul(gate_up, actv);
    else
      be.silu_mul(gate_up, actv);
    be.matmul(actv, lw.down, nullptr, proj);
    be.all_reduce(proj);
    delta = &proj;
    if (lw.post_mlp_norm) {
      be.rmsnorm(proj, *lw.post_mlp_norm, eps, post);
      delta = &post;
    }
  }
  Tensor out = rows_of(s.logits, R);
  if (R == 0) return out;
  be.add_rmsnorm(resid, *delta, w_.final_norm, eps, normed);
  if (prune) {
    be.matmul(normed, w_.lm_head, nullptr, out);
  } else {
    Tensor sel = rows_of(s.sel, R);
    be.gather_rows(normed, st, sel);
    be.matmul(sel, w_.lm_head, nullptr, out);
  }
  if (cfg_.final_logit_softcap > 0) be.softcap(out, float(cfg_.final_logit_softcap));
  return out;
}

}  // namespace ember
