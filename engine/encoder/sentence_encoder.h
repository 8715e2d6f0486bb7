#pragma once
// A sentence-transformers encoder (BERT or MPNet) that turns texts into unit-length embeddings:
// tokenize (WordPiece), run the bidirectional encoder on a backend, mean-pool over the real
// tokens, L2-normalise. The model folder is what sentence-transformers saves: modules.json,
// 1_Pooling/config.json, sentence_bert_config.json, config.json, model.safetensors,
// tokenizer.json.
//
// Thread-safety: every public member may be called from any thread at once; embed() calls are
// serialised by a mutex inside (one forward pass at a time uses all of the backend's threads).
#include <memory>
#include <string>
#include <vector>

namespace ember {

class Backend;

struct SentenceEncoderOptions {
  // Texts per forward pass; embed() splits longer lists into batches of this size.
  int max_batch = 32;
  // Worker threads of the CPU backend the encoder makes for itself; 0: the hardware's.
  int threads = 0;
};

class SentenceEncoder {
 public:
  // Loads the encoder in folder DIR. Throws ember::Error naming the file and field at fault
  // when the folder is not a sentence-transformers BERT/MPNet model with mean pooling.
  static std::unique_ptr<SentenceEncoder> open(const std::string& dir,
                                               const SentenceEncoderOptions& options = {});
  virtual ~SentenceEncoder() = default;

  // One embedding of dim() floats per text, in order: the mean of its tokens' last hidden
  // states, L2-normalised when modules.json has a Normalize module (both supported models do).
  // Texts longer than max_tokens() are truncated as sentence-transformers truncates them. Any
  // string is valid input (invalid UTF-8 is repaired); an empty text embeds its special tokens.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) = 0;
  // Tokens each text of `texts` takes after truncation, special tokens included (for usage).
  virtual std::vector<int> token_counts(const std::vector<std::string>& texts) const = 0;

  virtual int dim() const = 0;
  virtual int max_tokens() const = 0;
  // The folder's base name (e.g. "all-MiniLM-L6-v2"), what /v1/embeddings reports as `model`.
  virtual std::string name() const = 0;

  // Cosine similarity of two embeddings of equal length (dot product over the norms' product;
  // 0 when either is all zeros).
  static float cosine(const std::vector<float>& a, const std::vector<float>& b);
};

}  // namespace ember
