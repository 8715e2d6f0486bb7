#pragma once
// The EmbeddingService net/ serves /v1/embeddings with, over engine/encoder's SentenceEncoder.
#include <memory>
#include <string>

#include "engine/encoder/sentence_encoder.h"
#include "net/embedding_service.h"

namespace ember::cli {

class EncoderEmbeddingService final : public net::EmbeddingService {
 public:
  explicit EncoderEmbeddingService(std::unique_ptr<SentenceEncoder> encoder)
      : encoder_(std::move(encoder)) {}
  std::string model_name() const override { return encoder_->name(); }
  int dim() const override { return encoder_->dim(); }
  net::EmbeddingResult embed(const std::vector<std::string>& texts) override {
    net::EmbeddingResult r;
    for (int n : encoder_->token_counts(texts)) r.prompt_tokens += n;
    r.vectors = encoder_->embed(texts);
    return r;
  }

 private:
  std::unique_ptr<SentenceEncoder> encoder_;
};

}  // namespace ember::cli
