// Parity with Hugging Face transformers. tools/hf_golden.py (run once, by hand) made random
// models with `ember make-model` and recorded transformers' logits; here the same models are
// rebuilt from the recorded arguments (write_random_model is deterministic per seed) and run
// through ember's CPU forward pass: prefills of several lengths and decode steps after a prefill.
//
// Metric, per prompt (or per decode run): max|ember - hf| / max|hf| over the recorded logits
// (rows x every 4th vocab column).
//  - vs transformers in float32 (bf16 weights upcast exactly, so the same math):  <= 1e-4
//  - vs transformers computing in bf16 (bf16 checkpoints only):                    <= 2e-2
// and, against the f32 reference, the top-20 log-probabilities (log-softmax) of every recorded
// row within 1e-4 absolute: what an OpenAI endpoint's top_logprobs report.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include "engine/cpu/cpu_backend.h"
#include "engine/model/random_model.h"
#include "engine/model/transformer.h"
#include "engine/model/weights.h"
#include "engine/sample/logprobs.h"
#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;

constexpr double kF32Tol = 1e-4;
constexpr double kBf16ComputeTol = 2e-2;

std::vector<fs::path> golden_files() {
  std::vector<fs::path> v;
  const fs::path dir = fs::path(test::source_dir()) / "tests/data/golden";
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<int32_t> ints(element e) {
  std::vector<int32_t> v;
  for (element x : e.get_array()) v.push_back(int32_t(int64_t(x)));
  return v;
}

struct Rel {
  double max_diff = 0, max_ref = 0;
  double value() const { return max_ref > 0 ? max_diff / max_ref : max_diff; }
};

// Compares row `i` of ember's logits ([rows, V]) with one golden row at the golden columns.
void accumulate_row(Rel& r, const std::vector<float>& ours, size_t i, int V, element golden_row,
                    const std::vector<int32_t>& cols) {
  size_t j = 0;
  for (element x : golden_row.get_array()) {
    const double ref = double(x), got = ours[i * size_t(V) + size_t(cols[j++])];
    r.max_diff = std::max(r.max_diff, std::abs(got - ref));
    r.max_ref = std::max(r.max_ref, std::abs(ref));
  }
}

void accumulate(Rel& r, const std::vector<float>& ours, int V, element golden_rows,
                const std::vector<int32_t>& cols) {
  size_t i = 0;
  for (element row : golden_rows.get_array()) accumulate_row(r, ours, i++, V, row, cols);
}

// Row i of ember's logits as the engine reports log-probabilities (RowLogprobs, what /v1
// streams) against the reference's top-20 [id, logprob]: the largest absolute difference of
// the reference's ids' values, and of the values rank by rank of ember's own top-20 selection,
// goes to r.max_diff.
void accumulate_logprobs(Rel& r, const std::vector<float>& ours, size_t i, int V, element top) {
  const RowLogprobs lps(std::span<const float>(ours.data() + i * size_t(V), size_t(V)));
  std::vector<double> ref;
  for (element pair : top.get_array()) {
    ref.push_back(double(pair.at(1)));
    r.max_diff = std::max(r.max_diff, std::abs(double(lps.at(int32_t(int64_t(pair.at(0))))) - ref.back()));
  }
  const auto mine = lps.top(int(ref.size()));
  for (size_t k = 0; k < ref.size(); ++k)
    r.max_diff = std::max(r.max_diff, std::abs(double(mine[k].second) - ref[k]));
}

class Model {
 public:
  Model(const fs::path& dir, element overrides) {
    be_ = make_cpu_backend(2);
    cfg_ = load_model_config(dir.string());
    for (auto [key, value] : overrides.get_object()) {
      if (key == "sliding_window")
        cfg_.sliding_window = int(int64_t(value));
      else if (key == "attn_logit_softcapping")
        cfg_.attn_logit_softcap = double(value);
      else if (key == "final_logit_softcapping")
        cfg_.final_logit_softcap = double(value);
      else
        ADD_FAILURE() << "unknown config override " << key;
    }
    files_ = WeightFiles::open(dir.string());
    model_ = std::make_unique<Transformer>(cfg_, *be_, load_weights(cfg_, files_, *be_));
  }
  int vocab() const { return cfg_.vocab_size; }

  KvCache new_cache() { return be_->alloc_kv_cache(model_->kv_spec(16, 4)); }

  // Feeds `ids` at `pos` and returns the logits of `rows` (indices into ids).
  std::vector<float> step(KvCache& kv, const std::vector<int32_t>& ids, int pos,
                          const std::vector<int32_t>& rows) {
    StepInput s;
    std::vector<int32_t> table{9, 2, 14, 0, 7, 11, 3, 15, 1, 12, 5, 8, 13, 4, 10, 6};
    s.add_sequence(ids, pos, table, 4, false);
    s.logit_rows = rows;
    std::vector<float> logits;
    model_->forward(s, kv, logits);
    return logits;
  }

 private:
  std::unique_ptr<Backend> be_;
  ModelConfig cfg_;
  WeightFiles files_;
  std::unique_ptr<Transformer> model_;
};

// Runs the recorded prefills and decode steps, and returns the metric for each.
std::vector<std::pair<std::string, Rel>> compare(Model& m, element ref,
                                                 const std::vector<int32_t>& cols) {
  std::vector<std::pair<std::string, Rel>> out;
  Rel lp;  // top-20 log-probabilities, absolute (recorded for the f32 reference only)
  bool have_lp = false;
  for (element p : ref["prefills"].get_array()) {
    const auto ids = ints(p["ids"]);
    KvCache kv = m.new_cache();
    Rel r;
    const std::vector<float> logits = m.step(kv, ids, 0, ints(p["rows"]));
    accumulate(r, logits, m.vocab(), p["logits"], cols);
    out.emplace_back("prefill of " + std::to_string(ids.size()), r);
    element tops;
    if (p["top_logprobs"].get(tops) == simdjson::SUCCESS) {
      size_t i = 0;
      for (element top : tops.get_array()) accumulate_logprobs(lp, logits, i++, m.vocab(), top);
      have_lp = true;
    }
  }
  element d = ref["decode"];
  const auto prefill = ints(d["prefill_ids"]);
  KvCache kv = m.new_cache();
  m.step(kv, prefill, 0, {});
  Rel r;
  int pos = int(prefill.size());
  auto steps = d["logits"].get_array();
  auto it = steps.begin();
  element step_tops;
  const bool decode_lp = d["top_logprobs"].get(step_tops) == simdjson::SUCCESS;
  auto top_it = decode_lp ? step_tops.get_array().begin() : steps.end();
  for (int32_t id : ints(d["ids"])) {
    auto logits = m.step(kv, {id}, pos++, {0});
    accumulate_row(r, logits, 0, m.vocab(), *it, cols);
    ++it;
    if (decode_lp) accumulate_logprobs(lp, logits, 0, m.vocab(), *top_it++);
  }
  out.emplace_back("decode steps", r);
  if (have_lp || decode_lp) out.emplace_back("top-20 logprobs", lp);
  return out;
}

TEST(HfParity, GoldenFilesArePresent) {
  // 7 architectures x {f32, bf16}.
  EXPECT_EQ(golden_files().size(), 14u);
}

TEST(HfParity, CpuForwardMatchesTransformers) {
  simdjson::dom::parser parser;
  for (const auto& path : golden_files()) {
    SCOPED_TRACE(path.filename().string());
    element doc = parser.load(path.string());
    element args = doc["make_model_args"];
    RandomModelOptions o;
    o.arch = parse_arch_name(std::string_view(doc["arch"]));
    o.dtype = std::string_view(doc["dtype"]) == "f32" ? DType::F32 : DType::BF16;
    o.hidden = int(int64_t(args["hidden"]));
    o.layers = int(int64_t(args["layers"]));
    o.heads = int(int64_t(args["heads"]));
    o.kv_heads = int(int64_t(args["kv-heads"]));
    o.intermediate = int(int64_t(args["intermediate"]));
    o.vocab = int(int64_t(args["vocab"]));
    o.seed = uint64_t(args["seed"]);
    const fs::path dir = fs::temp_directory_path() /
                         ("ember-hf-parity-" + std::to_string(getpid()) + "-" +
                          path.stem().string());
    write_random_model(o, dir.string());
    {
      Model m(dir, doc["config_overrides"]);
      const auto cols = ints(doc["cols"]);
      for (auto& [what, r] : compare(m, doc["hf_f32"], cols)) {
        EXPECT_LE(r.value(), kF32Tol) << what << " vs transformers f32 (max|hf| " << r.max_ref << ")";
        std::printf("  %-16s %-14s vs hf f32:  %.2e\n", path.stem().c_str(), what.c_str(),
                    r.value());
      }
      element bf16;
      if (doc["hf_bf16_compute"].get(bf16) == simdjson::SUCCESS) {
        for (auto& [what, r] : compare(m, bf16, cols)) {
          EXPECT_LE(r.value(), kBf16ComputeTol) << what << " vs transformers bf16 compute";
          std::printf("  %-16s %-14s vs hf bf16: %.2e\n", path.stem().c_str(), what.c_str(),
                      r.value());
        }
      }
    }
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace ember
