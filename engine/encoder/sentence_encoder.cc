#include "engine/encoder/sentence_encoder.h"

#include <cmath>
#include <filesystem>
#include <mutex>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/encoder/encoder_model.h"
#include "engine/encoder/pooling.h"
#include "engine/text/wordpiece_tokenizer.h"

namespace ember {
namespace {

// Tokens per forward pass at most: bounds the activations (and attention's work) of a batch.
constexpr size_t kMaxBatchTokens = 16384;

class SentenceEncoderImpl final : public SentenceEncoder {
 public:
  SentenceEncoderImpl(const std::string& dir, const SentenceEncoderOptions& o)
      : cfg_(read_encoder_config(dir)),
        tok_(WordPieceTokenizer::load(dir)),
        backend_(make_cpu_backend(o.threads)),
        model_(cfg_, dir, *backend_),
        max_batch_(std::max(1, o.max_batch)) {
    if (tok_.vocab_size() > size_t(cfg_.vocab))
      fail("{}: tokenizer.json has ids up to {}, but config.json's vocab_size is {}", dir,
           tok_.vocab_size() - 1, cfg_.vocab);
  }

  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    std::vector<std::vector<int32_t>> ids;
    ids.reserve(texts.size());
    for (const auto& t : texts) ids.push_back(tok_.encode(t, cfg_.max_seq_length));
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t b = 0; b < ids.size();) {
      size_t e = b, tokens = 0;
      while (e < ids.size() && e - b < size_t(max_batch_) &&
             (e == b || tokens + ids[e].size() <= kMaxBatchTokens))
        tokens += ids[e++].size();
      const std::vector<std::vector<int32_t>> batch(ids.begin() + long(b), ids.begin() + long(e));
      const std::vector<float> hidden = model_.forward(batch);
      size_t row = 0;
      for (const auto& seq : batch) {
        out.push_back(mean_pool(hidden.data() + row * size_t(cfg_.hidden), seq.size(),
                                size_t(cfg_.hidden), cfg_.normalize));
        row += seq.size();
      }
      b = e;
    }
    return out;
  }

  std::vector<int> token_counts(const std::vector<std::string>& texts) const override {
    std::vector<int> n;
    n.reserve(texts.size());
    for (const auto& t : texts) n.push_back(int(tok_.encode(t, cfg_.max_seq_length).size()));
    return n;
  }

  int dim() const override { return cfg_.hidden; }
  int max_tokens() const override { return cfg_.max_seq_length; }
  std::string name() const override { return cfg_.name; }

 private:
  EncoderConfig cfg_;
  WordPieceTokenizer tok_;
  std::unique_ptr<Backend> backend_;
  EncoderModel model_;
  int max_batch_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<SentenceEncoder> SentenceEncoder::open(const std::string& dir,
                                                       const SentenceEncoderOptions& options) {
  return std::make_unique<SentenceEncoderImpl>(dir, options);
}

float SentenceEncoder::cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    fail("cosine: embeddings of different lengths ({} and {})", a.size(), b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return 0.f;
  return float(ab / std::sqrt(aa * bb));
}

}  // namespace ember
