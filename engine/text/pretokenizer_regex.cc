#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/text/pretokenizer_regex.h"

#include <pcre2.h>

#include "engine/core/error.h"

namespace ember::text {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread match data and JIT stack, large enough for the pre-tokenizer patterns on long runs.
struct ThreadMatch {
  pcre2_match_data* md = pcre2_match_data_create(8, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  pcre2_match_context* ctx = nullptr;
  ThreadMatch() {
    ctx = pcre2_match_context_create(nullptr);
    if (stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~ThreadMatch() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};

ThreadMatch& thread_match() {
  thread_local ThreadMatch m;
  return m;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& source)
    : code_(std::make_unique<Code>()), pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!code_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("{}: regex '{}' does not compile at offset {}: {}", source, pattern, size_t(off),
         reinterpret_cast<const char*>(msg));
  }
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

std::pair<size_t, size_t> Regex::find(std::string_view s, size_t from) const {
  constexpr auto none = std::pair<size_t, size_t>(std::string_view::npos, std::string_view::npos);
  if (from > s.size()) return none;
  ThreadMatch& tm = thread_match();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  int rc = code_->jit ? pcre2_jit_match(code_->code, subject, s.size(), from, PCRE2_NO_UTF_CHECK,
                                        tm.md, tm.ctx)
                      : pcre2_match(code_->code, subject, s.size(), from, PCRE2_NO_UTF_CHECK, tm.md,
                                    tm.ctx);
  if (rc == PCRE2_ERROR_NOMATCH) return none;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    fail("tokenizer: regex '{}' failed on a {}-byte text: {}", pattern_, s.size(),
         reinterpret_cast<const char*>(msg));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(tm.md);
  return {ov[0], ov[1]};
}

}  // namespace ember::text
