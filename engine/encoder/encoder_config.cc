#include "engine/encoder/encoder_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/model/json_fields.h"

namespace ember {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("sentence encoder: cannot open '{}'", p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  return std::move(ss).str();
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text,
                             const fs::path& p) {
  simdjson::dom::element e;
  if (auto err = parser.parse(text).get(e))
    fail("{}: invalid JSON: {}", p.string(), simdjson::error_message(err));
  return e;
}

json::Fields object_of(simdjson::dom::element e, const fs::path& p) {
  simdjson::dom::object o;
  if (e.get(o)) fail("{}: must hold a JSON object", p.string());
  return json::Fields(o, p.string());
}

int positive(const json::Fields& f, std::string_view key) {
  const int64_t v = f.req_int(key);
  if (v <= 0 || v > (1 << 24)) fail("{}: {}={} is out of range", f.source(), key, v);
  return int(v);
}

void read_model_config(EncoderConfig& c, const fs::path& p) {
  simdjson::dom::parser parser;
  const std::string text = read_text(p);
  const json::Fields f = object_of(parse(parser, text, p), p);
  const std::string type = f.opt_string("model_type").value_or("");
  if (type == "bert") c.arch = EncoderArch::Bert;
  else if (type == "mpnet") c.arch = EncoderArch::MPNet;
  else fail("{}: model_type '{}' is not a supported encoder (bert, mpnet)", p.string(), type);
  c.hidden = positive(f, "hidden_size");
  c.layers = positive(f, "num_hidden_layers");
  c.heads = positive(f, "num_attention_heads");
  c.intermediate = positive(f, "intermediate_size");
  c.vocab = positive(f, "vocab_size");
  c.max_positions = positive(f, "max_position_embeddings");
  if (c.hidden % c.heads)
    fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", p.string(), c.hidden,
         c.heads);
  c.ln_eps = float(f.opt_number("layer_norm_eps").value_or(c.arch == EncoderArch::Bert ? 1e-12 : 1e-5));
  c.pad_id = int(f.opt_int("pad_token_id").value_or(c.arch == EncoderArch::MPNet ? 1 : 0));
  const std::string act = f.opt_string("hidden_act").value_or("gelu");
  if (act != "gelu")
    fail("{}: hidden_act '{}' is not supported (the exact 'gelu' is)", p.string(), act);
  if (c.arch == EncoderArch::Bert) {
    c.type_vocab = int(f.opt_int("type_vocab_size").value_or(2));
    const std::string pos = f.opt_string("position_embedding_type").value_or("absolute");
    if (pos != "absolute")
      fail("{}: position_embedding_type '{}' is not supported (absolute is)", p.string(), pos);
  } else {
    c.relative_buckets = int(f.opt_int("relative_attention_num_buckets").value_or(32));
    if (c.relative_buckets < 2 || c.relative_buckets % 2)
      fail("{}: relative_attention_num_buckets={} must be even and at least 2", p.string(),
           c.relative_buckets);
  }
}

}  // namespace

EncoderConfig read_encoder_config(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) fail("sentence encoder: '{}' is not a folder", dir);
  EncoderConfig c;
  c.name = fs::absolute(d).filename().string();
  if (c.name.empty()) c.name = fs::absolute(d).parent_path().filename().string();
  read_model_config(c, d / "config.json");

  simdjson::dom::parser parser;
  // modules.json: Transformer, then Pooling, then (optionally) Normalize.
  const fs::path modules = d / "modules.json";
  std::string pooling_dir = "1_Pooling";
  if (fs::exists(modules, ec)) {
    const std::string text = read_text(modules);
    simdjson::dom::array arr;
    if (parse(parser, text, modules).get(arr)) fail("{}: must hold a JSON array", modules.string());
    bool pooling = false;
    for (auto m : arr) {
      const json::Fields f = object_of(m, modules);
      const std::string type = f.opt_string("type").value_or("");
      if (type.ends_with(".Normalize")) c.normalize = true;
      else if (type.ends_with(".Pooling")) {
        pooling = true;
        pooling_dir = f.opt_string("path").value_or(pooling_dir);
      } else if (!type.ends_with(".Transformer")) {
        fail("{}: module type '{}' is not supported (Transformer, Pooling, Normalize are)",
             modules.string(), type);
      }
    }
    if (!pooling) fail("{}: no Pooling module", modules.string());
  } else {
    c.normalize = true;  // a bare folder: the sentence-transformers default for these models
  }
  const fs::path pool = d / pooling_dir / "config.json";
  if (fs::exists(pool, ec)) {
    const std::string text = read_text(pool);
    const json::Fields f = object_of(parse(parser, text, pool), pool);
    for (const char* k : {"pooling_mode_cls_token", "pooling_mode_max_tokens",
                          "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                          "pooling_mode_lasttoken"})
      if (f.opt_bool(k).value_or(false))
        fail("{}: {} is set; only mean pooling is supported", pool.string(), k);
    if (!f.opt_bool("pooling_mode_mean_tokens").value_or(false))
      fail("{}: pooling_mode_mean_tokens must be true", pool.string());
    if (auto dim = f.opt_int("word_embedding_dimension"); dim && *dim != c.hidden)
      fail("{}: word_embedding_dimension {} differs from hidden_size {}", pool.string(), *dim,
           c.hidden);
  }
  // The longest input the position table allows: MPNet's first positions are padding's.
  const int table_limit =
      c.arch == EncoderArch::MPNet ? c.max_positions - c.pad_id - 1 : c.max_positions;
  c.max_seq_length = table_limit;
  const fs::path sb = d / "sentence_bert_config.json";
  if (fs::exists(sb, ec)) {
    const std::string text = read_text(sb);
    const json::Fields f = object_of(parse(parser, text, sb), sb);
    if (auto m = f.opt_int("max_seq_length")) {
      if (*m <= 2) fail("{}: max_seq_length={} is too small", sb.string(), *m);
      c.max_seq_length = int(std::min<int64_t>(*m, table_limit));
    }
    if (f.opt_bool("do_lower_case").value_or(false))
      fail("{}: do_lower_case=true is not supported (the tokenizer's normalizer lowercases)",
           sb.string());
  }
  return c;
}

}  // namespace ember
