#pragma once
// Reads tests/data/encoder/<model>.json, written by tools/encoder_golden.py with
// sentence-transformers: texts with their ids and (for "embed") their embeddings.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <simdjson.h>

#include "tests/test_support.h"

namespace ember::test {

struct EncoderCase {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<float> embedding;  // empty for the "tokenize" list
};

struct EncoderGolden {
  int max_seq_length = 0, dim = 0;
  std::vector<EncoderCase> embed, tokenize;
};

inline std::string encoder_golden_path(const std::string& model) {
  return source_dir() + "/tests/data/encoder/" + model + ".json";
}

inline EncoderGolden read_encoder_golden(const std::string& model) {
  std::ifstream f(encoder_golden_path(model), std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string text = std::move(ss).str();
  simdjson::dom::parser p;
  simdjson::dom::element root = p.parse(text);
  EncoderGolden g;
  g.max_seq_length = int(int64_t(root["max_seq_length"]));
  g.dim = int(int64_t(root["dim"]));
  for (const char* list : {"embed", "tokenize"}) {
    for (simdjson::dom::object c : simdjson::dom::array(root[list])) {
      EncoderCase e;
      e.text = std::string(std::string_view(c["text"]));
      for (int64_t id : simdjson::dom::array(c["ids"])) e.ids.push_back(int32_t(id));
      simdjson::dom::array emb;
      if (!c["embedding"].get(emb))
        for (double v : emb) e.embedding.push_back(float(v));
      (std::string_view(list) == "embed" ? g.embed : g.tokenize).push_back(std::move(e));
    }
  }
  return g;
}

}  // namespace ember::test
