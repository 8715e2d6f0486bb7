// The CUDA implementation of the op set. Host code only: it validates shapes and dtypes (bad
// input gets an ember::Error, never a bad launch), manages device memory, and calls the
// kernel launchers in ops.h and the cuBLASLt wrapper. All work goes on one stream, in order.
#include "kernels/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>

#include "engine/core/error.h"
#include "engine/dist/communicator.h"
#include "engine/sample/sampler_slots.h"
#include "kernels/cuda_check.h"
#include "kernels/device_pool.h"
#include "kernels/gemm_lt.h"
#include "kernels/logit_edit_plan.h"
#include "kernels/ops.h"

namespace ember {
namespace {

static_assert(int(DType::F32) == cuda::kF32 && int(DType::F16) == cuda::kF16 &&
              int(DType::BF16) == cuda::kBF16);

constexpr size_t kReserveBytes = size_t(256) << 20;  // cuBLASLt, CUB, fragmentation

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

std::shared_ptr<void> device_malloc(size_t bytes) {
  void* p = nullptr;
  if (bytes) EMBER_CUDA_CHECK(cudaMalloc(&p, bytes));
  return std::shared_ptr<void>(p, [](void* q) {
    if (q) cudaFree(q);
  });
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

void expect(bool ok, const char* op, const std::string& what) {
  if (!ok) fail("cuda backend: {}: {}", op, what);
}

// A host buffer in pinned memory, reused across steps; `ready` is recorded after the copy
// that reads it, and waited on before it is written again.
struct PinnedStaging {
  void* host = nullptr;
  size_t cap = 0;
  cudaEvent_t ready = nullptr;

  ~PinnedStaging() {
    if (host) cudaFreeHost(host);
    if (ready) cudaEventDestroy(ready);
  }
  void* acquire(size_t bytes) {
    if (!ready) EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    EMBER_CUDA_CHECK(cudaEventSynchronize(ready));
    if (bytes > cap) {
      if (host) EMBER_CUDA_CHECK(cudaFreeHost(host));
      host = nullptr;
      cap = std::max(bytes, cap * 2);
      EMBER_CUDA_CHECK(cudaMallocHost(&host, cap));
    }
    return host;
  }
  void release(cudaStream_t s) { EMBER_CUDA_CHECK(cudaEventRecord(ready, s)); }
};

// A device scratch buffer that only grows (the first steps of a run size it). With
// keep_outgrown, outgrown buffers are kept, not freed: a CUDA graph captured earlier may still
// hold their addresses (geometric growth bounds the waste to twice the final size).
struct Scratch {
  std::shared_ptr<void> mem;
  std::vector<std::shared_ptr<void>> retired;
  size_t cap = 0;
  bool keep_outgrown = false;
  void* get(size_t bytes) {
    if (bytes > cap) {
      if (mem && keep_outgrown) retired.push_back(std::move(mem));
      mem.reset();
      cap = std::max(bytes, cap + cap / 2);
      mem = device_malloc(cap);
    }
    return mem.get();
  }
};

class CudaBackendImpl final : public CudaBackend {
 public:
  explicit CudaBackendImpl(const CudaBackendOptions& o)
      : device_(o.device), fraction_(o.gpu_memory_fraction), act_(o.activations) {
    if (act_ != DType::BF16 && act_ != DType::F32)
      fail("cuda backend: activations must be BF16 or F32, not {}", dtype_name(act_));
    if (!(fraction_ > 0.0 && fraction_ <= 1.0))
      fail("cuda backend: --gpu-memory-fraction={} must be in (0, 1]", fraction_);
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0)
      fail("cuda backend: no CUDA device is available");
    if (device_ < 0 || device_ >= count)
      fail("cuda backend: device {} does not exist ({} found)", device_, count);
    EMBER_CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    num_sms_ = prop.multiProcessorCount;
    gpu_name_ = prop.name;
    EMBER_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<cuda::GemmLt>();
    pool_ = std::make_shared<cuda::DevicePool>();
    partials_.keep_outgrown = true;  // written by decode attention inside captured graphs
  }

  ~CudaBackendImpl() override {
    cudaStreamSynchronize(stream_);
    gemm_.reset();
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_) + " " + gpu_name_; }
  DType activation_dtype() const override { return act_; }
  int device() const override { return device_; }
  void* stream_handle() const override { return stream_; }

  // Memory ------------------------------------------------------------------------------------
  Tensor alloc(DType dtype, const Shape& shape) override {
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    t.owner = pool_->get(std::max<size_t>(t.nbytes(), 1));
    t.data = t.owner.get();
    return t;
  }

