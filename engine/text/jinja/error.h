#pragma once
// Errors of the template engine. message() is the bare message (what Python's jinja2 would say);
// what() adds the template line so that a user can find the construct.
#include <string>

#include "engine/core/error.h"

namespace ember::jinja {

class TemplateError : public ember::Error {
 public:
  TemplateError(std::string message, int line)
      : ember::Error(line > 0 ? "chat template line " + std::to_string(line) + ": " + message
                              : "chat template: " + message),
        message_(std::move(message)),
        line_(line) {}
  const std::string& message() const { return message_; }
  int line() const { return line_; }

 private:
  std::string message_;
  int line_;
};

// The template called raise_exception(msg): the template itself refuses the input (e.g. a system
// message a model does not support). what() is exactly the template's message.
class TemplateRaise : public ember::Error {
 public:
  explicit TemplateRaise(std::string message) : ember::Error(message), message_(std::move(message)) {}
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// A runtime error raised while evaluating; the interpreter adds the line when it passes a
// statement boundary.
[[noreturn]] void runtime_error(std::string message);

}  // namespace ember::jinja
