#include "net/openai/logprobs_json.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "net/http/json_text.h"

namespace ember::net::openai {
namespace {

// OpenAI and vLLM write -9999.0 for a probability of zero (-inf is not JSON).
void append_logprob(std::string& out, float lp) {
  const double v = std::isfinite(lp) ? std::max(static_cast<double>(lp), -9999.0) : -9999.0;
  out += http::json_number(v);
}

void append_bytes(std::string& out, std::string_view s) {
  out += '[';
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(static_cast<unsigned>(static_cast<unsigned char>(s[i])));
  }
  out += ']';
}

void append_entry(std::string& out, const TokenLogprob& t, bool as_ids) {
  const std::string text = logprob_token_text(t, as_ids);
  out += "{\"token\":";
  http::append_json_string(out, text);
  out += ",\"logprob\":";
  append_logprob(out, t.logprob);
  out += ",\"bytes\":";
  append_bytes(out, text);
}

void add_item(std::string& list, std::string_view item) {
  if (!list.empty()) list += ',';
  list += item;
}

}  // namespace

std::string logprob_token_text(const TokenLogprob& t, bool as_ids) {
  return as_ids ? fmt::format("token_id:{}", t.id) : t.token;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void append_chat_logprobs(std::string& out, const std::vector<GeneratedToken>& tokens, int top_n,
                          bool as_ids) {
  out += "{\"content\":[";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ',';
    append_entry(out, tokens[i].chosen, as_ids);
    out += ",\"top_logprobs\":[";
    const size_t n = std::min(tokens[i].top.size(), static_cast<size_t>(std::max(top_n, 0)));
    for (size_t k = 0; k < n; ++k) {
      if (k) out += ',';
      append_entry(out, tokens[i].top[k], as_ids);
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
}

void LegacyLogprobs::add(const GeneratedToken& t, size_t text_offset) {
  ++count_;
  add_item(offsets_, std::to_string(text_offset));
  std::string lp;
  append_logprob(lp, t.chosen.logprob);
  add_item(logprobs_, lp);
  add_item(tokens_, http::json_string(logprob_token_text(t.chosen, as_ids_)));
  std::string top = "{";
  std::set<std::string> seen;
  auto put = [&](const TokenLogprob& e) {
    std::string key = logprob_token_text(e, as_ids_);
    if (!seen.insert(key).second) return;
    if (top.size() > 1) top += ',';
    http::append_json_string(top, key);
    top += ':';
    append_logprob(top, e.logprob);
  };
  put(t.chosen);
  const size_t n = std::min(t.top.size(), static_cast<size_t>(std::max(top_n_, 0)));
  for (size_t k = 0; k < n; ++k) put(t.top[k]);
  top += '}';
  add_item(tops_, top);
}

void LegacyLogprobs::append_json(std::string& out) const {
  fmt::format_to(std::back_inserter(out),
                 "{{\"text_offset\":[{}],\"token_logprobs\":[{}],\"tokens\":[{}],\"top_logprobs\":[{}]}}",
                 offsets_, logprobs_, tokens_, tops_);
}

void LegacyLogprobs::clear() {
  count_ = 0;
  offsets_.clear();
  logprobs_.clear();
  tokens_.clear();
  tops_.clear();
}

}  // namespace ember::net::openai
