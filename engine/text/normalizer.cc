#include "engine/text/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/unistr.h>

#include "engine/core/error.h"

namespace ember::text {
namespace {

bool is_ascii(const std::string& s) {
  for (char c : s)
    if (static_cast<uint8_t>(c) >= 0x80) return false;
  return true;
}

void replace_all(std::string& s, const NormalizerStep& st) {
  std::string out;
  size_t pos = 0;
  if (st.regex) {
    for (size_t from = 0; from <= s.size();) {
      auto [b, e] = st.regex->find(s, from);
      if (b == std::string::npos) break;
      if (e == b) {  // an empty match replaces nothing; step over one character
        from = b + 1;
        while (from < s.size() && (static_cast<uint8_t>(s[from]) & 0xC0) == 0x80) ++from;
        continue;
      }
      out.append(s, pos, b - pos).append(st.content);
      pos = from = e;
    }
  } else {
    if (st.text.empty()) return;
    for (size_t at = s.find(st.text); at != std::string::npos; at = s.find(st.text, pos)) {
      out.append(s, pos, at - pos).append(st.content);
      pos = at + st.text.size();
    }
  }
  if (pos == 0 && out.empty()) return;  // nothing matched
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

}  // namespace

void unicode_normalize(NormalizerStep::Kind kind, std::string& s) {
  if (is_ascii(s)) return;  // ASCII is invariant under every normalization form
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (kind) {
    case NormalizerStep::Kind::NFC: n = icu::Normalizer2::getNFCInstance(err); break;
    case NormalizerStep::Kind::NFD: n = icu::Normalizer2::getNFDInstance(err); break;
    case NormalizerStep::Kind::NFKC: n = icu::Normalizer2::getNFKCInstance(err); break;
    case NormalizerStep::Kind::NFKD: n = icu::Normalizer2::getNFKDInstance(err); break;
    default: return;
  }
  if (U_FAILURE(err)) fail("tokenizer: ICU normalizer unavailable: {}", u_errorName(err));
  const icu::StringPiece in(s.data(), int32_t(s.size()));
  if (n->isNormalizedUTF8(in, err) && U_SUCCESS(err)) return;
  err = U_ZERO_ERROR;
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  icu::StringByteSink<std::string> sink(&out);
  n->normalizeUTF8(0, in, sink, nullptr, err);
  if (U_FAILURE(err)) fail("tokenizer: Unicode normalization failed: {}", u_errorName(err));
  s.swap(out);
}

void unicode_lowercase(std::string& s) {
  if (is_ascii(s)) {
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return;
  }
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
  u.toLower();
  s.clear();
  u.toUTF8String(s);
}

void Normalizer::run(std::string& s) const {
  for (const NormalizerStep& st : steps_) {
    switch (st.kind) {
      case NormalizerStep::Kind::NFC:
      case NormalizerStep::Kind::NFD:
      case NormalizerStep::Kind::NFKC:
      case NormalizerStep::Kind::NFKD:
        unicode_normalize(st.kind, s);
        break;
      case NormalizerStep::Kind::Prepend:
        if (!s.empty()) s.insert(0, st.text);
        break;
      case NormalizerStep::Kind::Replace:
        replace_all(s, st);
        break;
      case NormalizerStep::Kind::Lowercase:
        unicode_lowercase(s);
        break;
    }
  }
}

}  // namespace ember::text
