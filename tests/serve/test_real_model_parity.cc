// Parity with transformers on real weights. tools/real_golden.py (run once, by hand) recorded
// transformers' float32 logits on the models tools/fetch-models.sh converts (Qwen2.5-0.5B on
// chat prompts, Gemma-3-270M on raw text); here the same folders run through ember:
//  - the prompt: ember's chat template and tokenizer give the ids transformers' gave;
//  - the prompt's logits at a few positions: ember's top-20 ids are transformers' (up to
//    near-ties), and every one of transformers' top-20 logits and log-probabilities agrees;
// Log-probabilities go through the engine's RowLogprobs, as the OpenAI endpoint reports them.
//  - greedy decoding: ember's ids equal transformers' up to the first step whose top-two margin
//    in the reference is below 1e-3, and each step's top-20 logits agree as above.
// Metric per position: max |ember - hf| over the reference's top-20, divided by max |hf logit|
// of the position (<= 1e-4); log-probabilities (logit - log-sum-exp) within 1e-4 absolute.
// The models are fetched by tools/fetch-models.sh (CI does it in tools/test.sh); without them
// the test skips and says how to fetch them.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/cpu/cpu_backend.h"
#include "engine/model/transformer.h"
#include "engine/model/weights.h"
#include "engine/serve/chat_codec.h"
#include "engine/sample/logprobs.h"
#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;

constexpr double kLogitRelTol = 1e-4;
constexpr double kLogprobTol = 1e-4;
constexpr double kNearTie = 1e-3;

std::vector<int32_t> ints(element e) {
  std::vector<int32_t> v;
  for (element x : e.get_array()) v.push_back(int32_t(int64_t(x)));
  return v;
}

// Compares one logit row with the reference's top-k ([[id, logit], ...]) and log-sum-exp.
struct RowCheck {
  double rel = 0, logprob = 0;  // the worst errors seen
  void check(const float* row, int V, element topk, double ref_lse, const std::string& where) {
    // The log-probabilities through the engine's own code path (what /v1 streams).
    const RowLogprobs lps(std::span<const float>(row, size_t(V)));
    double max_ref = 0, max_diff = 0, max_lp = 0;
    std::vector<int32_t> ref_ids;
    for (element pair : topk.get_array()) {
      const int32_t id = int32_t(int64_t(pair.at(0)));
      const double ref = double(pair.at(1)), got = row[id];
      ref_ids.push_back(id);
      max_ref = std::max(max_ref, std::abs(ref));
      max_diff = std::max(max_diff, std::abs(got - ref));
      max_lp = std::max(max_lp, std::abs(double(lps.at(id)) - (ref - ref_lse)));
    }
    const double r = max_diff / max_ref;
    EXPECT_LE(r, kLogitRelTol) << where << ": top-k logits differ (max diff " << max_diff << ")";
    EXPECT_LE(max_lp, kLogprobTol) << where << ": top-k log-probabilities differ";
    // ember's own top-k (the engine's selection) holds the reference's, except where two
    // logits are within rounding.
    const auto top = lps.top(int(ref_ids.size()));
    const float kth = row[top.back().first];
    for (int32_t id : ref_ids)
      EXPECT_GE(row[id], kth - 1e-3f * std::max(1.f, std::abs(kth)))
          << where << ": reference top-k id " << id << " is not in ember's top-k";
    rel = std::max(rel, r);
    logprob = std::max(logprob, max_lp);
  }
};

class RealModel {
 public:
  explicit RealModel(const fs::path& dir) {
    be_ = make_cpu_backend(0);
    cfg_ = load_model_config(dir.string());
    files_ = WeightFiles::open(dir.string());
    model_ = std::make_unique<Transformer>(cfg_, *be_, load_weights(cfg_, files_, *be_));
    codec_ = ChatCodec::from_model_dir(dir.string());
  }
  int vocab() const { return cfg_.vocab_size; }
  ChatCodec& codec() { return *codec_; }