  Tensor upload(const void* data, DType dtype, const Shape& shape, bool) override {
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    t.owner = device_malloc(t.nbytes());
    t.data = t.owner.get();
    if (t.nbytes()) {
      EMBER_CUDA_CHECK(cudaMemcpyAsync(t.data, data, t.nbytes(), cudaMemcpyHostToDevice, stream_));
      EMBER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    return t;
  }

  void download(const Tensor& src, void* dst) override {
    if (!src.nbytes()) return;
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_));
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  StepTensors upload_step(const StepInput& step) override;

  KvCache alloc_kv_cache(const KvCacheSpec& requested) override {
    KvCacheSpec spec = requested;
    spec.dtype = act_;
    expect(spec.num_layers > 0 && spec.block_size > 0 && spec.num_kv_heads > 0 &&
               spec.head_dim > 0,
           "alloc_kv_cache", "layers, block size, kv heads and head dim must be positive");
    const size_t per_block = size_t(2) * spec.num_layers * spec.block_size * spec.num_kv_heads *
                             spec.head_dim * dtype_size(spec.dtype);
    if (spec.num_blocks <= 0) {
      const size_t budget = kv_budget_bytes();
      spec.num_blocks = int(std::min<size_t>(budget / per_block, size_t(1) << 30));
      if (spec.num_blocks == 0)
        fail("cuda backend: no memory left for the KV cache ({} MiB budget at "
             "--gpu-memory-fraction={}, one block needs {} KiB)",
             budget >> 20, fraction_, per_block >> 10);
    }
    KvCache kv;
    kv.spec = spec;
    std::shared_ptr<void> mem = device_malloc(spec.bytes());
    EMBER_CUDA_CHECK(cudaMemsetAsync(mem.get(), 0, spec.bytes(), stream_));
    const size_t layer_bytes = spec.bytes() / (2 * size_t(spec.num_layers));
    const Shape shape{spec.num_blocks, spec.block_size, spec.num_kv_heads, spec.head_dim};
    auto* base = static_cast<unsigned char*>(mem.get());
    for (int l = 0; l < spec.num_layers; ++l) {
      for (int kvi = 0; kvi < 2; ++kvi) {
        Tensor t;
        t.dtype = spec.dtype;
        t.shape = shape;
        t.owner = mem;
        t.data = base + (size_t(2) * l + kvi) * layer_bytes;
        (kvi == 0 ? kv.k : kv.v).push_back(std::move(t));
      }
    }
    return kv;
  }

  // One cudaMemcpy2DAsync per pair moves the block in every pool at once when the pools sit at a
  // fixed stride (K0, V0, K1, V1, ... as alloc_kv_cache lays them out); otherwise one copy per
  // pool. Stream-ordered after the step that wrote src, before the next that reads dst; no
  // device allocation, so it is safe between graph replays.
  void copy_kv_blocks(KvCache& kv,
                      std::span<const std::pair<int32_t, int32_t>> src_dst) override {
    check_kv_block_copies(kv.spec, src_dst);
    const auto& s = kv.spec;
    const int pools = 2 * s.num_layers;
    expect(int(kv.k.size()) == s.num_layers && int(kv.v.size()) == s.num_layers,
           "copy_kv_blocks", "the cache has fewer pools than its spec's layers");
    const size_t block_bytes =
        size_t(s.block_size) * size_t(s.num_kv_heads) * size_t(s.head_dim) * dtype_size(s.dtype);
    auto pool = [&](int i) {
      return static_cast<unsigned char*>((i % 2 ? kv.v : kv.k)[size_t(i / 2)].data);
    };
    unsigned char* base = pool(0);
    // cudaMemcpy2D's pitch limit (cudaDevProp::memPitch) is 2^31 - 1 on current devices.
    const ptrdiff_t pitch = pool(1) - base;
    bool strided = pitch >= ptrdiff_t(block_bytes) && pitch <= ptrdiff_t(INT32_MAX);
    for (int i = 1; strided && i < pools; ++i) strided = pool(i) == base + ptrdiff_t(i) * pitch;
    for (const auto& [src, dst] : src_dst) {
      if (src == dst) continue;
      const size_t so = size_t(src) * block_bytes, d = size_t(dst) * block_bytes;
      if (strided) {
        EMBER_CUDA_CHECK(cudaMemcpy2DAsync(base + d, size_t(pitch), base + so, size_t(pitch),
                                           block_bytes, size_t(pools),
                                           cudaMemcpyDeviceToDevice, stream_));
      } else {
        for (int i = 0; i < pools; ++i)
          EMBER_CUDA_CHECK(cudaMemcpyAsync(pool(i) + d, pool(i) + so, block_bytes,
                                           cudaMemcpyDeviceToDevice, stream_));
      }
    }
  }

  size_t kv_memory_available() const override { return kv_budget_bytes(); }

  size_t kv_budget_bytes() const override {
    size_t free = 0, total = 0;
    EMBER_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    const double allowed = fraction_ * double(total) - double(total - free) -
                           double(kReserveBytes);
    return allowed > 0 ? size_t(allowed) : 0;
  }

