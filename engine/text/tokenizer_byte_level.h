#pragma once
// The GPT-2 byte-level alphabet: every byte maps to one printable code point, so a byte-level
// BPE vocabulary is a set of strings over those 256 characters. The tokenizer converts the
// vocabulary back to raw bytes once at load time and runs BPE on bytes directly.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember::text {

// The code point that stands for byte b.
uint32_t byte_level_char(uint8_t b);

// The raw bytes that a byte-level token string stands for, or nullopt when it holds a character
// outside the alphabet (e.g. an added token typed in plain text).
std::optional<std::string> byte_level_decode(std::string_view token);

// The byte-level spelling of raw bytes.
std::string byte_level_encode(std::string_view bytes);

}  // namespace ember::text
