#include "engine/text/bert_text.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include "engine/core/error.h"
#include "engine/text/tokenizer_utf8.h"

namespace ember::text {
namespace {

// Decodes the code point at s[i] (valid UTF-8) and advances i.
UChar32 next_cp(std::string_view s, size_t& i) {
  UChar32 c;
  int32_t at = int32_t(i);
  U8_NEXT(s.data(), at, int32_t(s.size()), c);
  i = size_t(at);
  return c;
}

// Rust's char::is_whitespace is Unicode's White_Space property; BERT adds \t \n \r (already in it).
bool is_whitespace(UChar32 c) { return u_isUWhiteSpace(c); }

// BERT's "control": categories Cc, Cf, Cn, Co, Cs, except the whitespace controls.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (u_charType(c)) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_UNASSIGNED:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      return true;
    default:
      return false;
  }
}

bool is_chinese_char(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or a Unicode P* category.
bool is_punctuation(UChar32 c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  switch (u_charType(c)) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

void strip_accents(std::string& s) {
  bool ascii = true;
  for (char ch : s) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
  if (ascii) return;
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(err);
  if (U_FAILURE(err)) fail("tokenizer: ICU NFD normalizer unavailable: {}", u_errorName(err));
  const icu::UnicodeString d =
      nfd->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size()))), err);
  if (U_FAILURE(err)) fail("tokenizer: NFD failed: {}", u_errorName(err));
  std::string out;
  out.reserve(s.size());
  for (int32_t i = 0; i < d.length();) {
    const UChar32 c = d.char32At(i);
    i += U16_LENGTH(c);
    if (u_charType(c) != U_NON_SPACING_MARK) utf8_append_codepoint(out, uint32_t(c));
  }
  s.swap(out);
}

// Per character, as Rust's char::to_lowercase: no context, so a final sigma stays σ.
void lowercase(std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(char(b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++i;
      continue;
    }
    const UChar32 c = next_cp(s, i);
    icu::UnicodeString one(c);
    one.toLower(icu::Locale::getRoot());
    one.toUTF8String(out);
  }
  s.swap(out);
}

}  // namespace

std::string bert_normalize(std::string_view s, const BertNormalizerOptions& o) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const UChar32 c = next_cp(s, i);
    if (c < 0) continue;  // invalid bytes: the caller repaired them already
    if (o.clean_text) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) {
        out.push_back(' ');
        continue;
      }
    }
    if (o.handle_chinese_chars && is_chinese_char(c)) {
      out.push_back(' ');
      utf8_append_codepoint(out, uint32_t(c));
      out.push_back(' ');
      continue;
    }
    utf8_append_codepoint(out, uint32_t(c));
  }
  if (o.strip_accents) strip_accents(out);
  if (o.lowercase) lowercase(out);
  return out;
}

std::vector<std::string_view> bert_pre_tokenize(std::string_view s) {
  std::vector<std::string_view> words;
  size_t word = std::string_view::npos;  // start of the word being read
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    const UChar32 c = next_cp(s, i);
    const bool space = is_whitespace(c), punct = !space && is_punctuation(c);
    if (space || punct) {
      if (word != std::string_view::npos) words.push_back(s.substr(word, at - word));
      word = std::string_view::npos;
      if (punct) words.push_back(s.substr(at, i - at));
    } else if (word == std::string_view::npos) {
      word = at;
    }
  }
  if (word != std::string_view::npos) words.push_back(s.substr(word));
  return words;
}

}  // namespace ember::text