  KvCache new_cache(int tokens) {
    blocks_ = (tokens + 15) / 16 + 1;
    return be_->alloc_kv_cache(model_->kv_spec(blocks_, 16));
  }
  std::vector<float> step(KvCache& kv, const std::vector<int32_t>& ids, int pos,
                          const std::vector<int32_t>& rows) {
    StepInput s;
    std::vector<int32_t> table(static_cast<size_t>(blocks_));
    for (int b = 0; b < blocks_; ++b) table[size_t(b)] = blocks_ - 1 - b;  // not in order
    s.add_sequence(ids, pos, table, 16, false);
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
  std::shared_ptr<ChatCodec> codec_;
  int blocks_ = 0;
};

void check_model(const std::string& name) {
  const fs::path golden = fs::path(test::source_dir()) / "tests/data/real" / (name + ".json");
  ASSERT_TRUE(fs::exists(golden)) << golden;
  const fs::path dir = test::fetched_model(name);
  if (!fs::exists(dir / "config.json"))
    GTEST_SKIP() << dir << " is not fetched; run tools/fetch-models.sh " << name
                 << " (tools/test.sh does)";
  simdjson::dom::parser parser, source_parser;
  element doc = parser.load(golden.string());
  // The golden belongs to one conversion of one GGUF: a folder from another is a stale golden
  // (or a stale folder), not an ember bug.
  element source = source_parser.load((dir / "ember-source.json").string());
  for (const char* key : {"gguf_sha256", "converter_version"})
    ASSERT_EQ(simdjson::to_string(source[key]), simdjson::to_string(doc["source"][key]))
        << key << " of " << dir << " differs from the golden's: re-fetch the model or re-run "
        << "tools/real_golden.py";
  RealModel m(dir);
  const int V = m.vocab();
  RowCheck all;
  for (element c : doc["cases"].get_array()) {
    const std::string cname{std::string_view(c["name"])};
    SCOPED_TRACE(name + " / " + cname);
    const std::vector<int32_t> ids = ints(c["prompt_ids"]);
    // ember's template and tokenizer give the reference's prompt.
    element messages;
    if (c["messages"].get(messages) == simdjson::SUCCESS) {
      std::vector<ChatMessage> msgs;
      for (element msg : messages.get_array())
        msgs.push_back({std::string(std::string_view(msg["role"])),
                        std::string(std::string_view(msg["content"]))});
      EXPECT_EQ(m.codec().render(msgs), std::string_view(c["prompt_text"]));
      EXPECT_EQ(m.codec().encode_chat(msgs), ids);
    } else {
      EXPECT_EQ(m.codec().tokenizer().encode(std::string_view(c["text"]), {.add_special = true}),
                ids);
    }
    // The prompt's positions.
    const std::vector<int32_t> positions = ints(c["positions"]);
    const std::vector<int32_t> greedy_ids = [&] {
      std::vector<int32_t> g;
      for (element s : c["greedy"].get_array()) g.push_back(int32_t(int64_t(s["id"])));
      return g;
    }();
    KvCache kv = m.new_cache(int(ids.size() + greedy_ids.size()));
    std::vector<int32_t> rows = positions;
    if (rows.back() != int32_t(ids.size()) - 1) rows.push_back(int32_t(ids.size()) - 1);
    std::vector<float> logits = m.step(kv, ids, 0, rows);
    auto topks = c["prompt_topk"].get_array();
    auto lses = c["prompt_logsumexp"].get_array();
    auto tk = topks.begin();
    auto ls = lses.begin();
    for (size_t i = 0; i < positions.size(); ++i, ++tk, ++ls)
      all.check(logits.data() + i * size_t(V), V, *tk, double(*ls),
                "prompt position " + std::to_string(positions[i]));
    // Greedy steps, each fed the reference's id, as long as ember agrees with it.
    std::vector<float> last(logits.end() - V, logits.end());
    int pos = int(ids.size()), step = 0;
    for (element s : c["greedy"].get_array()) {
      const std::string where = "greedy step " + std::to_string(step);
      const int32_t ref_id = int32_t(int64_t(s["id"]));
      const int32_t got = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
      all.check(last.data(), V, s["topk"], double(s["logsumexp"]), where);
      if (double(s["margin"]) < kNearTie) break;  // a near-tie: either choice is right
      ASSERT_EQ(got, ref_id) << where;
      last = m.step(kv, {ref_id}, pos++, {0});
      ++step;
    }
    std::printf("  %-14s %-9s %3zu prompt tokens, %2d greedy steps equal\n", name.c_str(),
                cname.c_str(), ids.size(), step);
  }
  std::printf("  %-14s worst top-20 logit error %.2e (relative), log-prob %.2e\n", name.c_str(),
              all.rel, all.logprob);
}

TEST(RealModelParity, Qwen25Coder05BInstructOnChatPrompts) { check_model("qwen2.5-0.5b"); }

TEST(RealModelParity, Gemma3_270MOnRawText) { check_model("gemma3-270m"); }

}  // namespace
}  // namespace ember
