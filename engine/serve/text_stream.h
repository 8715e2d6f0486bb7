#pragma once
// Turns a completion's growing token list into streamed text: incremental detokenization (a
// token's text can depend on its neighbours, e.g. SentencePiece's leading space, and a
// character can span tokens) and stop strings (text that could still become a stop string is
// held back, so a stop string never reaches the client, even split across tokens).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/serve/text_codec.h"

namespace ember {

// Holds back the longest tail of the text that is a prefix of some stop string.
class StopMatcher {
 public:
  // `include_stop`: the matched stop string ends the emitted text instead of being cut.
  explicit StopMatcher(std::vector<std::string> stops, bool include_stop = false)
      : stops_(std::move(stops)), include_stop_(include_stop) {}
  struct Out {
    std::string text;  // safe to emit
    bool stopped = false;
  };
  Out push(std::string_view delta);
  std::string flush();  // the held-back text, at the end of the completion

 private:
  std::vector<std::string> stops_;
  bool include_stop_ = false;
  std::string held_;
};

struct TextStreamOptions {
  bool skip_special_tokens = true;
  bool include_stop_str = false;
};

class TextStream {
 public:
  // `context` is the tail of the prompt, so the first output token decodes as it would mid-text.
  TextStream(TextCodec& codec, std::span<const int32_t> context, std::vector<std::string> stops,
             TextStreamOptions opts = {});
  StopMatcher::Out push(int32_t token);
  std::string flush();

 private:
  TextCodec& codec_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0, read_ = 0;  // ids_[prefix_, read_) is already-emitted context
  StopMatcher stop_;
  bool skip_special_;
  bool stopped_ = false;
  std::string pending_delta();
  std::string decode(size_t from, size_t to);
};

// True when s ends inside a UTF-8 sequence or with U+FFFD (a decoder's stand-in for one).
bool ends_incomplete_utf8(std::string_view s);

}  // namespace ember