  // Ops ---------------------------------------------------------------------------------------
  void embed(const Tensor& table, const StepTensors& step, Tensor& out) override {
    embed_shard(table, step, 0, table.shape.empty() ? 0 : table.shape[0], out);
  }

  void embed_shard(const Tensor& table, const StepTensors& step, int64_t first_id, int64_t vocab,
                   Tensor& out) override {
    expect(table.shape.size() == 2 && is_float(table.dtype), "embed",
           "table must be a 2-D float tensor, got " + shape_str(table.shape));
    expect_act(out, "embed", "out");
    expect(out.rows() == step.num_tokens && out.cols() == table.cols(), "embed",
           "out " + shape_str(out.shape) + " for " + std::to_string(step.num_tokens) +
               " tokens of width " + std::to_string(table.cols()));
    expect(first_id >= 0 && first_id + table.shape[0] <= vocab, "embed",
           "table rows outside the vocab of " + std::to_string(vocab));
    for (int32_t t : step.host->tokens)
      if (t < 0 || t >= vocab) fail("cuda backend: embed: token id {} outside vocab of {}", t, vocab);
    cuda::embed(table.data, int(table.dtype), int(table.cols()), first_id, table.shape[0],
                step.tokens.as<int32_t>(), step.num_tokens, out.data, int(act_), stream_);
  }

  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& out) override {
    expect_act(x, "rmsnorm", "x");
    expect_act(out, "rmsnorm", "out");
    expect(out.shape == x.shape && w.numel() == x.cols() && is_float(w.dtype), "rmsnorm",
           "x " + shape_str(x.shape) + ", w " + shape_str(w.shape) + ", out " + shape_str(out.shape));
    cuda::rmsnorm(x.data, w.data, int(w.dtype), out.data, int(act_), int(x.rows()), int(x.cols()),
                  eps, stream_);
  }

