#include "net/axon/availability.h"

#include <algorithm>
#include <set>

#include <simdjson.h>

#include "engine/core/error.h"
#include "net/http/json_text.h"

namespace ember::net::axon {
namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// {"k": served(k), ...} over the keys of obj[field], each once, in the request's order.
template <typename Served>
void reply_object(std::string& out, simdjson::dom::object obj, std::string_view field, Served served) {
  out += http::json_string(field);
  out += ":{";
  simdjson::dom::element e;
  if (obj[field].get(e) == simdjson::SUCCESS && !e.is_null()) {
    simdjson::dom::object asked;
    if (e.get_object().get(asked)) fail("\"{}\" must be an object of name: boolean", field);
    std::set<std::string_view> seen;
    bool first = true;
    for (auto [key, value] : asked) {
      if (!seen.insert(key).second) continue;
      if (!first) out += ',';
      first = false;
      out += http::json_string(key);
      out += served(key) ? ":true" : ":false";
    }
  }
  out += '}';
}

}  // namespace

std::string availability_reply(std::string_view body, const std::vector<std::string>& models,
                               const std::vector<std::string>& tasks) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root)) fail("invalid JSON: {}", simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) fail("expected a JSON object");
  const bool all_tasks = contains(tasks, "*");
  std::string out = "{";
  reply_object(out, obj, "task_availabilities",
               [&](std::string_view t) { return all_tasks || contains(tasks, t); });
  out += ',';
  reply_object(out, obj, "llm_model_availabilities", [&](std::string_view m) { return contains(models, m); });
  out += '}';
  return out;
}

}  // namespace ember::net::axon
