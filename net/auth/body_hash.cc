#include "net/auth/body_hash.h"

#include <simdjson.h>
#include <sodium.h>

#include "engine/core/error.h"
#include "net/auth/python_str.h"
#include "net/crypto/keccak.h"

namespace ember::net::auth {

std::string body_hash_of_strs(std::span<const std::string> field_strs) {
  std::string concat;
  for (const std::string& s : field_strs) concat += crypto::sha3_256_hex(crypto::as_bytes(s));
  return crypto::sha3_256_hex(crypto::as_bytes(concat));
}

std::string compute_body_hash(std::string_view body_json, std::span<const std::string> fields) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body_json);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root)) fail("request body is not valid JSON: {}", simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) fail("request body is not a JSON object");
  std::vector<std::string> strs;
  strs.reserve(fields.size());
  for (const std::string& name : fields) {
    const simdjson::dom::element* found = nullptr;
    simdjson::dom::element slot;
    for (auto field : obj) {
      if (field.key != name) continue;
      if (found) fail("request body: field '{}' appears more than once", name);
      slot = field.value;
      found = &slot;
    }
    if (!found) fail("request body: missing field '{}'", name);
    strs.push_back(python_str(*found));
  }
  return body_hash_of_strs(strs);
}

std::string sha256_hex(std::string_view bytes) {
  crypto::ensure_sodium();
  uint8_t out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return crypto::to_hex(crypto::ByteView(out, sizeof out));
}

}  // namespace ember::net::auth
