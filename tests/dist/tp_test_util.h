#pragma once
// Runners over the same model at TP=1 (the plain TransformerRunner) and TP=N (CPU ranks over
// the in-process communicator), and the error measure the tensor-parallel tests hold them to.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/dist/cpu_communicator.h"
#include "engine/dist/tensor_parallel_runner.h"

namespace ember::test {

inline RunnerOptions tp_runner_options(int kv_blocks) {
  RunnerOptions ro;
  ro.block_size = 4;
  ro.kv.gib = 1.0;
  ro.max_useful_tokens = int64_t(kv_blocks) * ro.block_size;
  return ro;
}

// One CPU thread per rank: the ranks split the cores.
inline std::shared_ptr<ModelRunner> open_tp(const std::string& dir, int tp, int kv_blocks = 64) {
  const RunnerOptions ro = tp_runner_options(kv_blocks);
  if (tp == 1) return TransformerRunner::open(dir, make_cpu_backend(1), ro);
  std::vector<std::unique_ptr<Backend>> backends;
  for (int r = 0; r < tp; ++r) backends.push_back(make_cpu_backend(1));
  TensorParallelOptions o;
  o.runner = ro;
  o.ranks_share_memory = true;
  return TensorParallelRunner::open(dir, std::move(backends), make_cpu_communicators(tp), o);
}

// max |a - b| over max |b|, per row of `cols` logits, the largest over the rows: relative to
// the row's scale, so that logits near zero do not make it meaningless.
inline double max_relative_error(const std::vector<float>& a, const std::vector<float>& b,
                                 size_t cols) {
  double worst = 0;
  for (size_t r = 0; r * cols < b.size(); ++r) {
    double diff = 0, scale = 0;
    for (size_t i = r * cols; i < (r + 1) * cols; ++i) {
      diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
      scale = std::max(scale, std::fabs(double(b[i])));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}

inline std::vector<int32_t> row_argmax(const std::vector<float>& l, size_t cols) {
  std::vector<int32_t> ids;
  for (size_t r = 0; r * cols < l.size(); ++r)
    ids.push_back(int32_t(std::max_element(l.begin() + long(r * cols),
                                           l.begin() + long((r + 1) * cols)) -
                          (l.begin() + long(r * cols))));
  return ids;
}

// Two sequences' prefills (every row's logits) and then a decode step of both, on fresh
// blocks: the logits of all of it, concatenated.
inline std::vector<float> two_step_logits(ModelRunner& m, const std::vector<int32_t>& a,
                                          const std::vector<int32_t>& b, int32_t next_a,
                                          int32_t next_b) {
  const int bs = m.kv_block_size();
  const std::vector<int32_t> ta = {0, 1, 2, 3, 4}, tb = {5, 6, 7, 8, 9};
  StepInput p;
  p.add_sequence(a, 0, ta, bs, false);
  p.add_sequence(b, 0, tb, bs, false);
  for (int i = 0; i < p.num_tokens(); ++i) p.logit_rows.push_back(i);
  std::vector<float> all, l;
  m.forward(p, l);
  all = l;
  StepInput d;
  d.add_sequence({next_a}, int(a.size()), ta, bs, true);
  d.add_sequence({next_b}, int(b.size()), tb, bs, true);
  m.forward(d, l);
  all.insert(all.end(), l.begin(), l.end());
  return all;
}

}  // namespace ember::test
