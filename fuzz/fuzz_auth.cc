// libFuzzer target for everything the axon's auth step reads from the network or from files:
// header values (nonce, timeout, hotkey, signature), the body hash over arbitrary JSON, SS58,
// hex, sr25519 verification and the policy/wallet parsers. None of it may crash or hang.
//
// Input layout: header lines "name: value" up to the first empty line, then the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/core/error.h"
#include "net/auth/access_policy.h"
#include "net/auth/body_hash.h"
#include "net/auth/request_auth.h"
#include "net/auth/wallet.h"
#include "net/crypto/ss58.h"

using namespace ember::net;

namespace {

auth::HeaderMap parse_headers(std::string_view& in) {
  auth::HeaderMap h;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    h[std::string(line.substr(0, colon))] = std::string(value);
  }
  return h;
}

template <typename F>
void swallow(F&& f) {
  try {
    f();
  } catch (const ember::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string miner = crypto::ss58_encode(crypto::keypair_from_mini_secret(crypto::MiniSecret{1}).public_key);
  static auth::NonceStore nonces;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  std::string_view rest = raw;
  const auth::HeaderMap headers = parse_headers(rest);
  const auth::AuthResult r = auth::verify_request(headers, rest, miner, nonces, 1'700'000'000'000'000'000);
  if (r.ok != (r.http_status == 200)) __builtin_trap();

  swallow([&] { auth::compute_body_hash(raw, auth::kPromptingHashFields); });
  swallow([&] { crypto::ss58_decode_any(raw); });
  swallow([&] { crypto::from_hex(raw); });
  swallow([&] { auth::parse_hotkey_list(raw, "fuzz"); });
  swallow([&] { auth::parse_metagraph_json(raw, "fuzz"); });
  swallow([&] { auth::parse_hotkey_json(raw, "fuzz"); });
  if (size >= 96) {
    // pk ‖ sig ‖ message: must return a status, whatever the bytes.
    crypto::verify(crypto::ByteView(data, 32), crypto::ByteView(data + 32 + 64, size - 96), crypto::ByteView(data + 32, 64));
  }
  return 0;
}
