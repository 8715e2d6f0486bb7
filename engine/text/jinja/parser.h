#pragma once
// Parses template source into a syntax tree, with jinja2's grammar and operator precedence.
// Syntax outside the supported subset fails with a TemplateError naming the line.
#include <string_view>

#include "engine/text/jinja/ast.h"
#include "engine/text/jinja/lexer.h"

namespace ember::jinja {

Body parse(std::string_view source, const LexOptions& options = {});

// Known names, so that the parser can reject unknown filters and tests as jinja2 does.
bool has_filter(std::string_view name);
bool has_test(std::string_view name);

}  // namespace ember::jinja
