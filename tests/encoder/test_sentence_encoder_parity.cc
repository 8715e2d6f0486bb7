// The sentence encoder against sentence-transformers on the real all-MiniLM-L6-v2 and
// all-mpnet-base-v2 (tools/fetch-models.sh; goldens by tools/encoder_golden.py): every
// embedding's cosine with the reference is at least 0.99999.
#include <algorithm>

#include <gtest/gtest.h>

#include "engine/encoder/sentence_encoder.h"
#include "engine/text/wordpiece_tokenizer.h"
#include "tests/encoder/encoder_golden.h"

namespace ember {
namespace {

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
  float worst = 1.f;
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(emb[i].size(), size_t(g.dim));
    EXPECT_EQ(counts[i], int(g.embed[i].ids.size())) << "text " << i;
    const float cos = SentenceEncoder::cosine(emb[i], g.embed[i].embedding);
    worst = std::min(worst, cos);
    EXPECT_GE(cos, 0.99999f) << "text " << i << ": " << texts[i].substr(0, 80);
  }
  std::printf("%s: %zu texts, lowest cosine %.8f\n", name.c_str(), texts.size(), double(worst));
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

INSTANTIATE_TEST_SUITE_P(RealModels, EncoderParity,
                         ::testing::Values("all-minilm-l6-v2", "all-mpnet-base-v2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace ember
