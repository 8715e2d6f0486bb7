#include "kernels/cuda_graph_runner.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "engine/core/error.h"
#include "kernels/cuda_check.h"

namespace ember {

namespace {

size_t pad4(size_t n) { return (n + 3) / 4 * 4; }

// Where each input lives in a graph's static int32 buffer (the order upload_step uses).
struct Layout {
  size_t tok = 0, pos = 0, slot = 0, info = 0, bt = 0, rows = 0, total = 0;
  Layout(int B, int W) {
    tok = 0;
    pos = tok + pad4(size_t(B));
    slot = pos + pad4(size_t(B));
    info = slot + pad4(size_t(B));
    bt = info + pad4(size_t(3) * B);
    rows = bt + pad4(size_t(B) * W);
    total = rows + pad4(size_t(B));
  }
};

struct Graph {
  int batch = 0, blocks = 0;
  cudaGraphExec_t exec = nullptr;
  std::shared_ptr<void> inputs;  // int32 [Layout::total] on the device
  StepInput host;                // the padded template the capture validated
  StepTensors st;
  Tensor logits;                 // F32 [batch, vocab], written by the graph
  ~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

}  // namespace

struct CudaGraphRunner::Impl {
  Transformer& model;
  CudaBackend& be;
  KvCache& kv;
  CudaGraphOptions o;
  cudaStream_t stream;
  std::map<std::pair<int, int>, std::unique_ptr<Graph>> graphs;
  uint64_t generation = 0;
  const void* kv_addr = nullptr;
  uint64_t n_captures = 0, n_replays = 0;

  // Pinned staging: inputs (reusable once `inputs_copied` fired) and the logits copy.
  int32_t* pin_in = nullptr;
  size_t pin_in_cap = 0;
  float* pin_out = nullptr;
  size_t pin_out_cap = 0;
  cudaEvent_t inputs_copied = nullptr, done = nullptr;
  bool pending = false, pending_copy = false;
  std::vector<int32_t> pending_rows;
  Graph* last = nullptr;

  Impl(Transformer& m, CudaBackend& b, KvCache& k, CudaGraphOptions opts)
      : model(m), be(b), kv(k), o(std::move(opts)),
        stream(static_cast<cudaStream_t>(b.stream_handle())) {
    if (&m.backend() != static_cast<Backend*>(&b))
      fail("cuda graphs: the model runs on another backend");
    std::sort(o.batch_buckets.begin(), o.batch_buckets.end());
    o.batch_buckets.erase(std::unique(o.batch_buckets.begin(), o.batch_buckets.end()),
                          o.batch_buckets.end());
    if (o.batch_buckets.empty() || o.batch_buckets.front() < 1)
      fail("cuda graphs: batch buckets must be positive");
    if (o.min_ctx_blocks < 1) fail("cuda graphs: min_ctx_blocks={} must be >= 1", o.min_ctx_blocks);
    if (kv.k.empty()) fail("cuda graphs: the KV cache has no layers");
    if (o.pad_block < 0 || o.pad_block >= kv.spec.num_blocks)
      fail("cuda graphs: pad_block={} must be a reserved block of the cache's {}", o.pad_block,
           kv.spec.num_blocks);
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&inputs_copied, cudaEventDisableTiming));
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    // Decode never needs more rows than the largest bucket: size the buffers once, so that
    // the first captures are not dropped by a growth right after.
    const int top = o.batch_buckets.back();
    model.reserve(top, top);
  }

  ~Impl() {
    if (pending) cudaStreamSynchronize(stream);
    graphs.clear();
    if (pin_in) cudaFreeHost(pin_in);
    if (pin_out) cudaFreeHost(pin_out);
    if (inputs_copied) cudaEventDestroy(inputs_copied);
    if (done) cudaEventDestroy(done);
  }

  int bucket_for(int n) const {
    for (int b : o.batch_buckets)
      if (b >= n) return b;
    return -1;
  }

