#include "net/axon/axon_auth.h"

#include "net/auth/signing_messages.h"

namespace ember::net::axon {

AxonAuth::AxonAuth(std::string my_hotkey, const auth::AccessPolicy* policy, bool check_body_hash)
    : my_hotkey_(std::move(my_hotkey)), nonces_(std::make_shared<auth::NonceStore>()) {
  opts_.policy = policy;
  opts_.check_body_hash = check_body_hash;
}

Authenticator AxonAuth::authenticator() {
  return [hotkey = my_hotkey_, opts = opts_, nonces = nonces_](const AuthContext& c) {
    auth::HeaderMap headers;
    for (const auto& [k, v] : c.http.headers) headers.emplace(k, v);  // first value wins
    auth::AuthResult r =
        auth::verify_request(headers, c.http.body, hotkey, *nonces, auth::unix_time_ns(), opts);
    return AuthResult{r.ok, r.http_status, r.message, r.priority};
  };
}

Signer make_signer(const crypto::Keypair& hotkey) {
  return [kp = hotkey](std::string_view message) { return auth::sign_hex(kp, message); };
}

}  // namespace ember::net::axon
