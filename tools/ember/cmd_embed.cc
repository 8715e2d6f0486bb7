// `ember embed`: sentence embeddings from a sentence-transformers encoder (all-MiniLM-L6-v2,
// all-mpnet-base-v2), one JSON line per text.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/encoder/sentence_encoder.h"
#include "tools/ember/commands.h"
#include "tools/ember/model_names.h"

namespace ember::cli {
namespace {

// Every non-empty line of PATH ("-": standard input), without its line ending.
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f;
  std::istream* in = &std::cin;
  if (path != "-") {
    f.open(path, std::ios::binary);
    if (!f) fail("embed: cannot open '{}': {}", path, std::strerror(errno));
    in = &f;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(*in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

void add_embed_command(CLI::App& app) {
  struct Opts {
    std::string model, file;
    std::vector<std::string> texts;
    int threads = 0, batch = 32;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "embed",
      "Print sentence embeddings (mean-pooled, L2-normalised) as JSON lines: "
      "{\"index\", \"tokens\", \"embedding\"} per text, in input order");
  cmd->add_option("--model", o->model,
                  "sentence-transformers folder, or a fetched name (all-minilm-l6-v2, "
                  "all-mpnet-base-v2)")
      ->required();
  cmd->add_option("--text", o->texts, "A text to embed (repeatable)");
  cmd->add_option("--file", o->file, "A file of texts, one per non-empty line ('-': stdin)");
  cmd->add_option("--threads", o->threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", o->batch, "Texts per forward pass")->check(CLI::PositiveNumber);
  cmd->callback([o] {
    std::vector<std::string> texts = o->texts;
    if (!o->file.empty()) {
      auto lines = read_lines(o->file);
      texts.insert(texts.end(), lines.begin(), lines.end());
    }
    if (texts.empty()) fail("embed: nothing to embed (give --text TEXT or --file FILE)");
    const auto enc = SentenceEncoder::open(resolve_model_arg(o->model),
                                           {.max_batch = o->batch, .threads = o->threads});
    const auto counts = enc->token_counts(texts);
    const auto emb = enc->embed(texts);
    std::string line;
    for (size_t i = 0; i < emb.size(); ++i) {
      line.clear();
      fmt::format_to(std::back_inserter(line), "{{\"index\":{},\"tokens\":{},\"embedding\":[", i,
                     counts[i]);
      for (size_t j = 0; j < emb[i].size(); ++j) {
        if (j) line += ',';
        fmt::format_to(std::back_inserter(line), "{}", emb[i][j]);
      }
      line += "]}\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
  });
}

}  // namespace ember::cli
