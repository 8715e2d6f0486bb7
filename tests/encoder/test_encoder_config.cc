// Reading a sentence-transformers folder: what is supported is read, anything else is a clear
// error naming the file and field.
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/encoder/encoder_config.h"
#include "engine/encoder/sentence_encoder.h"
#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kBert = R"({"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1,
  "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "max_position_embeddings": 32,
  "hidden_act": "gelu", "layer_norm_eps": 1e-12, "type_vocab_size": 2})";
constexpr const char* kModules = R"([
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])";
constexpr const char* kMeanPooling =
    R"({"word_embedding_dimension": 8, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true})";

class EncoderConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::per_test_dir("encoder_config") / "my-encoder";
    fs::create_directories(dir / "1_Pooling");
    put("config.json", kBert);
    put("modules.json", kModules);
    put("1_Pooling/config.json", kMeanPooling);
    put("sentence_bert_config.json", R"({"max_seq_length": 16, "do_lower_case": false})");
  }
  void TearDown() override { fs::remove_all(dir.parent_path()); }
  void put(const std::string& rel, const std::string& text) { std::ofstream(dir / rel) << text; }
  std::string error() {
    try {
      read_encoder_config(dir.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir;
};

TEST_F(EncoderConfigTest, ReadsABertFolder) {
  const EncoderConfig c = read_encoder_config(dir.string());
  EXPECT_EQ(c.arch, EncoderArch::Bert);
  EXPECT_EQ(c.hidden, 8);
  EXPECT_EQ(c.head_dim(), 4);
  EXPECT_EQ(c.max_seq_length, 16);
  EXPECT_TRUE(c.normalize);
  EXPECT_EQ(c.name, "my-encoder");
  EXPECT_FLOAT_EQ(c.ln_eps, 1e-12f);
}

TEST_F(EncoderConfigTest, NoNormalizeModuleMeansNoNormalisation) {
  put("modules.json", R"([{"type": "sentence_transformers.models.Transformer"},
                          {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}])");
  EXPECT_FALSE(read_encoder_config(dir.string()).normalize);
}

TEST_F(EncoderConfigTest, MaxSeqLengthIsCappedByThePositionTable) {
  put("sentence_bert_config.json", R"({"max_seq_length": 512})");
  EXPECT_EQ(read_encoder_config(dir.string()).max_seq_length, 32);
  // MPNet's first pad_id + 1 positions are padding's.
  put("config.json", R"({"model_type": "mpnet", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10,
    "max_position_embeddings": 32, "pad_token_id": 1})");
  const EncoderConfig c = read_encoder_config(dir.string());
  EXPECT_EQ(c.arch, EncoderArch::MPNet);
  EXPECT_EQ(c.max_seq_length, 30);
  EXPECT_EQ(c.relative_buckets, 32);
}

TEST_F(EncoderConfigTest, UnsupportedFoldersAreClearErrors) {
  put("1_Pooling/config.json", R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  EXPECT_THAT(error(), HasSubstr("pooling_mode_cls_token"));
  put("1_Pooling/config.json", kMeanPooling);
  put("modules.json", R"([{"type": "sentence_transformers.models.Dense"}])");
  EXPECT_THAT(error(), HasSubstr("sentence_transformers.models.Dense"));
  put("modules.json", kModules);
  put("config.json", R"({"model_type": "qwen2"})");
  EXPECT_THAT(error(), HasSubstr("model_type 'qwen2'"));
  put("config.json", R"({"model_type": "bert", "hidden_size": 8})");
  EXPECT_THAT(error(), HasSubstr("num_hidden_layers"));
  put("config.json", std::string(kBert).replace(std::string(kBert).find("\"gelu\""), 6, "\"relu\""));
  EXPECT_THAT(error(), HasSubstr("hidden_act 'relu'"));
  fs::remove(dir / "config.json");
  EXPECT_THAT(error(), HasSubstr("config.json"));
  EXPECT_THROW(read_encoder_config((dir / "absent").string()), Error);
}

TEST_F(EncoderConfigTest, AFolderWithoutWeightsOrTokenizerFailsToOpen) {
  try {
    SentenceEncoder::open(dir.string());
    FAIL() << "opened a folder without tokenizer.json";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tokenizer.json"));
  }
}

TEST(SentenceEncoderCosine, IsTheNormalisedDotProduct) {
  EXPECT_FLOAT_EQ(SentenceEncoder::cosine({1, 0}, {0, 1}), 0.f);
  EXPECT_FLOAT_EQ(SentenceEncoder::cosine({2, 0}, {1, 0}), 1.f);
  EXPECT_FLOAT_EQ(SentenceEncoder::cosine({1, 1}, {-1, -1}), -1.f);
  EXPECT_EQ(SentenceEncoder::cosine({0, 0}, {1, 0}), 0.f);
  EXPECT_THROW(SentenceEncoder::cosine({1}, {1, 2}), Error);
}

}  // namespace
}  // namespace ember
