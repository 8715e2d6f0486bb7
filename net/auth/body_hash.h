#pragma once
// The synapse body hash the dendrite signs (docs/axon-protocol.md §5):
//   sha3_256_hex( concat over required fields F of sha3_256_hex( str(body[F]) ) )
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::net::auth {

// The required_hash_fields of the text-prompting synapses (Prompting, StreamPromptingSynapse).
inline const std::vector<std::string> kPromptingHashFields = {"messages"};

// Hash of pre-rendered Python str() values, one per field, in order.
std::string body_hash_of_strs(std::span<const std::string> field_strs);

// Parses the JSON body and hashes the named top-level fields. Throws ember::Error when the body
// is not a JSON object, a field is missing, or a field appears twice (the hash and the request
// parser must see the same value).
std::string compute_body_hash(std::string_view body_json, std::span<const std::string> fields);

// Lowercase hex SHA-256 of the exact bytes: Epistula signs the request body's digest.
std::string sha256_hex(std::string_view bytes);

}  // namespace ember::net::auth
