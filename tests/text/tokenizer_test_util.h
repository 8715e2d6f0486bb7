#pragma once
// Shared by the tokenizer tests: reading files and the llama.cpp vocab test format.
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace ember::test {

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// NAME.inp holds texts each followed by "\n__ggml_vocab_test__\n".
inline std::vector<std::string> read_vocab_inputs(const std::string& path) {
  const std::string all = read_text(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t at = all.find(sep); at != std::string::npos; at = all.find(sep, pos)) {
    out.push_back(all.substr(pos, at - pos));
    pos = at + sep.size();
  }
  return out;
}

// NAME.out holds one line of space-separated ids per text.
inline std::vector<std::vector<int32_t>> read_vocab_outputs(const std::string& path) {
  std::istringstream in(read_text(path));
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace ember::test

#include <cstdio>
#include <filesystem>
#include <random>

#include <simdjson.h>

namespace ember::test {

// Random text that exercises the tokenizers: words, digits, punctuation, whitespace runs,
// accented and combining characters, Cyrillic, CJK, emoji, and (optionally) special tokens.
inline std::string random_text(std::mt19937& rng, const std::vector<std::string>& specials = {}) {
  static const std::vector<std::string> words = {
      "the", "The", " quick", "brown", "fox's", "I'm", "they'll", "don't", "HELLO", "naïve",
      "Café", "über", "straße", "привет", "мир", "日本語", "中文", "한국어", "🦙", "😀👍",
      "👨‍👩‍👧", "e\xCC\x81", "ﬁ", "x²", "١٢٣", "...", "!!", "?", "--", "(a)", "[b]", "{c}",
      "#", "$5", "3.14", "2024", "123456789", "\t", "\n", "\n\n", "\r\n", "  ", "   ", " "};
  std::uniform_int_distribution<int> n_tok(0, 24), pick(0, int(words.size()) - 1), coin(0, 9);
  std::uniform_int_distribution<uint32_t> cp_range(0, 5);
  std::string s;
  const int n = n_tok(rng);
  for (int i = 0; i < n; ++i) {
    const int c = coin(rng);
    if (c == 0 && !specials.empty()) {
      s += specials[size_t(rng() % specials.size())];
    } else if (c == 1) {
      // A random code point from a few blocks (never a surrogate or U+2581).
      static const uint32_t lo[] = {0x20, 0xA0, 0x400, 0x3040, 0x4E00, 0x1F300};
      static const uint32_t span[] = {0x5F, 0x160, 0x100, 0x60, 0x800, 0x300};
      const uint32_t r = cp_range(rng);
      const uint32_t cp = lo[r] + uint32_t(rng() % span[r]);
      if (cp < 0x80) s.push_back(char(cp));
      else if (cp < 0x800) { s.push_back(char(0xC0 | (cp >> 6))); s.push_back(char(0x80 | (cp & 0x3F))); }
      else if (cp < 0x10000) { s.push_back(char(0xE0 | (cp >> 12))); s.push_back(char(0x80 | ((cp >> 6) & 0x3F))); s.push_back(char(0x80 | (cp & 0x3F))); }
      else { s.push_back(char(0xF0 | (cp >> 18))); s.push_back(char(0x80 | ((cp >> 12) & 0x3F))); s.push_back(char(0x80 | ((cp >> 6) & 0x3F))); s.push_back(char(0x80 | (cp & 0x3F))); }
    } else {
      if (c < 6 && !s.empty()) s += ' ';
      s += words[size_t(pick(rng))];
    }
  }
  return s;
}

inline std::string json_quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += char(c); }
    else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += char(c);
  }
  return o + "\"";
}

// Runs a command and returns its stdout, or nullopt when it fails.
inline std::optional<std::string> run_capture(const std::string& cmd) {
  CommandResult r = run_command(cmd);
  if (r.code != 0) return std::nullopt;
  return std::move(r.out);
}

// Whether the reference Python (EMBER_PYTHON or .venv) has the `tokenizers` package.
inline bool have_reference_tokenizers() {
  const std::string py = python();
  if (!std::filesystem::exists(py)) return false;
  return run_capture(py + " -c 'import tokenizers' 2>/dev/null").has_value();
}

}  // namespace ember::test
