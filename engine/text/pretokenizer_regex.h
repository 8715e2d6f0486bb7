#pragma once
// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for the Split pre-tokenizer and
// Replace normalizer. Matching is const and thread-safe: match data lives per thread.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace ember::text {

class Regex {
 public:
  // Throws ember::Error naming `source` when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& source);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The first match in s at or after `from`, as [begin, end) offsets; nullopt-like {npos, npos}
  // when there is none. `s` must be valid UTF-8.
  std::pair<size_t, size_t> find(std::string_view s, size_t from) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::unique_ptr<Code> code_;
  std::string pattern_;
};

}  // namespace ember::text
