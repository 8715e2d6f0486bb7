// Fuzzes the encoder (and decode / stream decode of what it produced): no crash, no hang, and
// decode(encode(x)) is valid UTF-8. Uses EMBER_FUZZ_TOKENIZER (a model dir or tokenizer.json)
// when set, else two small in-memory tokenizers: a byte-level one with a regex Split and
// added tokens, and a SentencePiece-style one with byte fallback.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_byte_level.h"
#include "engine/text/tokenizer_utf8.h"

namespace {

std::string byte_level_json() {
  std::string vocab;
  for (int b = 0; b < 256; ++b) {
    const std::string s = ember::text::byte_level_encode(std::string(1, char(b)));
    vocab += "\"" + (s == "\"" ? std::string("\\\"") : s == "\\" ? std::string("\\\\") : s) +
             "\": " + std::to_string(b) + ",";
  }
  vocab += "\"Ġt\": 256, \"he\": 257, \"Ġthe\": 258, \"in\": 259";
  return R"({"added_tokens": [
      {"id": 300, "content": "<|end|>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false},
      {"id": 301, "content": "<x>", "special": false, "lstrip": true, "rstrip": true, "single_word": false, "normalized": false}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [300], "tokens": ["<|end|>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "ignore_merges": true, "vocab": {)" +
         vocab + R"(}, "merges": ["Ġ t", "h e", "Ġt he", "i n"]}})";
}

std::string spm_json() {
  std::string vocab = "\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2";
  char buf[32];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, ", \"<0x%02X>\": %d", b, 3 + b);
    vocab += buf;
  }
  vocab += ", \"▁\": 259, \"a\": 260, \"b\": 261, \"▁a\": 262, \"ab\": 263, \"▁ab\": 264";
  return R"({"added_tokens": [
      {"id": 1, "content": "<s>", "special": true, "lstrip": false, "rstrip": false, "single_word": false, "normalized": false}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true, "vocab": {)" +
         vocab + R"(}, "merges": ["▁ a", "a b", "▁a b"]}})";
}

std::vector<ember::Tokenizer> tokenizers() {
  std::vector<ember::Tokenizer> out;
  if (const char* p = std::getenv("EMBER_FUZZ_TOKENIZER")) {
    out.push_back(ember::Tokenizer::load(p));
  } else {
    out.push_back(ember::Tokenizer::from_json(byte_level_json()));
    out.push_back(ember::Tokenizer::from_json(spm_json()));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<ember::Tokenizer> toks = tokenizers();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const ember::Tokenizer& tok : toks) {
    for (bool special : {false, true}) {
      const auto ids = tok.encode(text, {.add_special = special, .parse_special = special});
      for (int32_t id : ids)
        if (id < 0 || size_t(id) >= tok.vocab_size()) std::abort();
      const std::string back = tok.decode(ids, {.skip_special = special});
      if (!ember::text::utf8_is_valid(back)) std::abort();
      ember::StreamDecoder sd(tok, {.skip_special = special});
      std::string streamed;
      for (int32_t id : ids) streamed += sd.push(id);
      streamed += sd.flush();
      if (streamed != back) std::abort();
    }
  }
  return 0;
}
