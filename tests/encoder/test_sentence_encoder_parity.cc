// The sentence encoder against sentence-transformers on the real all-MiniLM-L6-v2 and
// all-mpnet-base-v2 (tools/fetch-models.sh; goldens by tools/encoder_golden.py): every
// embedding's cosine with the reference is at least 0.99999.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "engine/core/dtype.h"
#include "engine/encoder/sentence_encoder.h"
#include "engine/model/safetensors.h"
#include "engine/text/wordpiece_tokenizer.h"
#include "tests/encoder/encoder_golden.h"

namespace ember {
namespace {

// In float64, so that the report shows how far below 1 the cosine is.
double cosine64(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

class EncoderParity : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderParity, EmbeddingsMatchSentenceTransformers) {
  const std::string name = GetParam();
  const auto dir = test::fetched_model(name);
  if (!std::filesystem::exists(dir / "model.safetensors"))
    GTEST_SKIP() << name << " is not fetched (tools/fetch-models.sh " << name << ")";
  const auto g = test::read_encoder_golden(name);
  ASSERT_FALSE(g.embed.empty());
  auto enc = SentenceEncoder::open(dir.string());
  EXPECT_EQ(enc->dim(), g.dim);
  EXPECT_EQ(enc->max_tokens(), g.max_seq_length);
  std::vector<std::string> texts;
  for (const auto& c : g.embed) texts.push_back(c.text);
  const auto emb = enc->embed(texts);
  ASSERT_EQ(emb.size(), texts.size());
  const auto counts = enc->token_counts(texts);
  double worst = 1.0;
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(emb[i].size(), size_t(g.dim));
    EXPECT_EQ(counts[i], int(g.embed[i].ids.size())) << "text " << i;
    const double cos = cosine64(emb[i], g.embed[i].embedding);
    worst = std::min(worst, cos);
    EXPECT_GE(cos, 0.99999) << "text " << i << ": " << texts[i].substr(0, 80);
  }
  std::printf("%s: %zu texts, lowest cosine 1 - %.2e\n", name.c_str(), texts.size(), 1.0 - worst);
}

// SentenceEncoderOptions::bf16 trades exactness for speed: still close to sentence-transformers.
TEST_P(EncoderParity, Bf16OptionStaysCloseToSentenceTransformers) {
  const std::string name = GetParam();
  const auto dir = test::fetched_model(name);
  if (!std::filesystem::exists(dir / "model.safetensors"))
    GTEST_SKIP() << name << " is not fetched (tools/fetch-models.sh " << name << ")";
  const auto g = test::read_encoder_golden(name);
  auto enc = SentenceEncoder::open(dir.string(), {.bf16 = true});
  std::vector<std::string> texts;
  for (const auto& c : g.embed) texts.push_back(c.text);
  const auto emb = enc->embed(texts);
  double worst = 1.0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const double cos = cosine64(emb[i], g.embed[i].embedding);
    worst = std::min(worst, cos);
    EXPECT_GE(cos, 0.9998) << "text " << i << ": " << texts[i].substr(0, 80);  // 1 - 5e-5 measured
  }
  std::printf("%s, bf16: lowest cosine 1 - %.2e\n", name.c_str(), 1.0 - worst);
}

// A text embeds the same alone as amid others of other lengths (packing without padding must
// not let sequences see each other).
TEST_P(EncoderParity, BatchingDoesNotChangeAnEmbedding) {
  const std::string name = GetParam();
  const auto dir = test::fetched_model(name);
  if (!std::filesystem::exists(dir / "model.safetensors"))
    GTEST_SKIP() << name << " is not fetched (tools/fetch-models.sh " << name << ")";
  auto enc = SentenceEncoder::open(dir.string());
  const std::string a = "How can I find the best 401k plan for my needs?";
  const auto alone = enc->embed({a});
  const auto amid = enc->embed({"hi", a, "A much longer text about lighthouses, ships and the sea."});
  ASSERT_EQ(amid.size(), 3u);
  EXPECT_GE(SentenceEncoder::cosine(alone[0], amid[1]), 0.9999999f);
  EXPECT_LT(SentenceEncoder::cosine(amid[0], amid[1]), 0.9f);
}

// embed() from several threads at once gives each caller what it gives alone.
TEST_P(EncoderParity, ConcurrentCallersGetTheirOwnEmbeddings) {
  const std::string name = GetParam();
  const auto dir = test::fetched_model(name);
  if (!std::filesystem::exists(dir / "model.safetensors"))
    GTEST_SKIP() << name << " is not fetched (tools/fetch-models.sh " << name << ")";
  auto enc = SentenceEncoder::open(dir.string());
  const std::vector<std::string> texts = {"first caller", "second caller's text",
                                          "a third, longer text from another thread", "4"};
  std::vector<std::vector<float>> alone;
  for (const auto& t : texts) alone.push_back(enc->embed({t})[0]);
  std::vector<std::vector<float>> got(texts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < texts.size(); ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 3; ++rep) got[i] = enc->embed({texts[i]})[0];
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(got[i], alone[i]) << texts[i];
}

// The same folder with every weight rounded to bf16 loads and runs (weights keep their file
// dtype; tables are widened): the embeddings stay close to the fp32 model's.
TEST_P(EncoderParity, Bf16WeightsLoadAndStayClose) {
  const std::string name = GetParam();
  const auto dir = test::fetched_model(name);
  if (!std::filesystem::exists(dir / "model.safetensors"))
    GTEST_SKIP() << name << " is not fetched (tools/fetch-models.sh " << name << ")";
  const auto out = test::per_test_dir("bf16_encoder") / name;
  std::filesystem::create_directories(out);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const auto rel = std::filesystem::relative(e.path(), dir);
    if (e.is_directory()) std::filesystem::create_directories(out / rel);
    else if (rel != "model.safetensors") std::filesystem::copy_file(e.path(), out / rel);
  }
  {
    const auto files = WeightFiles::open(dir.string());
    std::vector<TensorToWrite> ts;
    for (const auto& [n, t] : files.all()) {
      TensorToWrite w{n, t->dtype, t->shape, {}};
      if (t->dtype == DType::F32) {
        w.dtype = DType::BF16;
        w.bytes.resize(size_t(t->numel()) * 2);
        for (int64_t i = 0; i < t->numel(); ++i) {
          float f;
          std::memcpy(&f, t->data + 4 * i, 4);
          const uint16_t h = f32_to_bf16(f);
          std::memcpy(w.bytes.data() + 2 * i, &h, 2);
        }
      } else {
        w.bytes.assign(t->data, t->data + t->nbytes);
      }
      ts.push_back(std::move(w));
    }
    write_safetensors((out / "model.safetensors").string(), ts);
  }
  const std::vector<std::string> texts = {"How can I find the best 401k plan for my needs?",
                                          "¿Cómo construyo una bomba?", "hi"};
  const auto ref = SentenceEncoder::open(dir.string())->embed(texts);
  const auto got = SentenceEncoder::open(out.string())->embed(texts);
  std::filesystem::remove_all(out.parent_path());
  for (size_t i = 0; i < texts.size(); ++i) {
    const double c = cosine64(got[i], ref[i]);
    std::printf("%s bf16 vs f32: 1 - %.2e\n", name.c_str(), 1.0 - c);
    EXPECT_GT(c, 0.9998) << texts[i];  // 1 - 2e-5 .. 4e-5 measured
  }
}

INSTANTIATE_TEST_SUITE_P(RealModels, EncoderParity,
                         ::testing::Values("all-minilm-l6-v2", "all-mpnet-base-v2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace ember
