#pragma once
// A parsed Jinja template and its renderer: the subset of Jinja that chat templates use, with
// the environment transformers renders them in (trim_blocks, lstrip_blocks, loop controls,
// immutable sandbox). Hostile templates meet hard limits instead of hanging or exhausting memory.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/text/jinja/ast.h"
#include "engine/text/jinja/error.h"
#include "engine/text/jinja/value.h"

namespace ember::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{32} << 20;  // any string or rendered text
  size_t max_list_items = size_t{1} << 20;
  uint64_t max_steps = 20'000'000;  // statements run plus loop iterations
  int max_call_depth = 64;          // nested macro calls
};

class Template {
 public:
  // Parses; throws TemplateError (with the line) for bad or unsupported syntax.
  explicit Template(std::string_view source);

  // `variables` is a dict of the names the template sees (messages, bos_token, functions...).
  // Throws TemplateError for runtime errors and TemplateRaise when the template raises.
  std::string render(const Value& variables, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const Body> body_;
};

}  // namespace ember::jinja