  void add_rmsnorm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                   Tensor& out) override {
    expect_act(residual, "add_rmsnorm", "residual");
    expect_act(x, "add_rmsnorm", "x");
    expect_act(out, "add_rmsnorm", "out");
    expect(x.shape == residual.shape && out.shape == x.shape && w.numel() == x.cols() &&
               is_float(w.dtype),
           "add_rmsnorm",
           "residual " + shape_str(residual.shape) + ", x " + shape_str(x.shape) + ", w " +
               shape_str(w.shape) + ", out " + shape_str(out.shape));
    cuda::add_rmsnorm(residual.data, x.data, w.data, int(w.dtype), out.data, int(act_),
                      int(x.rows()), int(x.cols()), eps, stream_);
  }

  void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) override {
    expect_act(x, "matmul", "x");
    expect(w.shape.size() == 2 && is_float(w.dtype), "matmul",
           "w must be a 2-D float tensor, got " + shape_str(w.shape));
    const int64_t M = x.rows(), K = x.cols(), N = w.shape[0];
    expect(w.shape[1] == K && out.rows() == M && out.cols() == N, "matmul",
           "x " + shape_str(x.shape) + " · w " + shape_str(w.shape) + "ᵀ into " +
               shape_str(out.shape));
    expect(out.dtype == act_ || out.dtype == DType::F32, "matmul",
           "out must be the activation dtype or F32");
    const void* wp = converted(w, act_);
    const void* bp = nullptr;
    if (bias) {
      expect(bias->numel() == N && is_float(bias->dtype), "matmul",
             "bias " + shape_str(bias->shape) + " for N=" + std::to_string(N));
      bp = converted(*bias, out.dtype);
    }
    gemm_->run(x.data, wp, bp, out.data, M, N, K, int(act_), int(out.dtype), stream_);
  }

  void qk_rmsnorm(Tensor& qkv, const Tensor& q_w, const Tensor& k_w, float eps,
                  const AttnShape& a) override {
    expect_act(qkv, "qk_rmsnorm", "qkv");
    check_attn_shape(a, "qk_rmsnorm");
    expect(qkv.cols() == int64_t(a.n_heads + 2 * a.n_kv_heads) * a.head_dim, "qk_rmsnorm",
           "qkv " + shape_str(qkv.shape) + " does not match the heads");
    expect(q_w.numel() == a.head_dim && k_w.numel() == a.head_dim && is_float(q_w.dtype),
           "qk_rmsnorm", "q/k norm weights must have head_dim elements");
    const void* kw = converted(k_w, q_w.dtype);
    cuda::qk_rmsnorm(qkv.data, q_w.data, kw, int(q_w.dtype), int(act_), int(qkv.rows()),
                     a.n_heads, a.n_kv_heads, a.head_dim, eps, stream_);
  }

  void rope_and_store_kv(Tensor& qkv, const Tensor& inv_freq, const StepTensors& step,
                         const AttnShape& a, KvCache& kv, int layer) override {
    expect_act(qkv, "rope_and_store_kv", "qkv");
    check_attn_shape(a, "rope_and_store_kv");
    check_kv(kv, layer, a, "rope_and_store_kv");
    expect(qkv.rows() == step.num_tokens &&
               qkv.cols() == int64_t(a.n_heads + 2 * a.n_kv_heads) * a.head_dim,
           "rope_and_store_kv", "qkv " + shape_str(qkv.shape) + " does not match the step");
    expect(inv_freq.dtype == DType::F32 && inv_freq.numel() == a.head_dim / 2,
           "rope_and_store_kv", "inv_freq must be F32 [head_dim / 2]");
    validate_step_against(step, kv);
    cuda::rope_store_kv(qkv.data, int(act_), inv_freq.as<float>(), step.positions.as<int32_t>(),
                        step.slot_mapping.as<int32_t>(), step.num_tokens, a.n_heads,
                        a.n_kv_heads, a.head_dim, kv.k[layer].data, kv.v[layer].data, stream_);
  }

  void paged_attention(const Tensor& qkv, const KvCache& kv, int layer, const StepTensors& step,
                       const AttnShape& a, Tensor& out) override {
    expect_act(qkv, "paged_attention", "qkv");
    expect_act(out, "paged_attention", "out");
    check_attn_shape(a, "paged_attention");
    check_kv(kv, layer, a, "paged_attention");
    expect(qkv.rows() == step.num_tokens &&
               qkv.cols() == int64_t(a.n_heads + 2 * a.n_kv_heads) * a.head_dim &&
               out.rows() == step.num_tokens && out.cols() == int64_t(a.n_heads) * a.head_dim,
           "paged_attention",
           "qkv " + shape_str(qkv.shape) + ", out " + shape_str(out.shape) + " for " +
               std::to_string(step.num_tokens) + " tokens");
    validate_step_against(step, kv);
    cuda::AttnArgs args;
    args.qkv = qkv.data;
    args.out = out.data;
    args.k_cache = kv.k[layer].data;
    args.v_cache = kv.v[layer].data;
    args.seq_info = step.seq_info.as<int32_t>();
    args.block_tables = step.block_tables.as<int32_t>();
    args.max_blocks = step.max_blocks_per_seq;
    args.num_seqs = step.num_seqs;
    args.max_q_len = step.max_q_len;
    args.max_ctx_len = step.max_ctx_len;
    args.n_heads = a.n_heads;
    args.n_kv_heads = a.n_kv_heads;
    args.head_dim = a.head_dim;
    args.block_size = kv.spec.block_size;
    args.scale = a.scale;
    args.softcap = a.logit_softcap;
    args.window = a.sliding_window;
    args.act = int(act_);
    if (step.max_q_len == 1) {
      const int splits = cuda::decode_num_splits(step.num_seqs, a.n_kv_heads, a.n_heads,
                                                 step.max_ctx_len, num_sms_);
      const size_t n = cuda::decode_partials_floats(step.num_seqs, a.n_heads, a.head_dim, splits);
      float* partials = n ? static_cast<float*>(partials_.get(n * sizeof(float))) : nullptr;
      cuda::attention_decode(args, splits, partials, stream_);
    } else {
      cuda::attention_prefill(args, stream_);
    }
  }

  void silu_mul(const Tensor& gate_up, Tensor& out) override {
    expect_act(gate_up, "silu_mul", "gate_up");
    expect_act(out, "silu_mul", "out");
    expect(gate_up.rows() == out.rows() && gate_up.cols() == 2 * out.cols(), "silu_mul",
           "gate_up " + shape_str(gate_up.shape) + ", out " + shape_str(out.shape));
    cuda::silu_mul(gate_up.data, out.data, int(act_), int(out.rows()), int(out.cols()), stream_);
  }

  void gelu_tanh_mul(const Tensor& gate_up, Tensor& out) override {
    expect_act(gate_up, "gelu_tanh_mul", "gate_up");
    expect_act(out, "gelu_tanh_mul", "out");
    expect(gate_up.rows() == out.rows() && gate_up.cols() == 2 * out.cols(), "gelu_tanh_mul",
           "gate_up " + shape_str(gate_up.shape) + ", out " + shape_str(out.shape));
    cuda::gelu_tanh_mul(gate_up.data, out.data, int(act_), int(out.rows()), int(out.cols()),
                        stream_);
  }

  void scale(Tensor& x, float s) override {
    expect_act(x, "scale", "x");
    cuda::scale(x.data, int(act_), x.numel(), s, stream_);
  }

  void softcap(Tensor& x, float cap) override {
    expect(x.dtype == DType::F32, "softcap", "x must be F32 logits");
    expect(cap > 0.f, "softcap", "cap must be positive");
    cuda::softcap(x.as<float>(), x.numel(), cap, stream_);
  }

  // Through the rank's communicator (NCCL on this backend's stream); identity at TP=1.
  void all_reduce(Tensor& x) override {
    if (comm_) comm_->all_reduce_sum(x.data, x.dtype, size_t(x.numel()));
  }

  void gather_rows(const Tensor& x, const StepTensors& step, Tensor& out) override {
    const int rows = int(step.host->logit_rows.size());
    expect(out.dtype == x.dtype && out.cols() == x.cols() && out.rows() == rows, "gather_rows",
           "x " + shape_str(x.shape) + " into out " + shape_str(out.shape) + " for " +
               std::to_string(rows) + " rows");
    for (int32_t r : step.host->logit_rows)
      if (r < 0 || r >= x.rows()) fail("cuda backend: gather_rows: row {} outside [0, {})", r, x.rows());
    cuda::gather_rows(x.data, size_t(x.cols()) * dtype_size(x.dtype), step.logit_rows.as<int32_t>(),
                      rows, out.data, stream_);
  }

  // Sampling ----------------------------------------------------------------------------------
  void argmax(const Tensor& logits, Tensor& ids) override {
    check_logits(logits, ids, "argmax");
    cuda::argmax(logits.data, int(logits.dtype), int(logits.rows()), int(logits.cols()),
                 ids.as<int32_t>(), stream_);
  }

  void sample(const Tensor& logits, const std::vector<GpuSamplingParams>& params,
              Tensor& ids) override {
    check_logits(logits, ids, "sample");
    const int rows = int(logits.rows()), vocab = int(logits.cols());
    expect(int(params.size()) == rows, "sample", "one parameter set per row is needed");
    const size_t pbytes = params.size() * sizeof(cuda::SampleRowParams);
    auto* host = static_cast<cuda::SampleRowParams*>(params_staging_.acquire(pbytes));
    for (int r = 0; r < rows; ++r) {
      const GpuSamplingParams& p = params[r];
      expect(p.top_k >= 0 && p.top_p > 0.f, "sample", "top_k must be >= 0 and top_p > 0");
      host[r] = cuda::SampleRowParams{p.temperature, p.top_k, p.top_p, p.index, p.seed, p.step};
    }
    void* dev_params = params_dev_.get(pbytes);
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dev_params, host, pbytes, cudaMemcpyHostToDevice, stream_));
    params_staging_.release(stream_);
    const size_t ws = cuda::sample_workspace_bytes(rows, vocab);
    cuda::sample(logits.data, int(logits.dtype), rows, vocab,
                 static_cast<const cuda::SampleRowParams*>(dev_params), sample_ws_.get(ws), ws,
                 ids.as<int32_t>(), stream_);
  }

  // The serving op: rows the kernels cover are drawn on the device and only their ids and
  // logprobs come back, in one copy. Covered: temperature, top_k, top_p, the logit bias, the
  // repetition / presence / frequency penalties and the min_tokens mask (applied by
  // apply_logit_edits from the slots' counts, on a copy of the logits so that raw logprobs read
  // the model's own), raw logprobs with up to 20 alternatives.
  // Rows may share a logit row (n > 1 completions' first draws: a gathered copy). Any other
  // step (min_p, typical, XTC, target entropy, processed logprobs) samples on the host from
  // downloaded logits (Backend's default).
  void sample(const Tensor& logits, std::span<const RowSampling> rows, SamplerSlots& slots,
              std::span<SampledRow> out) override {
    bool on_device = logits.dtype == DType::F32 && logits.shape.size() == 2 &&
                     out.size() == rows.size() && !rows.empty();
    bool in_order = int64_t(rows.size()) == logits.rows();
    int k = -1;  // the most alternatives any row asks for; -1: no logprobs
    for (size_t i = 0; on_device && i < rows.size(); ++i) {
      on_device = rows[i].params && kernel_covers(*rows[i].params) && rows[i].logit_row >= 0 &&
                  rows[i].logit_row < logits.rows();
      in_order = in_order && rows[i].logit_row == int32_t(i);
      if (on_device) k = std::max(k, rows[i].params->logprobs);
    }
    if (!on_device) {
      Backend::sample(logits, rows, slots, out);
      return;
    }
    const size_t R = rows.size(), K = size_t(std::max(k, 0));
    // Row i of what the kernels read is rows[i]'s logit row: n > 1 completions draw their first
    // token from their prompt's one row, each from a copy.
    const Tensor row_logits = in_order ? logits : gathered_logits(logits, rows);
    const Tensor drawn_from = edited_logits(row_logits, rows, slots);
    gpu_params_.resize(R);
    for (size_t i = 0; i < R; ++i) {
      const SamplingParams& p = *rows[i].params;
      gpu_params_[i] = GpuSamplingParams{p.temperature, p.top_k, p.top_p, rows[i].seed,
                                         uint64_t(slots.output(rows[i].slot).size()),
                                         rows[i].index};
    }
    // One buffer, one copy back: ids [R], then (with logprobs) chosen [R], top ids [R, K] and
    // top logprobs [R, K], all 4-byte words.
    const size_t words = R + (k >= 0 ? R + 2 * R * K : 0);
    auto* dev = static_cast<int32_t*>(ids_dev_.get(words * sizeof(int32_t)));
    Tensor ids;
    ids.dtype = DType::I32;
    ids.shape = {int64_t(R)};
    ids.data = dev;
    sample(drawn_from, gpu_params_, ids);
    if (k >= 0)
      cuda::top_logprobs(row_logits.as<float>(), int(R), int(logits.cols()), dev, int(K),
                         reinterpret_cast<float*>(dev + R), dev + 2 * R,
                         reinterpret_cast<float*>(dev + 2 * R + R * K), stream_);
    host_words_.resize(words);
    EMBER_CUDA_CHECK(cudaMemcpyAsync(host_words_.data(), dev, words * sizeof(int32_t),
                                     cudaMemcpyDeviceToHost, stream_));
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const int64_t vocab = logits.cols();
    for (size_t i = 0; i < R; ++i) {
      out[i] = SampledRow{};
      out[i].id = host_words_[i];
      slots.append(rows[i].slot, out[i].id);
      const int want = rows[i].params->logprobs;
      if (want < 0) continue;
      TokenLogprobs lp;
      std::memcpy(&lp.logprob, &host_words_[R + i], sizeof(float));
      const size_t n = size_t(std::min<int64_t>(want, vocab));
      for (size_t j = 0; j < n; ++j) {
        const int32_t id = host_words_[2 * R + i * K + j];
        float v;
        std::memcpy(&v, &host_words_[2 * R + R * K + i * K + j], sizeof(float));
        if (id >= 0) lp.top.emplace_back(id, v);
      }
      out[i].logprobs = std::move(lp);
    }
  }

 private:
  static bool kernel_covers(const SamplingParams& p) {
    return p.target_entropy <= 0.f && p.min_p <= 0.f && p.typical_p >= 1.f &&
           p.xtc_probability <= 0.f && p.logprobs <= cuda::kMaxTopLogprobs &&
           (p.logprobs < 0 || p.logprobs_mode == SamplingParams::LogprobsMode::Raw);
  }

  // [rows.size(), vocab]: row i is logits' row rows[i].logit_row.
  Tensor gathered_logits(const Tensor& logits, std::span<const RowSampling> rows) {
    const size_t R = rows.size();
    auto* host = static_cast<int32_t*>(gather_staging_.acquire(R * sizeof(int32_t)));
    for (size_t i = 0; i < R; ++i) host[i] = rows[i].logit_row;
    void* idx = gather_idx_dev_.get(R * sizeof(int32_t));
    EMBER_CUDA_CHECK(cudaMemcpyAsync(idx, host, R * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    gather_staging_.release(stream_);
    Tensor g;
    g.dtype = DType::F32;
    g.shape = {int64_t(R), logits.cols()};
    g.data = gathered_dev_.get(g.nbytes());
    cuda::gather_rows(logits.data, size_t(logits.cols()) * sizeof(float),
                      static_cast<const int32_t*>(idx), int(R), g.data, stream_);
    return g;
  }

  // The logits the draws read: `logits` itself when no row has an edit, else a copy with each
  // row's edits applied (sample_row's order, one merged edit per id).
  Tensor edited_logits(const Tensor& logits, std::span<const RowSampling> rows,
                       const SamplerSlots& slots) {
    const size_t R = rows.size();
    cuda::plan_logit_edits(rows, slots, edit_plan_);
    if (edit_plan_.empty()) return logits;
    // One upload: edits, then the rows' penalties, then the offsets.
    const auto& plan = edit_plan_;
    const size_t eb = plan.edits.size() * sizeof(cuda::LogitEdit);
    const size_t pb = R * sizeof(cuda::RowPenalties), ob = (R + 1) * sizeof(int32_t);
    auto* host = static_cast<uint8_t*>(edits_staging_.acquire(eb + pb + ob));
    std::memcpy(host, plan.edits.data(), eb);
    std::memcpy(host + eb, plan.penalties.data(), pb);
    std::memcpy(host + eb + pb, plan.offsets.data(), ob);
    auto* dev = static_cast<uint8_t*>(edits_dev_.get(eb + pb + ob));
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dev, host, eb + pb + ob, cudaMemcpyHostToDevice, stream_));
    edits_staging_.release(stream_);
    Tensor edited = logits;
    edited.owner.reset();
    edited.data = edited_dev_.get(logits.nbytes());
    EMBER_CUDA_CHECK(cudaMemcpyAsync(edited.data, logits.data, logits.nbytes(),
                                     cudaMemcpyDeviceToDevice, stream_));
    cuda::apply_logit_edits(edited.as<float>(), int(R), int(logits.cols()),
                            reinterpret_cast<const int32_t*>(dev + eb + pb),
                            reinterpret_cast<const cuda::LogitEdit*>(dev),
                            reinterpret_cast<const cuda::RowPenalties*>(dev + eb), stream_);
    return edited;
  }

  void expect_act(const Tensor& t, const char* op, const char* what) const {
    if (t.dtype != act_)
      fail("cuda backend: {}: {} is {}, the activation dtype is {}", op, what, dtype_name(t.dtype),
           dtype_name(act_));
  }

  void check_attn_shape(const AttnShape& a, const char* op) const {
    expect(a.n_heads > 0 && a.n_kv_heads > 0 && a.n_heads % a.n_kv_heads == 0, op,
           "n_heads must be a positive multiple of n_kv_heads");
    expect(a.head_dim > 0 && a.head_dim % 2 == 0 && a.head_dim <= 256, op,
           "head_dim must be even and at most 256, got " + std::to_string(a.head_dim));
  }

  void check_kv(const KvCache& kv, int layer, const AttnShape& a, const char* op) const {
    expect(layer >= 0 && layer < int(kv.k.size()) && kv.k.size() == kv.v.size(), op,
           "layer " + std::to_string(layer) + " outside the KV cache");
    expect(kv.spec.dtype == act_ && kv.spec.num_kv_heads == a.n_kv_heads &&
               kv.spec.head_dim == a.head_dim,
           op, "KV cache spec does not match the attention shape or activation dtype");
  }

  void check_logits(const Tensor& logits, const Tensor& ids, const char* op) const {
    expect((logits.dtype == DType::F32 || logits.dtype == DType::BF16) && logits.cols() > 0, op,
           "logits must be F32 or BF16 [rows, vocab]");
    expect(ids.dtype == DType::I32 && ids.numel() == logits.rows(), op,
           "ids must be I32 with one entry per row");
  }

  // Checks block tables and slots of the current step against the cache, once per step.
  void validate_step_against(const StepTensors& step, const KvCache& kv) {
    const void* kv_id = kv.k.empty() ? nullptr : kv.k[0].data;
    if (validated_upload_ == uploads_ && validated_kv_ == kv_id && step.host == last_host_) return;
    const StepInput& in = *step.host;
    const int64_t slots = int64_t(kv.spec.num_blocks) * kv.spec.block_size;
    for (int32_t s : in.slot_mapping)
      if (s >= slots) fail("cuda backend: slot {} outside the KV cache of {} slots", s, slots);
    for (const SeqStep& sq : in.seqs) {
      if (int64_t(sq.block_table.size()) * kv.spec.block_size < sq.ctx_len)
        fail("cuda backend: block table of {} blocks cannot hold {} tokens", sq.block_table.size(),
             sq.ctx_len);
      const size_t used = size_t((sq.ctx_len + kv.spec.block_size - 1) / kv.spec.block_size);
      for (size_t b = 0; b < used; ++b)
        if (sq.block_table[b] < 0 || sq.block_table[b] >= kv.spec.num_blocks)
          fail("cuda backend: block id {} outside the KV cache of {} blocks", sq.block_table[b],
               kv.spec.num_blocks);
    }
    validated_upload_ = uploads_;
    validated_kv_ = kv_id;
    last_host_ = step.host;
  }

  // `t` as dtype `dt`: itself, or a converted copy made on first use and kept (weights).
  const void* converted(const Tensor& t, DType dt) {
    if (t.dtype == dt) return t.data;
    auto key = std::make_pair(t.data, dt);
    auto it = converted_.find(key);
    if (it != converted_.end() && it->second.copy.numel() == t.numel()) return it->second.copy.data;
    Converted c;
    c.source = t;  // keeps the source alive, so its address cannot be reused by another tensor
    c.copy.dtype = dt;
    c.copy.shape = t.shape;
    c.copy.owner = device_malloc(c.copy.nbytes());
    c.copy.data = c.copy.owner.get();
    cuda::convert(t.data, int(t.dtype), c.copy.data, int(dt), t.numel(), stream_);
    return (converted_[key] = std::move(c)).copy.data;
  }

  struct Converted {
    Tensor source, copy;
  };

  int device_;
  double fraction_;
  DType act_;
  int num_sms_ = 0;
  std::string gpu_name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::GemmLt> gemm_;
  std::shared_ptr<cuda::DevicePool> pool_;
  std::map<std::pair<const void*, DType>, Converted> converted_;
  PinnedStaging step_staging_, params_staging_;
  std::shared_ptr<void> step_dev_;
  size_t step_dev_cap_ = 0;
  Scratch partials_, sample_ws_, params_dev_, ids_dev_, edits_dev_, edited_dev_, gather_idx_dev_,
      gathered_dev_;
  PinnedStaging edits_staging_, gather_staging_;
  cuda::LogitEditPlan edit_plan_;
  std::vector<GpuSamplingParams> gpu_params_;
  std::vector<int32_t> host_words_;
  uint64_t uploads_ = 0, validated_upload_ = ~uint64_t(0);
  const void* validated_kv_ = nullptr;
  const StepInput* last_host_ = nullptr;
};

