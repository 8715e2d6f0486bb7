#include "net/auth/signing_messages.h"

#include <fmt/format.h>

#include "net/crypto/ss58.h"

namespace ember::net::auth {

std::string request_message(int64_t nonce, std::string_view dendrite_hotkey, std::string_view axon_hotkey,
                            std::string_view uuid, std::string_view body_hash) {
  return fmt::format("{}.{}.{}.{}.{}", nonce, dendrite_hotkey, axon_hotkey, uuid, body_hash);
}

std::string response_message(int64_t axon_nonce, std::string_view dendrite_hotkey, std::string_view axon_hotkey,
                             std::string_view axon_uuid) {
  return fmt::format("{}.{}.{}.{}", axon_nonce, dendrite_hotkey, axon_hotkey, axon_uuid);
}

std::string sign_hex(const crypto::Keypair& kp, std::string_view message) {
  return "0x" + crypto::to_hex(crypto::sign(kp, crypto::as_bytes(message)));
}

HeaderMap sign_request_headers(const crypto::Keypair& dendrite, const DendriteRequest& req) {
  const std::string hotkey = crypto::ss58_encode(dendrite.public_key);
  HeaderMap h;
  h["name"] = req.synapse_name;
  h["timeout"] = fmt::format("{}", req.timeout_s);
  h["computed_body_hash"] = req.body_hash;
  h["bt_header_dendrite_nonce"] = std::to_string(req.nonce);
  h["bt_header_dendrite_uuid"] = req.uuid;
  h["bt_header_dendrite_hotkey"] = hotkey;
  h["bt_header_dendrite_version"] = std::to_string(req.version);
  h["bt_header_axon_hotkey"] = req.axon_hotkey;
  h["bt_header_dendrite_signature"] =
      sign_hex(dendrite, request_message(req.nonce, hotkey, req.axon_hotkey, req.uuid, req.body_hash));
  return h;
}

HeaderMap sign_response_headers(const crypto::Keypair& axon, std::string_view dendrite_hotkey, int64_t axon_nonce,
                                std::string_view axon_uuid) {
  const std::string hotkey = crypto::ss58_encode(axon.public_key);
  HeaderMap h;
  h["bt_header_axon_nonce"] = std::to_string(axon_nonce);
  h["bt_header_axon_uuid"] = std::string(axon_uuid);
  h["bt_header_axon_hotkey"] = hotkey;
  h["bt_header_axon_signature"] = sign_hex(axon, response_message(axon_nonce, dendrite_hotkey, hotkey, axon_uuid));
  return h;
}

}  // namespace ember::net::auth
