#pragma once
// What net/ needs from a sentence encoder to serve POST /v1/embeddings: texts in, vectors out.
// net/ never sees a tensor; tools/ember adapts engine/encoder's SentenceEncoder to this.
#include <string>
#include <vector>

namespace ember::net {

struct EmbeddingResult {
  std::vector<std::vector<float>> vectors;  // one per input, in order, each dim() long
  int prompt_tokens = 0;                    // tokens the inputs took, special tokens included
};

class EmbeddingService {
 public:
  virtual ~EmbeddingService() = default;
  // The name replies carry as `model` (and requests may name).
  virtual std::string model_name() const = 0;
  virtual int dim() const = 0;
  // Blocking; safe to call from many threads at once. Throws std::exception on failure.
  virtual EmbeddingResult embed(const std::vector<std::string>& texts) = 0;
};

}  // namespace ember::net
