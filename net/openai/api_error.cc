#include "net/openai/api_error.h"

#include <fmt/format.h>

#include "net/http/json_text.h"

namespace ember::net::openai {

std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       int code) {
  std::string out = "{\"error\":{\"message\":";
  http::append_json_string(out, message);
  out += ",\"type\":";
  http::append_json_string(out, type);
  out += ",\"param\":";
  if (param.empty()) out += "null";
  else http::append_json_string(out, param);
  out += ",\"code\":";
  out += code ? std::to_string(code) : std::string("null");
  out += "}}";
  return out;
}

RequestError unknown_model(std::string_view model) {
  return RequestError(fmt::format("The model `{}` does not exist.", model), "model", 404);
}

}  // namespace ember::net::openai
