#include "engine/text/jinja/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "engine/text/jinja/error.h"
#include "engine/text/jinja/pystr.h"

namespace ember::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

std::string rstrip(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && is_space(s[n - 1])) --n;
  return std::string(s.substr(0, n));
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's "unicode-escape" decoding, which jinja2 applies to string literals.
std::string decode_string(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        bool ok = i + n < body.size();
        for (size_t k = 1; ok && k <= n; ++k) {
          int h = hex_value(body[i + k]);
          if (h < 0) ok = false;
          else cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (!ok || cp > 0x10ffff) runtime_error("truncated \\" + std::string(1, e) + " escape in string literal");
        pystr::append_utf8(out, cp);
        i += n;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            cp = cp * 8 + static_cast<uint32_t>(body[++i] - '0');
          pystr::append_utf8(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

const char* const kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]",
                                  "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};

class Lexer {
 public:
  Lexer(std::string_view src, const LexOptions& o) : src_(src), opt_(o) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string_view::npos) {
        emit_data(src_.substr(pos_));
        advance_to(src_.size());
        break;
      }
      char kind = src_[tag + 1];  // '{', '%' or '#'
      char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign != '-' && sign != '+') sign = '\0';
      std::string text(src_.substr(pos_, tag - pos_));
      if (sign == '-') {
        text = rstrip(text);
      } else if (sign != '+' && opt_.lstrip_blocks && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() &&
            std::all_of(text.begin() + static_cast<long>(l_pos), text.end(), is_space))
          text.resize(l_pos);
      }
      emit_data(text);
      advance_to(tag);
      size_t body = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        line_starting = lex_comment(body);
      } else if (kind == '%' && is_raw(body)) {
        line_starting = lex_raw(body, line_starting);
      } else {
        line_starting = lex_tag(kind == '%', body);
      }
    }
    tokens_.push_back(Token{Token::Type::End, "", 0, 0, line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string_view::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    }
    return std::string_view::npos;
  }

  void advance_to(size_t p) {
    line_ += static_cast<int>(std::count(src_.begin() + static_cast<long>(pos_), src_.begin() + static_cast<long>(p), '\n'));
    pos_ = p;
  }

  void emit_data(std::string_view text) {
    if (!text.empty()) tokens_.push_back(Token{Token::Type::Data, std::string(text), 0, 0, line_});
  }

  [[noreturn]] void error(const std::string& msg) const { throw TemplateError(msg, line_); }

  size_t skip_space(size_t p) const {
    while (p < src_.size() && is_space(src_[p])) ++p;
    return p;
  }

  // After a closing delimiter: "-" strips all following whitespace, "+" nothing, and otherwise
  // trim_blocks (for blocks and comments) eats one newline. Returns whether it ended on a newline.
  bool finish_close(size_t after, char sign, bool trims) {
    size_t end = after;
    if (sign == '-') end = skip_space(after);
    else if (sign != '+' && trims && end < src_.size() && src_[end] == '\n') ++end;
    advance_to(end);
    return end > 0 && src_[end - 1] == '\n';
  }

  bool lex_comment(size_t body) {
    size_t close = src_.find("#}", body);
    if (close == std::string_view::npos) error("Missing end of comment tag");
    char sign = close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    advance_to(close);
    return finish_close(close + 2, sign, opt_.trim_blocks);
  }

  bool is_raw(size_t body) const {
    size_t p = skip_space(body);
    if (src_.compare(p, 3, "raw") != 0) return false;
    p = skip_space(p + 3);
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  bool lex_raw(size_t body, bool line_starting) {
    size_t p = skip_space(skip_space(body) + 3);
    bool strip = src_[p] == '-';
    p += strip ? 3 : 2;
    advance_to(strip ? skip_space(p) : p);
    line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    // Find {%[-+]? endraw [-+]?%}
    for (size_t q = src_.find("{%", pos_); q != std::string_view::npos; q = src_.find("{%", q + 1)) {
      size_t r = q + 2;
      char sign = (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) ? src_[r++] : '\0';
      r = skip_space(r);
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r = skip_space(r + 6);
      char close_sign = '\0';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) close_sign = src_[r++];
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string text(src_.substr(pos_, q - pos_));
      if (sign == '-') {
        text = rstrip(text);
      } else if (sign != '+' && opt_.lstrip_blocks) {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() &&
            std::all_of(text.begin() + static_cast<long>(l_pos), text.end(), is_space))
          text.resize(l_pos);
      }
      emit_data(text);
      advance_to(r);
      return finish_close(r + 2, close_sign, opt_.trim_blocks);
    }
    error("Missing end of raw directive");
  }

  bool lex_tag(bool block, size_t body) {
    tokens_.push_back(Token{block ? Token::Type::BlockBegin : Token::Type::VarBegin, "", 0, 0, line_});
    size_t p = body;
    const char* close = block ? "%}" : "}}";
    balance_.clear();
    while (true) {
      advance_to(p);
      p = skip_space(p);
      advance_to(p);
      if (p >= src_.size()) error(block ? "Unexpected end of template. Jinja was looking for the end of a block tag ('%}')." : "unexpected end of template, expected 'end of print statement'.");
      // Closing delimiter, possibly with a "-" or "+" in front.
      char sign = '\0';
      size_t c = p;
      // Like jinja2, "}}" or "%}" only closes the tag when brackets are balanced ({'a': {}}).
      if (balance_.empty() && (src_[c] == '-' || (block && src_[c] == '+')) && src_.compare(c + 1, 2, close) == 0) sign = src_[c++];
      if (balance_.empty() && src_.compare(c, 2, close) == 0) {
        tokens_.push_back(Token{block ? Token::Type::BlockEnd : Token::Type::VarEnd, "", 0, 0, line_});
        return finish_close(c + 2, sign, block && opt_.trim_blocks);
      }
      p = lex_one(p);
    }
  }

  size_t lex_one(size_t p) {
    char c = src_[p];
    if (is_digit(c)) return lex_number(p);
    if (is_name_start(c)) {
      size_t e = p;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      tokens_.push_back(Token{Token::Type::Name, std::string(src_.substr(p, e - p)), 0, 0, line_});
      return e;
    }
    if (c == '\'' || c == '"') {
      size_t e = p + 1;
      while (e < src_.size() && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
      if (e >= src_.size()) error(fmt::format("unexpected char {} at {}", repr_char(c), p));
      std::string body(src_.substr(p + 1, e - p - 1));
      tokens_.push_back(Token{Token::Type::String, decode_string(body), 0, 0, line_});
      return e + 1;
    }
    for (const char* op : kOperators) {
      size_t n = std::strlen(op);
      if (src_.compare(p, n, op) == 0) {
        tokens_.push_back(Token{Token::Type::Op, op, 0, 0, line_});
        if (n == 1 && (*op == '(' || *op == '[' || *op == '{')) {
          balance_.push_back(*op == '(' ? ')' : *op == '[' ? ']' : '}');
        } else if (n == 1 && (*op == ')' || *op == ']' || *op == '}')) {
          if (balance_.empty()) error(fmt::format("unexpected '{}'", op));
          if (balance_.back() != *op) error(fmt::format("unexpected '{}', expected '{}'", op, balance_.back()));
          balance_.pop_back();
        }
        return p + n;
      }
    }
    error(fmt::format("unexpected char {} at {}", repr_char(c), p));
  }

  static std::string repr_char(char c) { return c == '\'' ? "\"'\"" : "'" + std::string(1, c) + "'"; }

  size_t digits(size_t p) const {  // (\d+_)*\d+
    size_t e = p;
    while (e < src_.size() && (is_digit(src_[e]) || (src_[e] == '_' && e + 1 < src_.size() && is_digit(src_[e + 1]) && e > p)))
      ++e;
    return e;
  }

  size_t lex_number(size_t p) {
    size_t e = digits(p);
    size_t f = e;
    bool is_float = false;
    bool after_dot = p > 0 && src_[p - 1] == '.';
    if (!after_dot && f + 1 < src_.size() && src_[f] == '.' && is_digit(src_[f + 1])) {
      f = digits(f + 1);
      is_float = true;
    }
    if (!after_dot && f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
      size_t g = f + 1;
      if (g < src_.size() && (src_[g] == '+' || src_[g] == '-')) ++g;
      if (g < src_.size() && is_digit(src_[g])) {
        f = digits(g);
        is_float = true;
      }
    }
    std::string text;
    for (char ch : src_.substr(p, (is_float ? f : e) - p))
      if (ch != '_') text += ch;
    Token t{is_float ? Token::Type::Float : Token::Type::Integer, text, 0, 0, line_};
    if (is_float) {
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      errno = 0;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) error("integer literal too large: " + text);
    }
    tokens_.push_back(t);
    return is_float ? f : e;
  }

  std::string_view src_;
  LexOptions opt_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
  std::string balance_;  // closing brackets still expected inside the current tag
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& options) {
  // jinja2 normalises newlines and drops one trailing newline (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(src, options).run();
}

}  // namespace ember::jinja
