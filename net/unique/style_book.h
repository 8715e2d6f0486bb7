#pragma once
// Style injection for unique replies (the 2023-24 synapse validators reward replies far from
// other miners' in embedding space): named system-prompt snippets with weights, one drawn per
// candidate as a pure function of a seed, and put in front of the conversation as a system
// message, or merged into the first user turn for templates that refuse a system role.
// Off by default: today's validators compare exact logprobs, and a style changes the reply.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::unique {

struct Style {
  std::string name;
  std::string text;    // the instruction the model gets
  double weight = 1;   // relative chance of being drawn (0: never)
};

class StyleBook {
 public:
  // Twenty-six personas, tones, formats and levels of detail, each asking for a correct,
  // on-topic answer.
  static StyleBook builtin();
  // FILE.toml or FILE.json (by extension), or "builtin". Throws ember::Error naming the file and
  // the entry at fault. Format: an array `styles` of tables {name, text, weight = 1}.
  static StyleBook load(const std::string& path);
  static StyleBook parse_toml(std::string_view text, const std::string& origin);
  static StyleBook parse_json(std::string_view text, const std::string& origin);
  // Checks names (non-empty, unique), texts (non-empty) and weights (finite, >= 0, some > 0).
  static StyleBook from_styles(std::vector<Style> styles, const std::string& origin);

  // The style of candidate `index` of a request with `seed`: weighted, and the same for the
  // same (seed, index) on every run and machine (Philox).
  const Style& draw(uint64_t seed, uint32_t index) const;

  const std::vector<Style>& styles() const { return styles_; }
  const std::string& origin() const { return origin_; }

 private:
  std::vector<Style> styles_;
  std::vector<double> cumulative_;  // running sums of the weights
  std::string origin_;
};

// Where a candidate's style goes. A small model follows an instruction after the user's words
// more closely than a system prompt, and the two placements move replies in different
// directions; mixing them (even candidates system, odd after the prompt) widens the spread the
// selection chooses from (bench/results/uniqueness-2026-12-06).
enum class StylePlacement { kSystem, kAfterPrompt, kMixed };

// The placement of candidate `index`: kMixed alternates, starting with kSystem.
StylePlacement placement_of(StylePlacement p, uint32_t index);

// The conversation with `style` added.
// kSystem: merged into a leading system message, or as a new one in front; with `system_role`
// false (templates that raise on "system", such as Gemma 2's), the style and any system text go
// in front of the first user turn's text instead.
// kAfterPrompt: appended to the last user turn, in parentheses (kSystem when there is none).
std::vector<ChatMessage> apply_style(const std::vector<ChatMessage>& messages, const Style& style,
                                     bool system_role, StylePlacement placement = StylePlacement::kSystem);

}  // namespace ember::net::unique
