#pragma once
// The API's refusals: a RequestError names the offending field, and every error leaves as
// OpenAI's error JSON (vLLM's shape: it carries the HTTP status as `code`).
#include <stdexcept>
#include <string>
#include <string_view>

namespace ember::net::openai {

// A request the API refuses; what() is the message, param() the offending field ("" for the
// body as a whole), status() the HTTP status (400 unless the request names something absent).
class RequestError : public std::runtime_error {
 public:
  RequestError(std::string message, std::string param, int status = 400)
      : std::runtime_error(std::move(message)), param_(std::move(param)), status_(status) {}
  const std::string& param() const { return param_; }
  int status() const { return status_; }

 private:
  std::string param_;
  int status_;
};

[[noreturn]] inline void bad_request(std::string message, std::string param) {
  throw RequestError(std::move(message), std::move(param));
}

// {"error": {"message", "type", "param", "code"}}; `code` 0 writes null.
std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       int code = 0);

// vLLM's 404 for a `model` this server does not serve.
RequestError unknown_model(std::string_view model);

}  // namespace ember::net::openai
