#include "engine/text/tokenizer_decoder.h"

#include "engine/text/tokenizer_byte_level.h"
#include "engine/text/tokenizer_utf8.h"

namespace ember::text {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t pos = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, pos)) {
    out.append(s, pos, at - pos).append(to);
    pos = at + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

// "<0xAB>" -> 0xAB, or -1.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = t[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

size_t count_leading(std::string_view s, char c, size_t max) {
  size_t n = 0;
  while (n < max && n < s.size() && s[n] == c) ++n;
  return n;
}

}  // namespace

void append_byte_group(std::string& out, std::string_view bytes) {
  if (utf8_is_valid(bytes)) {
    out.append(bytes);
    return;
  }
  for (size_t i = 0; i < bytes.size(); ++i) out.append(kReplacementChar);
}

void TokenDecoder::build(const std::vector<DecoderStep>& steps,
                         const std::vector<std::string>& tokens) {
  pieces_ = tokens;
  is_byte_.assign(tokens.size(), 0);
  bool fused = false;
  for (const DecoderStep& st : steps) {
    switch (st.kind) {
      case DecoderStep::Kind::ByteLevel:
        for (auto& p : pieces_)
          if (auto raw = byte_level_decode(p)) p = std::move(*raw);
        lossy_whole_ = true;
        break;
      case DecoderStep::Kind::Replace:
        for (size_t i = 0; i < pieces_.size(); ++i)
          if (!is_byte_[i]) replace_all(pieces_[i], st.pattern, st.content);
        break;
      case DecoderStep::Kind::ByteFallback:
        for (size_t i = 0; i < pieces_.size(); ++i) {
          const int b = parse_byte_token(pieces_[i]);
          if (b >= 0) {
            pieces_[i] = std::string(1, char(b));
            is_byte_[i] = 1;
          }
        }
        break;
      case DecoderStep::Kind::Fuse:
        fused = true;
        break;
      case DecoderStep::Kind::Strip:
        if (fused || st.content.size() != 1) {
          // After Fuse there is one string: the rule applies to the whole output.
          strip_start_ = st.start;
          strip_stop_ = st.stop;
          strip_char_ = st.content.empty() ? ' ' : st.content[0];
        } else {
          for (size_t i = 0; i < pieces_.size(); ++i) {
            if (is_byte_[i]) continue;
            std::string& p = pieces_[i];
            p.erase(0, count_leading(p, st.content[0], st.start));
            size_t n = 0;
            while (n < st.stop && n < p.size() && p[p.size() - 1 - n] == st.content[0]) ++n;
            p.resize(p.size() - n);
          }
        }
        break;
      case DecoderStep::Kind::Metaspace:
        for (size_t i = 0; i < pieces_.size(); ++i)
          if (!is_byte_[i]) replace_all(pieces_[i], st.content, " ");
        if (st.prepend) {
          strip_start_ = 1;
          strip_char_ = ' ';
        }
        break;
    }
  }
}

std::string TokenDecoder::decode(const std::vector<int32_t>& ids) const {
  std::string out, group;
  for (int32_t id : ids) {
    bool byte = false;
    const std::string_view p = piece(id, &byte);
    if (byte) {
      group.append(p);
      continue;
    }
    if (!group.empty()) {
      append_byte_group(out, group);
      group.clear();
    }
    out.append(p);
  }
  if (!group.empty()) append_byte_group(out, group);
  out.erase(0, count_leading(out, strip_char_, strip_start_));
  size_t n = 0;
  while (n < strip_stop_ && n < out.size() && out[out.size() - 1 - n] == strip_char_) ++n;
  out.resize(out.size() - n);
  if (lossy_whole_ || !utf8_is_valid(out)) return utf8_lossy(out);
  return out;
}

}  // namespace ember::text
