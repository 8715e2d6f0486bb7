#include "engine/serve/text_stream.h"

#include <algorithm>

namespace ember {

StopMatcher::Out StopMatcher::push(std::string_view delta) {
  held_ += delta;
  Out out;
  size_t first = std::string::npos;
  size_t len = 0;
  for (const auto& s : stops_) {
    const size_t at = held_.find(s);
    if (at < first || (at == first && at != std::string::npos && s.size() > len)) {
      first = at;
      len = s.size();
    }
  }
  if (first != std::string::npos) {
    out.text = held_.substr(0, include_stop_ ? first + len : first);
    out.stopped = true;
    held_.clear();
    return out;
  }
  size_t keep = 0;  // longest suffix of held_ that is a proper prefix of a stop string
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  out.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  std::string r;
  r.swap(held_);
  return r;
}

bool ends_incomplete_utf8(std::string_view s) {
  if (s.size() >= 3 && s.substr(s.size() - 3) == "\xEF\xBF\xBD") return true;
  // Walk back over continuation bytes to the lead byte and check the sequence is whole.
  size_t i = s.size(), cont = 0;
  while (i > 0 && (uint8_t(s[i - 1]) & 0xC0) == 0x80 && cont < 4) {
    --i;
    ++cont;
  }
  if (i == 0) return cont > 0;
  const uint8_t lead = uint8_t(s[i - 1]);
  size_t need = 0;
  if (lead >= 0xF0) need = 3;
  else if (lead >= 0xE0) need = 2;
  else if (lead >= 0xC0) need = 1;
  else return cont > 0;  // continuation bytes after ASCII: invalid, do not wait for more
  return cont < need;
}

TextStream::TextStream(TextCodec& codec, std::span<const int32_t> context,
                       std::vector<std::string> stops, TextStreamOptions opts)
    : codec_(codec), ids_(context.begin(), context.end()), prefix_(0), read_(ids_.size()),
      stop_(std::move(stops), opts.include_stop_str), skip_special_(opts.skip_special_tokens) {}

std::string TextStream::decode(size_t from, size_t to) {
  const auto ids = std::span<const int32_t>(ids_).subspan(from, to - from);
  return skip_special_ ? codec_.decode(ids) : codec_.decode_with_special(ids);
}

std::string TextStream::pending_delta() {
  const std::string before = decode(prefix_, read_);
  const std::string after = decode(prefix_, ids_.size());
  if (after.size() <= before.size() || ends_incomplete_utf8(after)) return {};
  // Keep a little context so the next token still decodes as it would mid-text.
  prefix_ = read_;
  read_ = ids_.size();
  return after.substr(before.size());
}

StopMatcher::Out TextStream::push(int32_t token) {
  ids_.push_back(token);
  auto out = stop_.push(pending_delta());
  stopped_ = stopped_ || out.stopped;
  return out;
}

std::string TextStream::flush() {
  if (stopped_) return {};
  std::string tail;
  if (read_ < ids_.size()) {
    const std::string before = decode(prefix_, read_);
    const std::string after = decode(prefix_, ids_.size());
    if (after.size() > before.size()) tail = after.substr(before.size());
    read_ = ids_.size();
  }
  auto out = stop_.push(tail);
  return out.stopped ? out.text : out.text + stop_.flush();
}

}  // namespace ember
