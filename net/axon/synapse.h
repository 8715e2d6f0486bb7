#pragma once
// A text-prompting synapse body (Prompting / StreamPromptingSynapse) decoded with simdjson.
// Every top-level field is kept as raw JSON so the answer echoes the request exactly (the
// dendrite rebuilds its synapse class from our body and drops answers missing a field).
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::axon {

// A body that is not a usable synapse; what() is the client-facing message (-> 400).
class SynapseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Synapse {
  std::string name;                       // body "name", "" when absent or null
  double timeout = 0;                     // body "timeout" in seconds, 0 when absent or null
  std::vector<std::string> roles;
  std::vector<std::string> messages;
  std::string completion;
  // Top-level members in order: the key as sent (unescaped) and the value as minified JSON.
  std::vector<std::pair<std::string, std::string>> fields;
};

// Throws SynapseError for invalid JSON, a non-object body, `messages` missing or not a list of
// strings, `roles` not a list of strings, roles and messages of different lengths.
Synapse decode_synapse(std::string_view body);

// The request's JSON with `completion` replaced (appended when the request had none).
std::string encode_synapse(const Synapse& s, std::string_view completion);

// roles[i] pairs with messages[i]; a missing role list makes every message a "user" message.
std::vector<ChatMessage> synapse_messages(const Synapse& s);

}  // namespace ember::net::axon
