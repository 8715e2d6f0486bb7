#pragma once
// Splits template source into tokens the way jinja2's lexer does with the settings transformers
// uses: trim_blocks (drop the first newline after a block or comment tag), lstrip_blocks (drop
// spaces before a block or comment tag that starts a line), "-"/"+" whitespace control, raw
// blocks, and one trailing newline of the source removed.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember::jinja {

struct Token {
  enum class Type { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Op, End };
  Type type;
  std::string text;  // data, name, decoded string, operator
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

std::vector<Token> tokenize(std::string_view source, const LexOptions& options = {});

}  // namespace ember::jinja