  int blocks_for(const StepInput& step) const {
    const int bs = kv.spec.block_size;
    int need = 1;
    for (const SeqStep& s : step.seqs) need = std::max(need, (s.ctx_len + bs - 1) / bs);
    int w = o.min_ctx_blocks;
    while (w < need) w *= 2;
    return w;
  }

  // Writes the padded step into pinned memory in the graph's layout.
  void stage(const StepInput& step, int B, int W) {
    const Layout L(B, W);
    if (L.total > pin_in_cap) {
      EMBER_CUDA_CHECK(cudaEventSynchronize(inputs_copied));
      if (pin_in) EMBER_CUDA_CHECK(cudaFreeHost(pin_in));
      pin_in = nullptr;
      pin_in_cap = std::max(L.total, pin_in_cap * 2);
      EMBER_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&pin_in), pin_in_cap * 4));
    }
    // The previous step's copy must have read the buffer before it is overwritten.
    EMBER_CUDA_CHECK(cudaEventSynchronize(inputs_copied));
    const int n = int(step.seqs.size()), bs = kv.spec.block_size;
    int32_t* h = pin_in;
    for (int i = 0; i < B; ++i) {
      const bool real = i < n;
      h[L.tok + i] = real ? step.tokens[size_t(i)] : 0;
      h[L.pos + i] = real ? step.positions[size_t(i)] : 0;
      h[L.slot + i] = real ? step.slot_mapping[size_t(i)] : o.pad_block * bs;
      h[L.info + 3 * i] = i;
      h[L.info + 3 * i + 1] = 1;
      h[L.info + 3 * i + 2] = real ? step.seqs[size_t(i)].ctx_len : 1;
      int32_t* row = h + L.bt + size_t(i) * W;
      std::fill(row, row + W, -1);
      if (real) {
        const auto& t = step.seqs[size_t(i)].block_table;
        std::copy(t.begin(), t.begin() + std::min<size_t>(t.size(), size_t(W)), row);
      } else {
        row[0] = o.pad_block;
      }
      h[L.rows + i] = i;
    }
  }

  // The host template a capture validates: the padded step with the bucket's fixed shape.
  StepInput padded(const StepInput& step, int B) const {
    StepInput p;
    const int n = int(step.seqs.size()), bs = kv.spec.block_size;
    for (int i = 0; i < B; ++i) {
      const bool real = i < n;
      p.tokens.push_back(real ? step.tokens[size_t(i)] : 0);
      p.positions.push_back(real ? step.positions[size_t(i)] : 0);
      p.slot_mapping.push_back(real ? step.slot_mapping[size_t(i)] : o.pad_block * bs);
      SeqStep s;
      s.q_len = 1;
      s.ctx_len = real ? step.seqs[size_t(i)].ctx_len : 1;
      s.block_table = real ? step.seqs[size_t(i)].block_table : std::vector<int32_t>{o.pad_block};
      p.seqs.push_back(std::move(s));
      // Every row, padding too, wants logits: a step with rows that do not makes
      // forward_device upload a second step for its last layer, which a graph cannot replay.
      p.logit_rows.push_back(i);
    }
    return p;
  }

  std::unique_ptr<Graph> make_graph(const StepInput& step, int B, int W) {
    auto g = std::make_unique<Graph>();
    g->batch = B;
    g->blocks = W;
    const Layout L(B, W);
    void* mem = nullptr;
    EMBER_CUDA_CHECK(cudaMalloc(&mem, L.total * 4));
    g->inputs = std::shared_ptr<void>(mem, [](void* p) { cudaFree(p); });
    g->host = padded(step, B);
    StepTensors& st = g->st;
    st.host = &g->host;
    st.num_tokens = B;
    st.num_seqs = B;
    st.max_blocks_per_seq = W;
    st.max_q_len = 1;
    st.max_ctx_len = W * kv.spec.block_size;  // fixes the attention split for any real length
    auto* d = static_cast<int32_t*>(mem);
    auto part = [&](size_t off, Shape shape) {
      Tensor t;
      t.dtype = DType::I32;
      t.shape = std::move(shape);
      t.data = d + off;
      t.owner = g->inputs;
      return t;
    };
    st.tokens = part(L.tok, {B});
    st.positions = part(L.pos, {B});
    st.slot_mapping = part(L.slot, {B});
    st.seq_info = part(L.info, {B, 3});
    st.block_tables = part(L.bt, {B, W});
    st.logit_rows = part(L.rows, {B});
    return g;
  }

  void copy_inputs(const Graph& g) {
    const Layout L(g.batch, g.blocks);
    EMBER_CUDA_CHECK(
        cudaMemcpyAsync(g.inputs.get(), pin_in, L.total * 4, cudaMemcpyHostToDevice, stream));
    EMBER_CUDA_CHECK(cudaEventRecord(inputs_copied, stream));
  }

  // Eager run of the step (its real result), then capture of the same launches.
  void capture(Graph& g) {
    g.logits = model.forward_device(g.st, kv);
    EMBER_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t graph = nullptr;
    try {
      Tensor again = model.forward_device(g.st, kv);
      if (again.data != g.logits.data) fail("cuda graphs: logits moved during capture");
    } catch (...) {
      cudaStreamEndCapture(stream, &graph);
      if (graph) cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      throw;
    }
    EMBER_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    const cudaError_t err = cudaGraphInstantiate(&g.exec, graph, 0);
    cudaGraphDestroy(graph);
    EMBER_CUDA_CHECK(err);
    ++n_captures;
  }

  void check(const StepInput& step) const {
    const int n = int(step.seqs.size());
    if (n < 1 || bucket_for(n) < 0)
      fail("cuda graphs: {} sequences; a decode graph holds 1 to {}", n, o.batch_buckets.back());
    if (step.num_tokens() != n || int(step.positions.size()) != n ||
        int(step.slot_mapping.size()) != n)
      fail("cuda graphs: a decode step needs one token, position and slot per sequence "
           "({} sequences, {} tokens, {} positions, {} slots)",
           n, step.num_tokens(), step.positions.size(), step.slot_mapping.size());
    const int64_t vocab = model.input_vocab(), bs = kv.spec.block_size;
    const int64_t blocks = kv.spec.num_blocks;
    for (int i = 0; i < n; ++i) {
      const SeqStep& s = step.seqs[size_t(i)];
      if (s.q_len != 1 || s.ctx_len < 1)
        fail("cuda graphs: sequence {} has q_len={} ctx_len={}; decode needs q_len=1", i, s.q_len,
             s.ctx_len);
      const int32_t t = step.tokens[size_t(i)];
      if (t < 0 || t >= vocab) fail("cuda backend: embed: token id {} outside vocab of {}", t, vocab);
      if (step.positions[size_t(i)] < 0)
        fail("cuda backend: step: negative position {}", step.positions[size_t(i)]);
      const int32_t slot = step.slot_mapping[size_t(i)];
      if (slot < 0 || slot >= blocks * bs)
        fail("cuda backend: slot {} outside the KV cache of {} slots", slot, blocks * bs);
      if (slot / bs == o.pad_block)
        fail("cuda graphs: slot {} is in the reserved padding block {}", slot, o.pad_block);
      const int64_t used = (s.ctx_len + bs - 1) / bs;
      if (int64_t(s.block_table.size()) < used)
        fail("cuda backend: block table of {} blocks cannot hold {} tokens", s.block_table.size(),
             s.ctx_len);
      for (int64_t b = 0; b < used; ++b)
        if (s.block_table[size_t(b)] < 0 || s.block_table[size_t(b)] >= blocks)
          fail("cuda backend: block id {} outside the KV cache of {} blocks",
               s.block_table[size_t(b)], blocks);
    }
    for (int32_t r : step.logit_rows)
      if (r < 0 || r >= n) fail("cuda backend: step: logit row {} outside [0, {})", r, n);
  }

  void drop_stale() {
    const void* addr = kv.k[0].data;
    if (model.scratch_generation() != generation || addr != kv_addr) {
      if (!graphs.empty()) {
        EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
        graphs.clear();
      }
      generation = model.scratch_generation();
      kv_addr = addr;
    }
  }

  void launch(const StepInput& step, bool copy_logits) {
    if (pending) fail("cuda graphs: launch() before wait() of the previous step");
    check(step);
    const int n = int(step.seqs.size()), B = bucket_for(n), W = blocks_for(step);
    drop_stale();
    stage(step, B, W);
    auto key = std::make_pair(B, W);
    auto it = graphs.find(key);
    Graph* g;
    if (it == graphs.end()) {
      auto fresh = make_graph(step, B, W);
      g = fresh.get();
      copy_inputs(*g);
      capture(*g);
      // The eager run may have grown buffers (first use of a shape): what was captured holds
      // the addresses now in use, so only older graphs are stale.
      if (model.scratch_generation() != generation) {
        graphs.clear();
        generation = model.scratch_generation();
      }
      graphs.emplace(key, std::move(fresh));
    } else {
      g = it->second.get();
      copy_inputs(*g);
      EMBER_CUDA_CHECK(cudaGraphLaunch(g->exec, stream));
      ++n_replays;
    }
    last = g;
    pending = true;
    pending_copy = copy_logits;
    pending_rows = step.logit_rows;
    if (copy_logits) {
      const int64_t V = model.config().vocab_size;
      const size_t need = size_t(n) * size_t(V);
      if (need > pin_out_cap) {
        EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
        if (pin_out) EMBER_CUDA_CHECK(cudaFreeHost(pin_out));
        pin_out = nullptr;
        pin_out_cap = std::max(need, pin_out_cap * 2);
        EMBER_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&pin_out), pin_out_cap * 4));
      }
      EMBER_CUDA_CHECK(cudaMemcpyAsync(pin_out, g->logits.data, need * 4, cudaMemcpyDeviceToHost,
                                       stream));
    }
    EMBER_CUDA_CHECK(cudaEventRecord(done, stream));
  }

  void wait(std::vector<float>& logits) {
    if (!pending) fail("cuda graphs: wait() without a launch()");
    pending = false;
    EMBER_CUDA_CHECK(cudaEventSynchronize(done));
    if (!pending_copy) {
      logits.clear();
      return;
    }
    const size_t V = size_t(model.config().vocab_size);
    logits.resize(pending_rows.size() * V);
    for (size_t r = 0; r < pending_rows.size(); ++r)
      std::memcpy(logits.data() + r * V, pin_out + size_t(pending_rows[r]) * V, V * 4);
  }
};

