#pragma once
// Normalizers: rewrite a text segment before pre-tokenization. Supports the steps the Llama-2 /
// Mistral / Phi-3 / Qwen families use: Unicode normalization (NFC, NFD, NFKC, NFKD via ICU),
// Prepend, Replace (literal or regex), Lowercase, and Sequence of these.
#include <memory>
#include <string>
#include <vector>

#include "engine/text/pretokenizer_regex.h"

namespace ember::text {

struct NormalizerStep {
  enum class Kind { NFC, NFD, NFKC, NFKD, Prepend, Replace, Lowercase } kind = Kind::NFC;
  std::string text;     // Prepend: what to prepend; Replace: the literal pattern
  std::string content;  // Replace: what replaces each match
  std::shared_ptr<const Regex> regex;  // Replace with a Regex pattern
};

class Normalizer {
 public:
  void add(NormalizerStep step) { steps_.push_back(std::move(step)); }
  bool empty() const { return steps_.empty(); }
  // Rewrites s (valid UTF-8) in place.
  void run(std::string& s) const;

 private:
  std::vector<NormalizerStep> steps_;
};

// Unicode normalization of valid UTF-8 (kind is one of NFC, NFD, NFKC, NFKD).
void unicode_normalize(NormalizerStep::Kind kind, std::string& s);
void unicode_lowercase(std::string& s);

}  // namespace ember::text
