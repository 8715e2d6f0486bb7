// Reads tokenizer.json (+ tokenizer_config.json, generation_config.json) into TokenizerData.
#include <algorithm>
#include <set>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/text/tokenizer_byte_level.h"
#include "engine/text/tokenizer_data.h"
#include "engine/text/tokenizer_utf8.h"

namespace ember::text {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// The JSON text with every integer literal of more than 18 digits turned into a float literal.
std::string widen_big_integers(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) out.push_back(json[++i]);
      else if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    if (c >= '0' && c <= '9') {
      size_t j = i;
      while (j < json.size() && json[j] >= '0' && json[j] <= '9') ++j;
      out.append(json.substr(i, j - i));
      const bool fraction = j < json.size() && (json[j] == '.' || json[j] == 'e' || json[j] == 'E');
      if (j - i > 18 && !fraction) out.append(".0");
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

// Typed field reads whose errors name the file and the JSON path.
class Reader {
 public:
  explicit Reader(std::string source) : src_(std::move(source)) {}
  const std::string& src() const { return src_; }

  element parse(simdjson::dom::parser& p, std::string_view json) const {
    element root;
    auto err = p.parse(json.data(), json.size()).get(root);
    if (err == simdjson::NUMBER_ERROR) {
      // tokenizer_config.json files carry model_max_length = 1e30 as an integer literal, which
      // simdjson's DOM cannot hold: read such literals as floating point instead.
      const std::string fixed = widen_big_integers(json);
      err = p.parse(fixed.data(), fixed.size()).get(root);
    }
    if (err) fail("{}: invalid JSON: {}", src_, simdjson::error_message(err));
    return root;
  }
  std::optional<element> find(object o, std::string_view key) const {
    element e;
    if (o.at_key(key).get(e) || e.is_null()) return std::nullopt;
    return e;
  }
  object obj(element e, std::string_view where) const {
    object o;
    if (e.get(o)) fail("{}: {} must be an object", src_, where);
    return o;
  }
  array arr(element e, std::string_view where) const {
    array a;
    if (e.get(a)) fail("{}: {} must be an array", src_, where);
    return a;
  }
  std::string str(element e, std::string_view where) const {
    std::string_view s;
    if (e.get(s)) fail("{}: {} must be a string", src_, where);
    return std::string(s);
  }
  int64_t integer(element e, std::string_view where) const {
    int64_t v;
    if (e.get(v)) {
      uint64_t u;
      if (e.get(u) || u > uint64_t(INT64_MAX)) fail("{}: {} must be an integer", src_, where);
      v = int64_t(u);
    }
    return v;
  }
  bool boolean(object o, std::string_view key, bool dflt, std::string_view where) const {
    auto e = find(o, key);
    if (!e) return dflt;
    bool b;
    if (e->get(b)) fail("{}: {}.{} must be true or false", src_, where, key);
    return b;
  }
  std::string str_field(object o, std::string_view key, std::string_view where) const {
    auto e = find(o, key);
    if (!e) fail("{}: {} has no '{}'", src_, where, key);
    return str(*e, fmt::format("{}.{}", where, key));
  }
  std::string type_of(object o, std::string_view where) const { return str_field(o, "type", where); }

 private:
  std::string src_;
};

int32_t checked_id(const Reader& r, int64_t v, std::string_view where) {
  if (v < 0 || v > (int64_t(1) << 30)) fail("{}: {} id {} is out of range", r.src(), where, v);
  return int32_t(v);
}

// A Split / Replace pattern: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::shared_ptr<const Regex> regex;
};

Pattern read_pattern(const Reader& r, element e, std::string_view where) {
  object o = r.obj(e, where);
  Pattern p;
  if (auto s = r.find(o, "String")) {
    p.literal = r.str(*s, where);
  } else if (auto re = r.find(o, "Regex")) {
    p.regex = std::make_shared<Regex>(r.str(*re, where), r.src());
  } else {
    fail("{}: {} must hold \"String\" or \"Regex\"", r.src(), where);
  }
  return p;
}

void read_normalizer(const Reader& r, element e, Normalizer& out) {
  object o = r.obj(e, "normalizer");
  const std::string type = r.type_of(o, "normalizer");
  using K = NormalizerStep::Kind;
  if (type == "Sequence") {
    auto list = r.find(o, "normalizers");
    if (!list) fail("{}: normalizer Sequence has no 'normalizers'", r.src());
    for (element sub : r.arr(*list, "normalizer.normalizers")) read_normalizer(r, sub, out);
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    NormalizerStep st;
    st.kind = type == "NFC" ? K::NFC : type == "NFD" ? K::NFD : type == "NFKC" ? K::NFKC : K::NFKD;
    out.add(std::move(st));
  } else if (type == "Prepend") {
    out.add({K::Prepend, r.str_field(o, "prepend", "normalizer Prepend"), {}, nullptr});
  } else if (type == "Replace") {
    auto pat = r.find(o, "pattern");
    if (!pat) fail("{}: normalizer Replace has no 'pattern'", r.src());
    Pattern p = read_pattern(r, *pat, "normalizer Replace pattern");
    out.add({K::Replace, p.literal, r.str_field(o, "content", "normalizer Replace"), p.regex});
  } else if (type == "Lowercase") {
    NormalizerStep st;
    st.kind = K::Lowercase;
    out.add(std::move(st));
  } else {
    fail("{}: unsupported normalizer type '{}'", r.src(), type);
  }
}

SplitBehavior read_behavior(const Reader& r, const std::string& b) {
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  fail("{}: unknown Split behavior '{}'", r.src(), b);
}

void read_pre_tokenizer(const Reader& r, element e, PreTokenizer& out, bool& byte_level) {
  object o = r.obj(e, "pre_tokenizer");
  const std::string type = r.type_of(o, "pre_tokenizer");
  using K = PreTokenizerStep::Kind;
  PreTokenizerStep st;
  if (type == "Sequence") {
    auto list = r.find(o, "pretokenizers");
    if (!list) fail("{}: pre_tokenizer Sequence has no 'pretokenizers'", r.src());
    for (element sub : r.arr(*list, "pre_tokenizer.pretokenizers"))
      read_pre_tokenizer(r, sub, out, byte_level);
    return;
  } else if (type == "Split") {
    auto pat = r.find(o, "pattern");
    if (!pat) fail("{}: pre_tokenizer Split has no 'pattern'", r.src());
    Pattern p = read_pattern(r, *pat, "pre_tokenizer Split pattern");
    st.kind = K::Split;
    st.regex = p.regex;
    st.literal = p.literal;
    st.behavior = read_behavior(r, r.str_field(o, "behavior", "pre_tokenizer Split"));
    st.invert = r.boolean(o, "invert", false, "pre_tokenizer Split");
  } else if (type == "ByteLevel") {
    byte_level = true;
    st.kind = K::ByteLevel;
    st.add_prefix_space = r.boolean(o, "add_prefix_space", true, "pre_tokenizer ByteLevel");
    if (r.boolean(o, "use_regex", true, "pre_tokenizer ByteLevel"))
      st.regex = std::make_shared<Regex>(kGpt2Pattern, r.src());
    st.behavior = SplitBehavior::Isolated;
  } else if (type == "Metaspace") {
    st.kind = K::Metaspace;
    st.replacement = r.str_field(o, "replacement", "pre_tokenizer Metaspace");
    st.split = r.boolean(o, "split", true, "pre_tokenizer Metaspace");
    if (auto scheme = r.find(o, "prepend_scheme")) {
      const std::string s = r.str(*scheme, "pre_tokenizer Metaspace prepend_scheme");
      if (s == "always") st.prepend = PreTokenizerStep::Prepend::Always;
      else if (s == "first") st.prepend = PreTokenizerStep::Prepend::First;
      else if (s == "never") st.prepend = PreTokenizerStep::Prepend::Never;
      else fail("{}: unknown Metaspace prepend_scheme '{}'", r.src(), s);
    } else {
      st.prepend = r.boolean(o, "add_prefix_space", true, "pre_tokenizer Metaspace")
                       ? PreTokenizerStep::Prepend::Always
                       : PreTokenizerStep::Prepend::Never;
    }
  } else if (type == "Digits") {
    st.kind = K::Split;
    st.regex = std::make_shared<Regex>(
        r.boolean(o, "individual_digits", false, "pre_tokenizer Digits") ? "\\p{N}" : "\\p{N}+",
        r.src());
    st.behavior = SplitBehavior::Isolated;
  } else {
    fail("{}: unsupported pre_tokenizer type '{}'", r.src(), type);
  }
  out.add(std::move(st));
}

void read_decoder(const Reader& r, element e, std::vector<DecoderStep>& out) {
  object o = r.obj(e, "decoder");
  const std::string type = r.type_of(o, "decoder");
  using K = DecoderStep::Kind;
  DecoderStep st{};
  if (type == "Sequence") {
    auto list = r.find(o, "decoders");
    if (!list) fail("{}: decoder Sequence has no 'decoders'", r.src());
    for (element sub : r.arr(*list, "decoder.decoders")) read_decoder(r, sub, out);
    return;
  } else if (type == "ByteLevel") {
    st.kind = K::ByteLevel;
  } else if (type == "Replace") {
    auto pat = r.find(o, "pattern");
    if (!pat) fail("{}: decoder Replace has no 'pattern'", r.src());
    Pattern p = read_pattern(r, *pat, "decoder Replace pattern");
    if (p.regex) fail("{}: decoder Replace with a Regex pattern is not supported", r.src());
    st.kind = K::Replace;
    st.pattern = p.literal;
    st.content = r.str_field(o, "content", "decoder Replace");
  } else if (type == "ByteFallback") {
    st.kind = K::ByteFallback;
  } else if (type == "Fuse") {
    st.kind = K::Fuse;
  } else if (type == "Strip") {
    st.kind = K::Strip;
    st.content = r.str_field(o, "content", "decoder Strip");
    auto num = [&](std::string_view k) {
      auto v = r.find(o, k);
      return v ? size_t(std::max<int64_t>(0, r.integer(*v, "decoder Strip"))) : size_t(0);
    };
    st.start = num("start");
    st.stop = num("stop");
  } else if (type == "Metaspace") {
    st.kind = K::Metaspace;
    st.content = r.str_field(o, "replacement", "decoder Metaspace");
    if (auto scheme = r.find(o, "prepend_scheme"))
      st.prepend = r.str(*scheme, "decoder Metaspace prepend_scheme") != "never";
    else
      st.prepend = r.boolean(o, "add_prefix_space", true, "decoder Metaspace");
  } else {
    fail("{}: unsupported decoder type '{}'", r.src(), type);
  }
  out.push_back(std::move(st));
}

// Resolves a post_processor into the ids put before and after the text.
void read_post_processor(const Reader& r, element e, TokenizerData& d) {
  object o = r.obj(e, "post_processor");
  const std::string type = r.type_of(o, "post_processor");
  if (type == "Sequence") {
    auto list = r.find(o, "processors");
    if (!list) fail("{}: post_processor Sequence has no 'processors'", r.src());
    for (element sub : r.arr(*list, "post_processor.processors")) read_post_processor(r, sub, d);
  } else if (type == "ByteLevel") {
    // Offsets only: no ids.
  } else if (type == "TemplateProcessing") {
    auto single = r.find(o, "single");
    if (!single) fail("{}: TemplateProcessing has no 'single'", r.src());
    object specials;
    if (auto sp = r.find(o, "special_tokens")) specials = r.obj(*sp, "special_tokens");
    bool after = false;
    d.prefix.clear();
    d.suffix.clear();
    for (element item : r.arr(*single, "TemplateProcessing.single")) {
      object io = r.obj(item, "TemplateProcessing.single item");
      if (r.find(io, "Sequence")) {
        after = true;
        continue;
      }
      auto st = r.find(io, "SpecialToken");
      if (!st) fail("{}: TemplateProcessing item is neither Sequence nor SpecialToken", r.src());
      const std::string name = r.str_field(r.obj(*st, "SpecialToken"), "id", "SpecialToken");
      std::optional<element> entry;
      element tmp;
      if (!specials.at_key(name).get(tmp)) entry = tmp;
      if (!entry) fail("{}: TemplateProcessing names '{}' missing from special_tokens", r.src(), name);
      auto ids = r.find(r.obj(*entry, "special_tokens entry"), "ids");
      if (!ids) fail("{}: special_tokens '{}' has no ids", r.src(), name);
      for (element id : r.arr(*ids, "special_tokens ids"))
        (after ? d.suffix : d.prefix).push_back(checked_id(r, r.integer(id, "special token"), name));
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto pair_id = [&](std::string_view key) {
      auto v = r.find(o, key);
      if (!v) fail("{}: {} has no '{}'", r.src(), type, key);
      array a = r.arr(*v, key);
      element id;
      if (a.at(1).get(id)) fail("{}: {}.{} must be [token, id]", r.src(), type, key);
      return checked_id(r, r.integer(id, key), key);
    };
    d.prefix = {pair_id("cls")};
    d.suffix = {pair_id("sep")};
  } else {
    fail("{}: unsupported post_processor type '{}'", r.src(), type);
  }
}

void read_model(const Reader& r, element e, TokenizerData& d, bool byte_level) {
  object o = r.obj(e, "model");
  if (auto t = r.find(o, "type")) {
    const std::string type = r.str(*t, "model.type");
    if (type != "BPE")
      fail("{}: model type '{}' is not supported (only BPE tokenizers are)", r.src(), type);
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (auto v = r.find(o, key); v && !r.str(*v, key).empty())
      fail("{}: BPE {} is not supported", r.src(), key);

  auto vocab_e = r.find(o, "vocab");
  if (!vocab_e) fail("{}: model has no 'vocab'", r.src());
  VocabMap vocab;
  object vocab_o = r.obj(*vocab_e, "model.vocab");
  vocab.reserve(vocab_o.size());
  for (auto [key, value] : vocab_o) {
    const int32_t id = checked_id(r, r.integer(value, "model.vocab value"), "vocab");
    if (size_t(id) >= d.tokens.size()) d.tokens.resize(size_t(id) + 1);
    d.tokens[size_t(id)] = std::string(key);
    std::string k(key);
    if (byte_level)
      if (auto raw = byte_level_decode(key)) k = std::move(*raw);
    vocab.emplace(std::move(k), id);
  }

  std::vector<std::pair<std::string, std::string>> merges;
  if (auto m = r.find(o, "merges")) {
    array ma = r.arr(*m, "model.merges");
    merges.reserve(ma.size());
    const auto conv = [&](std::string s) {
      if (byte_level)
        if (auto raw = byte_level_decode(s)) return std::move(*raw);
      return s;
    };
    for (element item : ma) {
      std::string_view line;
      array pair;
      if (!item.get(line)) {
        const size_t sp = line.find(' ');
        if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos)
          fail("{}: merge '{}' is not two tokens separated by one space", r.src(), line);
        merges.emplace_back(conv(std::string(line.substr(0, sp))),
                            conv(std::string(line.substr(sp + 1))));
      } else if (!item.get(pair) && pair.size() == 2) {
        merges.emplace_back(conv(r.str(pair.at(0).value_unsafe(), "merge")),
                            conv(r.str(pair.at(1).value_unsafe(), "merge")));
      } else {
        fail("{}: model.merges entries must be \"a b\" strings or [a, b] pairs", r.src());
      }
    }
  }

  BpeOptions opts;
  opts.byte_level = byte_level;
  opts.byte_fallback = r.boolean(o, "byte_fallback", false, "model");
  opts.fuse_unk = r.boolean(o, "fuse_unk", false, "model");
  opts.ignore_merges = r.boolean(o, "ignore_merges", false, "model");
  if (auto unk = r.find(o, "unk_token")) {
    const std::string u = r.str(*unk, "model.unk_token");
    auto it = vocab.find(byte_level ? byte_level_decode(u).value_or(u) : u);
    if (it == vocab.end()) fail("{}: unk_token '{}' is not in the vocab", r.src(), u);
    opts.unk_id = it->second;
  }
  d.model = BpeModel(std::move(vocab), merges, opts, r.src());
}

// A token named in tokenizer_config.json: a string or an AddedToken object {"content": ...}.
std::optional<std::string> config_token(const Reader& r, object cfg, std::string_view key) {
  auto e = r.find(cfg, key);
  if (!e) return std::nullopt;
  object o;
  if (!e->get(o)) return r.str_field(o, "content", key);
  return r.str(*e, key);
}

std::optional<int32_t> lookup(const TokenizerData& d, std::string_view token) {
  if (auto it = d.added_ids.find(token); it != d.added_ids.end()) return it->second;
  for (size_t i = 0; i < d.tokens.size(); ++i)
    if (d.tokens[i] == token) return int32_t(i);
  return std::nullopt;
}

void read_config(const Reader& r, std::string_view json, TokenizerData& d) {
  simdjson::dom::parser p;
  object cfg = r.obj(r.parse(p, json), "tokenizer_config.json");
  const auto resolve = [&](std::string_view key) -> std::optional<int32_t> {
    auto name = config_token(r, cfg, key);
    if (!name) return std::nullopt;
    auto id = lookup(d, *name);
    if (!id) fail("{}: {} '{}' is not a token of this tokenizer", r.src(), key, *name);
    return id;
  };
  if (auto bos = resolve("bos_token")) d.bos = bos;
  if (auto eos = resolve("eos_token")) d.eos.push_back(*eos);
  // add_bos_token / add_eos_token override the template, as transformers' Llama-style
  // tokenizers rebuild their post-processor from them.
  auto edit = [&](std::string_view key, std::optional<int32_t> id, std::vector<int32_t>& ids,
                  bool front) {
    auto e = r.find(cfg, key);
    if (!e || !id) return;
    bool want;
    if (e->get(want)) fail("{}: {} must be true or false", r.src(), key);
    std::erase(ids, *id);
    if (want) ids.insert(front ? ids.begin() : ids.end(), *id);
  };
  edit("add_bos_token", d.bos, d.prefix, true);
  edit("add_eos_token", d.eos.empty() ? std::nullopt : std::optional(d.eos[0]), d.suffix, false);
}

void read_generation_config(const Reader& r, std::string_view json, TokenizerData& d) {
  simdjson::dom::parser p;
  object cfg = r.obj(r.parse(p, json), "generation_config.json");
  auto e = r.find(cfg, "eos_token_id");
  if (!e) return;
  std::vector<int32_t> ids;
  array a;
  if (!e->get(a)) {
    for (element x : a) ids.push_back(checked_id(r, r.integer(x, "eos_token_id"), "eos_token_id"));
  } else {
    ids.push_back(checked_id(r, r.integer(*e, "eos_token_id"), "eos_token_id"));
  }
  for (int32_t id : ids)
    if (std::find(d.eos.begin(), d.eos.end(), id) == d.eos.end()) d.eos.push_back(id);
}

}  // namespace

std::shared_ptr<TokenizerData> parse_tokenizer(std::string_view tokenizer_json,
                                               std::string_view config_json,
                                               std::string_view generation_json,
                                               const std::string& source) {
  auto d = std::make_shared<TokenizerData>();
  d->source = source;
  const Reader r(source);
  simdjson::dom::parser parser;
  object root = r.obj(r.parse(parser, tokenizer_json), "tokenizer.json");

  bool byte_level = false;
  if (auto n = r.find(root, "normalizer")) read_normalizer(r, *n, d->normalizer);
  if (auto p = r.find(root, "pre_tokenizer")) read_pre_tokenizer(r, *p, d->pre_tokenizer, byte_level);
  auto model = r.find(root, "model");
  if (!model) fail("{}: no 'model'", source);
  read_model(r, *model, *d, byte_level);

  if (auto added = r.find(root, "added_tokens")) {
    for (element item : r.arr(*added, "added_tokens")) {
      object o = r.obj(item, "added_tokens item");
      AddedToken t;
      auto id = r.find(o, "id");
      if (!id) fail("{}: an added token has no id", source);
      t.id = checked_id(r, r.integer(*id, "added_tokens.id"), "added token");
      t.content = r.str_field(o, "content", "added_tokens item");
      t.special = r.boolean(o, "special", false, "added_tokens item");
      t.lstrip = r.boolean(o, "lstrip", false, "added_tokens item");
      t.rstrip = r.boolean(o, "rstrip", false, "added_tokens item");
      t.single_word = r.boolean(o, "single_word", false, "added_tokens item");
      t.normalized = r.boolean(o, "normalized", !t.special, "added_tokens item");
      d->added.push_back(std::move(t));
    }
  }
  for (const AddedToken& t : d->added) {
    if (size_t(t.id) >= d->tokens.size()) d->tokens.resize(size_t(t.id) + 1);
    d->tokens[size_t(t.id)] = t.content;
    d->added_ids[t.content] = t.id;
  }
  d->special.assign(d->tokens.size(), 0);
  for (const AddedToken& t : d->added) d->special[size_t(t.id)] = t.special;
  d->match_all.build(d->added, true);
  d->match_plain.build(d->added, false);

  std::vector<DecoderStep> dec;
  if (auto e = r.find(root, "decoder")) read_decoder(r, *e, dec);
  d->decoder.build(dec, d->tokens);

  if (auto e = r.find(root, "post_processor")) read_post_processor(r, *e, *d);
  if (d->prefix.size() == 1) d->bos = d->prefix[0];
  if (!config_json.empty()) read_config(Reader(source + " (tokenizer_config.json)"), config_json, *d);
  if (!generation_json.empty())
    read_generation_config(Reader(source + " (generation_config.json)"), generation_json, *d);
  for (int32_t id : d->prefix)
    if (size_t(id) >= d->tokens.size()) fail("{}: post_processor id {} is not in the vocab", source, id);
  for (int32_t id : d->suffix)
    if (size_t(id) >= d->tokens.size()) fail("{}: post_processor id {} is not in the vocab", source, id);
  return d;
}

}  // namespace ember::text