CudaGraphRunner::CudaGraphRunner(Transformer& model, CudaBackend& backend, KvCache& kv,
                                 CudaGraphOptions opts)
    : impl_(std::make_unique<Impl>(model, backend, kv, std::move(opts))) {}
CudaGraphRunner::~CudaGraphRunner() = default;

bool CudaGraphRunner::accepts(const StepInput& step) const {
  const int n = int(step.seqs.size());
  if (n < 1 || impl_->bucket_for(n) < 0 || step.num_tokens() != n) return false;
  for (const SeqStep& s : step.seqs)
    if (s.q_len != 1) return false;
  return true;
}
void CudaGraphRunner::check_step(const StepInput& step) const { impl_->check(step); }
void CudaGraphRunner::launch(const StepInput& step, bool copy_logits) {
  impl_->launch(step, copy_logits);
}
void CudaGraphRunner::wait(std::vector<float>& logits) { impl_->wait(logits); }
Tensor CudaGraphRunner::device_logits() const {
  if (!impl_->last) fail("cuda graphs: no step has run");
  return impl_->last->logits;
}
void CudaGraphRunner::reset() {
  if (impl_->pending) fail("cuda graphs: reset() while a step is in flight");
  EMBER_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  impl_->graphs.clear();
  impl_->last = nullptr;
}
size_t CudaGraphRunner::graphs() const { return impl_->graphs.size(); }
uint64_t CudaGraphRunner::captures() const { return impl_->n_captures; }
uint64_t CudaGraphRunner::replays() const { return impl_->n_replays; }

}  // namespace ember