StepTensors CudaBackendImpl::upload_step(const StepInput& in) {
  const int T = in.num_tokens(), S = int(in.seqs.size()), R = int(in.logit_rows.size());
  if (int(in.positions.size()) != T || int(in.slot_mapping.size()) != T)
    fail("cuda backend: step: {} tokens but {} positions and {} slots", T, in.positions.size(),
         in.slot_mapping.size());
  StepTensors st;
  st.host = &in;
  st.num_tokens = T;
  st.num_seqs = S;
  int q_total = 0;
  for (const SeqStep& s : in.seqs) {
    if (s.q_len < 0 || s.ctx_len < s.q_len)
      fail("cuda backend: step: sequence with q_len={} ctx_len={}", s.q_len, s.ctx_len);
    q_total += s.q_len;
    st.max_q_len = std::max(st.max_q_len, s.q_len);
    st.max_ctx_len = std::max(st.max_ctx_len, s.ctx_len);
    st.max_blocks_per_seq = std::max(st.max_blocks_per_seq, int(s.block_table.size()));
  }
  if (q_total != T) fail("cuda backend: step: sequences hold {} tokens, the step {}", q_total, T);
  for (int32_t r : in.logit_rows)
    if (r < 0 || r >= T) fail("cuda backend: step: logit row {} outside [0, {})", r, T);
  for (int i = 0; i < T; ++i)
    if (in.positions[i] < 0) fail("cuda backend: step: negative position {}", in.positions[i]);
  st.max_blocks_per_seq = std::max(st.max_blocks_per_seq, 1);

  // One int32 buffer: each part starts on a 16-byte boundary.
  auto pad = [](size_t n) { return (n + 3) / 4 * 4; };
  const size_t o_tok = 0, o_pos = o_tok + pad(T), o_slot = o_pos + pad(T);
  const size_t o_info = o_slot + pad(T), o_bt = o_info + pad(size_t(3) * S);
  const size_t o_rows = o_bt + pad(size_t(S) * st.max_blocks_per_seq);
  const size_t total = o_rows + pad(R) + 4;
  auto* h = static_cast<int32_t*>(step_staging_.acquire(total * 4));
  std::copy(in.tokens.begin(), in.tokens.end(), h + o_tok);
  std::copy(in.positions.begin(), in.positions.end(), h + o_pos);
  std::copy(in.slot_mapping.begin(), in.slot_mapping.end(), h + o_slot);
  int q_start = 0;
  for (int s = 0; s < S; ++s) {
    const SeqStep& sq = in.seqs[s];
    h[o_info + 3 * s] = q_start;
    h[o_info + 3 * s + 1] = sq.q_len;
    h[o_info + 3 * s + 2] = sq.ctx_len;
    q_start += sq.q_len;
    int32_t* row = h + o_bt + size_t(s) * st.max_blocks_per_seq;
    std::fill(row, row + st.max_blocks_per_seq, -1);
    std::copy(sq.block_table.begin(), sq.block_table.end(), row);
  }
  std::copy(in.logit_rows.begin(), in.logit_rows.end(), h + o_rows);

  if (total * 4 > step_dev_cap_) {
    // The previous buffer stays alive while StepTensors made from it exist.
    step_dev_cap_ = std::max(total * 4, step_dev_cap_ * 2);
    step_dev_ = device_malloc(step_dev_cap_);
  }
  EMBER_CUDA_CHECK(cudaMemcpyAsync(step_dev_.get(), h, total * 4, cudaMemcpyHostToDevice, stream_));
  step_staging_.release(stream_);
  ++uploads_;

  auto* d = static_cast<int32_t*>(step_dev_.get());
  auto part = [&](size_t off, Shape shape) {
    Tensor t;
    t.dtype = DType::I32;
    t.shape = std::move(shape);
    t.data = d + off;
    t.owner = step_dev_;
    return t;
  };
  st.tokens = part(o_tok, {T});
  st.positions = part(o_pos, {T});
  st.slot_mapping = part(o_slot, {T});
  st.seq_info = part(o_info, {S, 3});
  st.block_tables = part(o_bt, {S, st.max_blocks_per_seq});
  st.logit_rows = part(o_rows, {R});
  return st;
}

}  // namespace

bool cuda_device_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

std::unique_ptr<CudaBackend> make_cuda_backend(const CudaBackendOptions& options) {
  return std::make_unique<CudaBackendImpl>(options);
}

std::unique_ptr<Backend> make_cuda_backend(int device, double gpu_memory_fraction) {
  CudaBackendOptions o;
  o.device = device;
  o.gpu_memory_fraction = gpu_memory_fraction;
  return make_cuda_backend(o);
}

}  // namespace ember
