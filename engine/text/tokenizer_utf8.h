#pragma once
// UTF-8 helpers for the tokenizer: sequence lengths, validation, and the lossy repair that turns
// invalid bytes into U+FFFD (as Rust's from_utf8_lossy does, which is what HF decoders use).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ember::text {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of a valid UTF-8 sequence starting at s[i], or 0 when the bytes there are invalid or
// truncated. `truncated` is set when the bytes are a valid prefix cut off by the end of s.
size_t utf8_valid_len(std::string_view s, size_t i, bool* truncated = nullptr);

bool utf8_is_valid(std::string_view s);

// Appends s to out, each maximal invalid subsequence replaced by one U+FFFD.
void utf8_append_lossy(std::string& out, std::string_view s);
inline std::string utf8_lossy(std::string_view s) {
  std::string out;
  utf8_append_lossy(out, s);
  return out;
}

void utf8_append_codepoint(std::string& out, uint32_t cp);

// Length of the longest prefix of s that holds no truncated sequence at its end: the bytes a
// streaming decoder may emit now. Invalid bytes (not a prefix of a valid sequence) count as
// complete, so they are emitted (repaired) rather than held forever.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace ember::text
