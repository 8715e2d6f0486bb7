#include "net/axon/synapse.h"

#include <simdjson.h>

#include "net/http/json_text.h"

namespace ember::net::axon {
namespace {

std::vector<std::string> string_list(simdjson::dom::element e, std::string_view field) {
  simdjson::dom::array arr;
  if (e.get_array().get(arr) != simdjson::SUCCESS)
    throw SynapseError(std::string("synapse field '") + std::string(field) + "' must be a list of strings");
  std::vector<std::string> out;
  for (simdjson::dom::element item : arr) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS)
      throw SynapseError(std::string("synapse field '") + std::string(field) +
                         "' must be a list of strings");
    out.emplace_back(s);
  }
  return out;
}

}  // namespace

Synapse decode_synapse(std::string_view body) {
  // One parser per thread: handlers run on many workers, and a parser reuses its buffers.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  auto err = parser.parse(padded).get(root);
  if (err) throw SynapseError(std::string("invalid JSON body: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS)
    throw SynapseError("synapse body must be a JSON object");

  Synapse s;
  bool have_messages = false;
  bool have_roles = false;
  for (auto field : obj) {
    std::string_view key = field.key;
    simdjson::dom::element v = field.value;
    s.fields.emplace_back(std::string(key), simdjson::minify(v));
    if (v.is_null()) continue;
    if (key == "name") {
      std::string_view n;
      if (v.get_string().get(n) == simdjson::SUCCESS) s.name = std::string(n);
    } else if (key == "timeout") {
      double t = 0;
      if (v.get_double().get(t) != simdjson::SUCCESS) {
        int64_t i = 0;
        if (v.get_int64().get(i) != simdjson::SUCCESS)
          throw SynapseError("synapse field 'timeout' must be a number");
        t = static_cast<double>(i);
      }
      s.timeout = t;
    } else if (key == "messages") {
      s.messages = string_list(v, key);
      have_messages = true;
    } else if (key == "roles") {
      s.roles = string_list(v, key);
      have_roles = true;
    } else if (key == "completion") {
      std::string_view c;
      if (v.get_string().get(c) == simdjson::SUCCESS) s.completion = std::string(c);
    }
  }
  if (!have_messages) throw SynapseError("synapse field 'messages' is required");
  if (have_roles && s.roles.size() != s.messages.size())
    throw SynapseError("synapse fields 'roles' and 'messages' must have the same length");
  if (s.messages.empty()) throw SynapseError("synapse field 'messages' is empty");
  return s;
}

std::string encode_synapse(const Synapse& s, std::string_view completion) {
  std::string out;
  out.reserve(256 + completion.size());
  out += '{';
  bool first = true;
  bool wrote_completion = false;
  auto member = [&](std::string_view key) {
    if (!first) out += ',';
    first = false;
    http::append_json_string(out, key);
    out += ':';
  };
  for (const auto& [key, raw] : s.fields) {
    if (key == "completion") {
      if (wrote_completion) continue;  // a duplicated key is answered once
      member(key);
      http::append_json_string(out, completion);
      wrote_completion = true;
    } else {
      member(key);
      out += raw;
    }
  }
  if (!wrote_completion) {
    member("completion");
    http::append_json_string(out, completion);
  }
  out += '}';
  return out;
}

std::vector<ChatMessage> synapse_messages(const Synapse& s) {
  std::vector<ChatMessage> out;
  out.reserve(s.messages.size());
  for (size_t i = 0; i < s.messages.size(); ++i)
    out.push_back({i < s.roles.size() ? s.roles[i] : std::string("user"), s.messages[i]});
  return out;
}

}  // namespace ember::net::axon
