// `ember tokenize` and `ember detokenize`: the tokenizer from the command line, for checking a
// model's tokenizer against other implementations.
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"
#include "engine/text/tokenizer.h"
#include "tools/ember/commands.h"

namespace ember::cli {
namespace {

std::string read_input(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("tokenize: cannot open '{}': {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  return std::move(ss).str();
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    if (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') {
      ++p;
      continue;
    }
    int32_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    const char* stop = next;
    while (stop < end && !(*stop == ' ' || *stop == ',' || *stop == '\t' || *stop == '\n' || *stop == '\r')) ++stop;
    if (ec != std::errc() || next != stop || v < 0)
      fail("detokenize: '{}' is not a token id (expected non-negative integers separated by spaces)",
           std::string(p, stop));
    ids.push_back(v);
    p = stop;
  }
  return ids;
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  struct Opts {
    std::string tokenizer, file;
    bool add_special = false, parse_special = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a file's whole content, space-separated on one line");
  cmd->add_option("--tokenizer", o->tokenizer, "Model directory or tokenizer.json")->required();
  cmd->add_option("--file", o->file, "Text file to tokenize")->required();
  cmd->add_flag("--add-special", o->add_special, "Add BOS/EOS as the tokenizer's config says");
  cmd->add_flag("--parse-special", o->parse_special, "Turn special-token strings into their ids");
  cmd->callback([o] {
    const std::string text = read_input(o->file);
    const Tokenizer tok = Tokenizer::load(o->tokenizer);
    const auto ids = tok.encode(text, {.add_special = o->add_special, .parse_special = o->parse_special});
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(ids[i]);
    }
    std::printf("%s\n", line.c_str());
  });

  struct DOpts {
    std::string tokenizer, ids;
    bool skip_special = false;
  };
  auto d = std::make_shared<DOpts>();
  auto* dec = app.add_subcommand("detokenize", "Print the text of token ids exactly (no newline added)");
  dec->add_option("--tokenizer", d->tokenizer, "Model directory or tokenizer.json")->required();
  dec->add_option("--ids", d->ids, "Token ids, e.g. \"1 2 3\"")->required();
  dec->add_flag("--skip-special", d->skip_special, "Leave special tokens out");
  dec->callback([d] {
    const auto ids = parse_ids(d->ids);
    const Tokenizer tok = Tokenizer::load(d->tokenizer);
    const std::string text = tok.decode(ids, {.skip_special = d->skip_special});
    // The text exactly, nothing added, so that tokenize then detokenize gives the file back.
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
}

}  // namespace ember::cli
