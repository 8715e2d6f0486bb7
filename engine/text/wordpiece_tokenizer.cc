#include "engine/text/wordpiece_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/text/bert_text.h"
#include "engine/text/tokenizer_utf8.h"

namespace ember {
namespace text {

// An added token as the AddedVocabulary matches it: in the raw text (normalized = false) or in
// the normalized text; lstrip / rstrip swallow the whitespace beside a match.
struct WordPieceAdded {
  std::string content;
  int32_t id = 0;
  bool normalized = false, lstrip = false, rstrip = false;
};

struct WordPieceData {
  std::string source;
  BertNormalizerOptions norm;
  bool has_normalizer = true;
  std::unordered_map<std::string, int32_t> vocab;
  std::string prefix = "##";
  int32_t unk = 0;
  size_t max_chars = 100;
  std::vector<WordPieceAdded> added;
  std::vector<int32_t> before, after;  // the post-processor's special ids
  size_t vocab_size = 0;
};

}  // namespace text

namespace {

using simdjson::dom::element;
using simdjson::dom::object;
using text::WordPieceAdded;
using text::WordPieceData;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("tokenizer: cannot open '{}'", p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail("tokenizer: cannot read '{}'", p.string());
  return std::move(ss).str();
}

std::string_view str_field(object o, std::string_view key, const std::string& where) {
  std::string_view v;
  if (o[key].get(v)) fail("{}: {}.{} must be a string", where, where, key);
  return v;
}

bool bool_field(object o, std::string_view key, bool dflt) {
  bool v;
  return o[key].get(v) ? dflt : v;
}

// An id the post-processor names, by its token string.
int32_t special_id(const WordPieceData& d, std::string_view token, const std::string& where) {
  for (const auto& a : d.added)
    if (a.content == token) return a.id;
  auto it = d.vocab.find(std::string(token));
  if (it == d.vocab.end()) fail("{}: {} names '{}', which is not in the vocabulary", d.source, where, token);
  return it->second;
}

void read_post_processor(WordPieceData& d, element pp) {
  if (pp.is_null()) return;
  object o;
  if (pp.get(o)) fail("{}: post_processor must be an object", d.source);
  const std::string_view type = str_field(o, "type", "post_processor");
  if (type == "TemplateProcessing") {
    simdjson::dom::array single;
    if (o["single"].get(single)) fail("{}: post_processor.single must be an array", d.source);
    bool seen_seq = false;
    for (element piece : single) {
      object po;
      if (piece.get(po)) fail("{}: post_processor.single holds a non-object", d.source);
      object sp;
      if (!po["SpecialToken"].get(sp)) {
        const std::string_view id = str_field(sp, "id", "post_processor.single.SpecialToken");
        // The template names a special token; its ids are listed under special_tokens.
        simdjson::dom::array ids;
        int32_t tok;
        if (!o["special_tokens"][id]["ids"].get(ids) && ids.size() == 1) {
          int64_t v;
          if (ids.at(0).get(v)) fail("{}: special_tokens.{}.ids must hold integers", d.source, id);
          tok = int32_t(v);
        } else {
          tok = special_id(d, id, "post_processor.single");
        }
        (seen_seq ? d.after : d.before).push_back(tok);
      } else if (po["Sequence"].error() == simdjson::SUCCESS) {
        seen_seq = true;
      } else {
        fail("{}: post_processor.single holds a piece that is neither SpecialToken nor Sequence",
             d.source);
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    simdjson::dom::array cls, sep;
    int64_t cls_id, sep_id;
    if (o["cls"].get(cls) || cls.size() != 2 || cls.at(1).get(cls_id) || o["sep"].get(sep) ||
        sep.size() != 2 || sep.at(1).get(sep_id))
      fail("{}: post_processor.cls / .sep must be [token, id]", d.source);
    d.before = {int32_t(cls_id)};
    d.after = {int32_t(sep_id)};
  } else {
    fail("{}: post_processor type '{}' is not supported for WordPiece (TemplateProcessing, "
         "RobertaProcessing, BertProcessing are)", d.source, type);
  }
}

std::shared_ptr<WordPieceData> parse(std::string_view json, const std::string& source) {
  auto d = std::make_shared<WordPieceData>();
  d->source = source;
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root))
    fail("{}: invalid JSON: {}", source, simdjson::error_message(err));
  object model;
  if (root["model"].get(model)) fail("{}: no model object", source);
  std::string_view type;
  if (model["type"].get(type) || type != "WordPiece")
    fail("{}: model.type is '{}', not WordPiece", source, type);
  object vocab;
  if (model["vocab"].get(vocab)) fail("{}: model.vocab must be an object", source);
  for (auto [k, v] : vocab) {
    int64_t id;
    if (v.get(id) || id < 0) fail("{}: model.vocab['{}'] must be a non-negative integer", source, k);
    d->vocab.emplace(std::string(k), int32_t(id));
    d->vocab_size = std::max(d->vocab_size, size_t(id) + 1);
  }
  std::string_view s;
  if (!model["continuing_subword_prefix"].get(s)) d->prefix = std::string(s);
  int64_t n;
  if (!model["max_input_chars_per_word"].get(n)) d->max_chars = size_t(std::max<int64_t>(n, 0));
  if (model["unk_token"].get(s)) fail("{}: model.unk_token must be a string", source);
  auto unk = d->vocab.find(std::string(s));
  if (unk == d->vocab.end()) fail("{}: model.unk_token '{}' is not in the vocabulary", source, s);
  d->unk = unk->second;

  simdjson::dom::array added;
  if (!root["added_tokens"].get(added)) {
    for (element e : added) {
      object a;
      int64_t id;
      if (e.get(a) || a["id"].get(id) || a["content"].get(s))
        fail("{}: added_tokens entries need an integer id and a string content", source);
      if (bool_field(a, "single_word", false))
        fail("{}: added token '{}' is single_word, which WordPiece loading does not support",
             source, s);
      d->added.push_back({std::string(s), int32_t(id), bool_field(a, "normalized", false),
                          bool_field(a, "lstrip", false), bool_field(a, "rstrip", false)});
      d->vocab_size = std::max(d->vocab_size, size_t(id) + 1);
    }
  }

  element norm = root["normalizer"];
  if (root["normalizer"].error() || norm.is_null()) {
    d->has_normalizer = false;
  } else {
    object no;
    if (norm.get(no) || str_field(no, "type", "normalizer") != "BertNormalizer")
      fail("{}: normalizer must be BertNormalizer (or null) for WordPiece", source);
    d->norm.clean_text = bool_field(no, "clean_text", true);
    d->norm.handle_chinese_chars = bool_field(no, "handle_chinese_chars", true);
    d->norm.lowercase = bool_field(no, "lowercase", true);
    d->norm.strip_accents = bool_field(no, "strip_accents", d->norm.lowercase);
  }
  object pre;
  if (root["pre_tokenizer"].get(pre) || str_field(pre, "type", "pre_tokenizer") != "BertPreTokenizer")
    fail("{}: pre_tokenizer must be BertPreTokenizer for WordPiece", source);
  read_post_processor(*d, root["post_processor"]);
  return d;
}

bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A piece of the text: either an added token's id, or text still to be tokenized.
struct Piece {
  std::string_view text;
  int32_t id = -1;
};

// Splits `s` at the leftmost-longest occurrences of the added tokens whose `normalized` flag is
// `normalized`. lstrip / rstrip take the whitespace beside a match into the match.
std::vector<Piece> split_added(const WordPieceData& d, std::string_view s, bool normalized) {
  std::vector<Piece> out;
  size_t from = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const WordPieceAdded* best = nullptr;
    for (const auto& a : d.added) {
      if (a.normalized != normalized || a.content.empty()) continue;
      if (s.compare(i, a.content.size(), a.content) == 0 &&
          (!best || a.content.size() > best->content.size()))
        best = &a;
    }
    if (!best) continue;
    size_t b = i, e = i + best->content.size();
    if (best->lstrip)
      while (b > from && is_space_byte(s[b - 1])) --b;
    if (best->rstrip)
      while (e < s.size() && is_space_byte(s[e])) ++e;
    if (b > from) out.push_back({s.substr(from, b - from)});
    out.push_back({{}, best->id});
    from = e;
    i = e - 1;
  }
  if (from < s.size()) out.push_back({s.substr(from)});
  return out;
}

void wordpiece(const WordPieceData& d, std::string_view word, std::vector<int32_t>& out) {
  size_t chars = 0;
  for (char c : word) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > d.max_chars) {
    out.push_back(d.unk);
    return;
  }
  const size_t mark = out.size();
  std::string key;
  for (size_t start = 0; start < word.size();) {
    size_t end = word.size();
    int32_t found = -1;
    while (start < end) {
      key.assign(start > 0 ? d.prefix : std::string());
      key.append(word.substr(start, end - start));
      if (auto it = d.vocab.find(key); it != d.vocab.end()) {
        found = it->second;
        break;
      }
      do --end;  // step back one whole character
      while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
    }
    if (found < 0) {
      out.resize(mark);
      out.push_back(d.unk);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void tokenize_text(const WordPieceData& d, std::string_view raw, std::vector<int32_t>& out) {
  const std::string norm =
      d.has_normalizer ? text::bert_normalize(raw, d.norm) : std::string(raw);
  for (const Piece& p : split_added(d, norm, true)) {
    if (p.id >= 0) {
      out.push_back(p.id);
      continue;
    }
    for (std::string_view w : text::bert_pre_tokenize(p.text)) wordpiece(d, w, out);
  }
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::load(const std::string& path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) p /= "tokenizer.json";
  return from_json(read_file(p), p.string());
}

WordPieceTokenizer WordPieceTokenizer::from_json(std::string_view tokenizer_json,
                                                 const std::string& source) {
  return WordPieceTokenizer(parse(tokenizer_json, source));
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, int max_tokens) const {
  const WordPieceData& d = *d_;
  std::string repaired;
  if (!text::utf8_is_valid(text)) {
    repaired = text::utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids(d.before);
  for (const Piece& p : split_added(d, text, false)) {
    if (p.id >= 0) ids.push_back(p.id);
    else tokenize_text(d, p.text, ids);
  }
  if (max_tokens > 0) {
    const size_t keep = size_t(std::max<int64_t>(0, int64_t(max_tokens) - int64_t(d.after.size())));
    if (ids.size() > keep) ids.resize(std::max(keep, d.before.size()));
  }
  ids.insert(ids.end(), d.after.begin(), d.after.end());
  return ids;
}

std::optional<int32_t> WordPieceTokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : d_->added)
    if (a.content == token) return a.id;
  auto it = d_->vocab.find(std::string(token));
  if (it == d_->vocab.end()) return std::nullopt;
  return it->second;
}

size_t WordPieceTokenizer::vocab_size() const { return d_->vocab_size; }

int WordPieceTokenizer::num_special_tokens() const {
  return int(d_->before.size() + d_->after.size());
}

}  // namespace ember
