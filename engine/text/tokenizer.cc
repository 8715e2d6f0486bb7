#include "engine/text/tokenizer.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"
#include "engine/text/tokenizer_byte_level.h"
#include "engine/text/tokenizer_data.h"
#include "engine/text/tokenizer_utf8.h"

namespace ember {

using text::TokenizerData;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("tokenizer: cannot open '{}'", p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail("tokenizer: cannot read '{}'", p.string());
  return std::move(ss).str();
}

std::string read_if_present(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) ? read_file(p) : std::string();
}

void check_id(const TokenizerData& d, int32_t id) {
  if (id < 0 || size_t(id) >= d.tokens.size())
    fail("decode: token id {} is out of range (vocab size {})", id, d.tokens.size());
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  if (!fs::exists(file, ec)) fail("tokenizer: '{}' not found", file.string());
  const fs::path dir = file.parent_path();
  const std::string json = read_file(file);
  const std::string config = read_if_present(dir / "tokenizer_config.json");
  const std::string gen = read_if_present(dir / "generation_config.json");
  return Tokenizer(text::parse_tokenizer(json, config, gen, file.string()));
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json,
                               std::string_view generation_json, const std::string& source) {
  return Tokenizer(text::parse_tokenizer(tokenizer_json, config_json, generation_json, source));
}

std::vector<int32_t> Tokenizer::encode(std::string_view input, EncodeOptions opts) const {
  const TokenizerData& d = *d_;
  std::string repaired;
  if (!text::utf8_is_valid(input)) {
    repaired = text::utf8_lossy(input);
    input = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(input.size() / 3 + d.prefix.size() + d.suffix.size() + 4);
  if (opts.add_special) ids = d.prefix;

  thread_local std::vector<text::Segment> segments;
  thread_local std::vector<text::Piece> pieces;
  thread_local std::deque<std::string> arena;
  thread_local std::string normalized;
  segments.clear();
  const auto& matcher = opts.parse_special ? d.match_all : d.match_plain;
  if (matcher.empty()) {
    if (!input.empty()) segments.push_back({-1, 0, input.size()});
  } else {
    matcher.split(input, segments);
  }
  for (const text::Segment& seg : segments) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string_view s = input.substr(seg.begin, seg.end - seg.begin);
    if (!d.normalizer.empty()) {
      normalized.assign(s);
      d.normalizer.run(normalized);
      s = normalized;
    }
    pieces.clear();
    arena.clear();
    d.pre_tokenizer.run({s, seg.begin == 0}, pieces, arena);
    for (const text::Piece& p : pieces) d.model.encode(p.text, ids);
  }
  if (opts.add_special) ids.insert(ids.end(), d.suffix.begin(), d.suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, DecodeOptions opts) const {
  const TokenizerData& d = *d_;
  std::vector<int32_t> kept;
  kept.reserve(ids.size());
  for (int32_t id : ids) {
    check_id(d, id);
    if (opts.skip_special && d.special[size_t(id)]) continue;
    kept.push_back(id);
  }
  return d.decoder.decode(kept);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const TokenizerData& d = *d_;
  if (auto it = d.added_ids.find(token); it != d.added_ids.end()) return it->second;
  if (d.model.options().byte_level) {
    if (auto raw = text::byte_level_decode(token))
      if (auto id = d.model.find(*raw)) return id;
  }
  return d.model.find(token);
}


std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= d_->tokens.size() || d_->tokens[size_t(id)].empty())
    return std::nullopt;
  return d_->tokens[size_t(id)];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < d_->special.size() && d_->special[size_t(id)];
}

std::optional<int32_t> Tokenizer::bos_id() const { return d_->bos; }
const std::vector<int32_t>& Tokenizer::eos_ids() const { return d_->eos; }
size_t Tokenizer::vocab_size() const { return d_->tokens.size(); }

// ---- streaming ----

StreamDecoder::StreamDecoder(const Tokenizer& tok, DecodeOptions opts)
    : d_(tok.d_), opts_(opts), strip_left_(tok.d_->decoder.strip_start()) {}

std::string StreamDecoder::push(int32_t id) {
  const TokenizerData& d = *d_;
  check_id(d, id);
  if (opts_.skip_special && d.special[size_t(id)]) return {};
  bool byte = false;
  const std::string_view p = d.decoder.piece(id, &byte);
  std::string ready;
  if (d.decoder.lossy_whole()) {
    pending_.append(p);
    const size_t n = text::utf8_complete_prefix(pending_);
    text::utf8_append_lossy(ready, std::string_view(pending_).substr(0, n));
    pending_.erase(0, n);
  } else if (byte) {
    group_.append(p);
    if (text::utf8_is_valid(group_)) ready.swap(group_);
  } else {
    if (!group_.empty()) {
      text::append_byte_group(ready, group_);
      group_.clear();
    }
    text::utf8_append_lossy(ready, p);
  }
  return emit(std::move(ready));
}

std::string StreamDecoder::flush() {
  std::string ready;
  text::utf8_append_lossy(ready, pending_);
  pending_.clear();
  if (!group_.empty()) text::append_byte_group(ready, group_);
  group_.clear();
  std::string out = emit(std::move(ready));
  // The end is known now: a Strip(stop) rule drops trailing characters from what was held.
  const auto& dec = d_->decoder;
  size_t n = 0;
  while (n < dec.strip_stop() && n < held_.size() && held_[held_.size() - 1 - n] == dec.strip_char()) ++n;
  held_.resize(held_.size() - n);
  out += held_;
  held_.clear();
  return out;
}

std::string StreamDecoder::emit(std::string ready) {
  const auto& dec = d_->decoder;
  size_t cut = 0;
  while (strip_left_ > 0 && cut < ready.size() && ready[cut] == dec.strip_char()) {
    ++cut;
    --strip_left_;
  }
  if (cut < ready.size()) strip_left_ = 0;
  ready.erase(0, cut);
  if (dec.strip_stop() == 0) return ready;
  // Hold back a trailing run of the strip character until more text (or the end) comes.
  std::string all = std::move(held_) + ready;
  size_t keep = all.size();
  while (keep > 0 && all[keep - 1] == dec.strip_char()) --keep;
  held_ = all.substr(keep);
  all.resize(keep);
  return all;
}

}  // namespace ember
