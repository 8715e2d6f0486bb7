#include "net/auth/request_auth.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "net/auth/signing_messages.h"
#include "net/crypto/ss58.h"

namespace ember::net::auth {
namespace {

const std::string* find(const HeaderMap& h, std::string_view name) {
  auto it = h.find(name);
  return it == h.end() ? nullptr : &it->second;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> parse_int(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_float(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

AuthResult reject(AuthResult r, int status, std::string message) {
  r.ok = false;
  r.http_status = status;
  r.message = std::move(message);
  return r;
}

AuthResult not_verified(AuthResult r, std::string_view why) {
  return reject(std::move(r), 401, fmt::format("Not Verified with error: {}", why));
}

}  // namespace

int64_t unix_time_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AuthResult verify_request(const HeaderMap& headers, std::string_view body, std::string_view my_hotkey,
                          NonceStore& nonces, int64_t now_ns, const AuthOptions& options) {
  AuthResult r;
  const std::string* name = find(headers, "name");
  const std::string synapse = name ? *name : std::string("Synapse");

  // 1. Headers into typed fields (the reference's from_headers; a bad value is a 400).
  const std::string* nonce_h = find(headers, "bt_header_dendrite_nonce");
  const std::string* version_h = find(headers, "bt_header_dendrite_version");
  const std::string* timeout_h = find(headers, "timeout");
  const std::string* hotkey_h = find(headers, "bt_header_dendrite_hotkey");
  const std::string* uuid_h = find(headers, "bt_header_dendrite_uuid");
  const std::string* sig_h = find(headers, "bt_header_dendrite_signature");
  const std::string* hash_h = find(headers, "computed_body_hash");
  auto bad_header = [&](std::string_view header) {
    return reject(r, 400,
                  fmt::format("Improperly formatted request. Could not parse headers into synapse of type {}: "
                              "bad {} header.",
                              synapse, header));
  };
  std::optional<int64_t> nonce, version;
  if (nonce_h && !(nonce = parse_int(*nonce_h))) return bad_header("bt_header_dendrite_nonce");
  if (version_h && !(version = parse_int(*version_h))) return bad_header("bt_header_dendrite_version");
  if (timeout_h) {
    auto t = parse_float(*timeout_h);
    if (!t || !std::isfinite(*t)) return bad_header("timeout");
    r.timeout_s = *t;
  }
  if (hotkey_h) r.dendrite_hotkey = *hotkey_h;
  if (uuid_h) r.dendrite_uuid = *uuid_h;
  if (nonce) r.nonce = *nonce;

  // 2. Blacklist.
  if (options.policy) {
    const AccessDecision d = options.policy->check(r.dendrite_hotkey);
    r.priority = d.priority;
    if (!d.allowed) return reject(r, 403, fmt::format("Forbidden. Key is blacklisted: {}.", d.reason));
  }

  // 3. Verify: nonce freshness, then the signature, then remember the nonce.
  if (!nonce) return not_verified(r, "Missing Nonce");
  if (!hotkey_h || hotkey_h->empty()) return not_verified(r, "Missing Hotkey");
  if (!uuid_h) return not_verified(r, "Missing UUID");
  crypto::PublicKey caller;
  try {
    caller = crypto::ss58_decode_any(*hotkey_h).public_key;
  } catch (const Error& e) {
    return not_verified(r, fmt::format("Invalid hotkey: {}", e.what()));
  }
  const std::string endpoint_key = fmt::format("{}:{}", *hotkey_h, *uuid_h);
  const NonceCheck nc = nonces.check(endpoint_key, *nonce, version.value_or(-1), r.timeout_s, now_ns);
  switch (nc.verdict) {
    case NonceVerdict::Fresh: break;
    case NonceVerdict::TooOld:
      return not_verified(r, fmt::format("Nonce is too old: acceptable delta is {:.2f} seconds but request was "
                                         "{:.2f} seconds old",
                                         nc.allowed_delta_s, nc.age_s));
    case NonceVerdict::NotNewer: return not_verified(r, "Nonce is too old, a newer one was last processed");
    case NonceVerdict::FromFuture:
      return not_verified(r, fmt::format("Nonce is too far in the future: acceptable skew is {:.2f} seconds but "
                                         "request was {:.2f} seconds ahead",
                                         nc.allowed_delta_s, -nc.age_s));
  }
  if (!sig_h || sig_h->empty()) return not_verified(r, "Missing Signature");
  const std::string body_hash = hash_h ? *hash_h : std::string();
  const std::string message = request_message(*nonce, *hotkey_h, my_hotkey, *uuid_h, body_hash);
  bool good = false;
  try {
    const crypto::Bytes sig = crypto::from_hex(*sig_h, "signature");
    good = crypto::verify_substrate(caller, crypto::as_bytes(message), sig) == crypto::VerifyStatus::Ok;
  } catch (const Error&) {
    good = false;
  }
  if (!good) return not_verified(r, fmt::format("Signature mismatch with {} and {}", message, *sig_h));
  if (!nonces.commit(endpoint_key, *nonce, now_ns))
    return not_verified(r, "Nonce is too old, a newer one was last processed");

  // 5. Body integrity (step 4, priority, is the queue's business).
  if (options.check_body_hash) {
    std::string parsed;
    try {
      parsed = compute_body_hash(body, options.hash_fields);
    } catch (const Error& e) {
      return reject(r, 400, fmt::format("Improperly formatted request body: {}", e.what()));
    }
    if (parsed != body_hash)
      return reject(r, 400,
                    fmt::format("Hash mismatch between header body hash {} and parsed body hash {}", body_hash, parsed));
  }
  r.ok = true;
  r.http_status = 200;
  r.message = "Success";
  return r;
}

}  // namespace ember::net::auth
