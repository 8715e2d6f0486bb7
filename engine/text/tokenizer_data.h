#pragma once
// Everything a loaded tokenizer holds; internal to engine/text.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/text/bpe_model.h"
#include "engine/text/normalizer.h"
#include "engine/text/pretokenizer.h"
#include "engine/text/tokenizer_added_tokens.h"
#include "engine/text/tokenizer_decoder.h"

namespace ember::text {

struct TokenizerData {
  std::string source;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  std::vector<AddedToken> added;       // stable: the matchers point into it
  AddedTokenMatcher match_all;         // parse_special: every added token
  AddedTokenMatcher match_plain;       // otherwise: only the non-special ones
  VocabMap added_ids;                  // content -> id
  std::vector<std::string> tokens;     // id -> token string ("" for an unused id)
  std::vector<uint8_t> special;        // id -> is a special added token
  TokenDecoder decoder;
  std::vector<int32_t> prefix, suffix;  // what add_special puts around the ids
  std::optional<int32_t> bos;
  std::vector<int32_t> eos;
};

// Builds the tokenizer from the contents of tokenizer.json and (optionally empty)
// tokenizer_config.json / generation_config.json. Errors name `source`.
std::shared_ptr<TokenizerData> parse_tokenizer(std::string_view tokenizer_json,
                                               std::string_view config_json,
                                               std::string_view generation_json,
                                               const std::string& source);

}  // namespace ember::text
