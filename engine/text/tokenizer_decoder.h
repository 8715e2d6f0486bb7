#pragma once
// The decoder chain (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence) compiled
// into one piece per token id plus a few whole-text rules, so decoding is a concatenation and
// the stream decoder can emit pieces one token at a time.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember::text {

struct DecoderStep {
  enum class Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind;
  std::string pattern, content;  // Replace; Strip: content; Metaspace: replacement
  size_t start = 0, stop = 0;    // Strip
  bool prepend = true;           // Metaspace: strip the first token's leading space
};

class TokenDecoder {
 public:
  // `tokens[id]` is the token string of each id (empty for ids that name nothing).
  void build(const std::vector<DecoderStep>& steps, const std::vector<std::string>& tokens);

  // The bytes that token `id` contributes; `byte` is set for a byte-fallback token (one byte
  // whose UTF-8 validity is judged with its neighbouring byte tokens).
  std::string_view piece(int32_t id, bool* byte) const {
    *byte = is_byte_[size_t(id)] != 0;
    return pieces_[size_t(id)];
  }
  // Whole-text rules: characters stripped at the start / end of the output, and whether the
  // output is repaired as a whole (byte-level) rather than per byte-token group.
  size_t strip_start() const { return strip_start_; }
  size_t strip_stop() const { return strip_stop_; }
  char strip_char() const { return strip_char_; }
  bool lossy_whole() const { return lossy_whole_; }

  // Decodes ids (already filtered and range-checked) into valid UTF-8.
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  std::vector<std::string> pieces_;
  std::vector<uint8_t> is_byte_;
  size_t strip_start_ = 0, strip_stop_ = 0;
  char strip_char_ = ' ';
  bool lossy_whole_ = false;
};

// Appends a group of byte-fallback bytes as HF's ByteFallback decoder does: as text when they
// form valid UTF-8, else one U+FFFD per byte.
void append_byte_group(std::string& out, std::string_view bytes);

}  // namespace ember::text
