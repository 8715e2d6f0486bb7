#pragma once
// A token as OpenAI-style logprobs entries name it, by vLLM's rule: the id decoded alone with
// special tokens written out (bytes that are not valid UTF-8 on their own become U+FFFD, as the
// Hugging Face decoder writes them), then the leading spaces a SentencePiece piece's "▁" markers
// stand for restored where the decoder stripped them (its first-token rule). Validators compare
// these strings with their own reference's, so they must be the reference's.
#include <cstdint>
#include <string>

#include "engine/text/tokenizer.h"

namespace ember {

std::string token_text(const Tokenizer& tok, int32_t id);

}  // namespace ember
