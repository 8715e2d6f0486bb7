#include "net/openai/v1_access.h"

#include <memory>

#include <fmt/format.h>
#include <sodium.h>

#include "engine/core/error.h"
#include "net/auth/header_map.h"
#include "net/crypto/bytes.h"

namespace ember::net::openai {
namespace {

AccessVerdict refused(int status, std::string message, std::string protocol, std::string reason) {
  return {false, status, std::move(message), std::move(protocol), std::move(reason)};
}

// Constant time in the key's contents, so the comparison does not leak how much of a guess
// was right.
bool bearer_matches(const http::HttpRequest& req, const std::string& key) {
  const std::string* auth = req.header("authorization");
  if (!auth) return false;
  const std::string expected = "Bearer " + key;
  return auth->size() == expected.size() && sodium_memcmp(auth->data(), expected.data(), expected.size()) == 0;
}

AccessVerdict check_api_key(const http::HttpRequest& req, const std::string& key) {
  if (bearer_matches(req, key)) return {};
  return refused(401, "Incorrect API key provided.", "api_key",
                 req.header("authorization") ? "wrong_key" : "missing_key");
}

struct Epistula {
  explicit Epistula(const V1AccessConfig& c)
      : my_hotkey(c.my_hotkey), policy(c.policy), options(c.epistula), replay(c.replay) {}

  std::string my_hotkey;
  const auth::AccessPolicy* policy;
  auth::EpistulaOptions options;
  auth::ReplayGuard replay;

  AccessVerdict check(const http::HttpRequest& req, const auth::HeaderMap& headers) {
    const auth::EpistulaResult r =
        auth::verify_epistula(headers, req.body, my_hotkey, policy, &replay, auth::unix_time_ms(), options);
    if (r.ok) return {};
    return refused(r.http_status, r.message, "epistula", std::string(auth::label(r.check)));
  }
};

// First value wins, as in the axon; a repeated Epistula header is refused outright, since two
// parties could read different values from one request.
const char* repeated_epistula_header(const http::HttpRequest& req) {
  for (size_t i = 0; i < req.headers.size(); ++i) {
    const std::string& name = req.headers[i].first;
    if (name.rfind("epistula-", 0) != 0) continue;
    for (size_t j = i + 1; j < req.headers.size(); ++j)
      if (req.headers[j].first == name) return name.c_str();
  }
  return nullptr;
}

}  // namespace

std::optional<V1Access> parse_v1_access(std::string_view name) {
  if (name == "open") return V1Access::Open;
  if (name == "api-key") return V1Access::ApiKey;
  if (name == "epistula") return V1Access::Epistula;
  if (name == "either") return V1Access::Either;
  return std::nullopt;
}

std::string_view name_of(V1Access mode) {
  switch (mode) {
    case V1Access::Open: return "open";
    case V1Access::ApiKey: return "api-key";
    case V1Access::Epistula: return "epistula";
    case V1Access::Either: return "either";
  }
  return "?";
}

V1Access default_v1_access(bool have_wallet, bool have_api_key) {
  if (have_wallet) return have_api_key ? V1Access::Either : V1Access::Epistula;
  return have_api_key ? V1Access::ApiKey : V1Access::Open;
}

void validate(const V1AccessConfig& c) {
  const bool key = !c.api_key.empty();
  switch (c.mode) {
    case V1Access::ApiKey:
    case V1Access::Either:
      if (!key) fail("--v1-access {} needs --api-key", name_of(c.mode));
      break;
    case V1Access::Open:
    case V1Access::Epistula:
      if (key)
        fail("--v1-access {} would ignore --api-key: use --v1-access either (Epistula or the key) or api-key",
             name_of(c.mode));
      break;
  }
  if (c.mode != V1Access::Open && c.mode != V1Access::ApiKey && c.my_hotkey.empty())
    fail("--v1-access {} needs the miner's hotkey", name_of(c.mode));
}

Authorizer make_v1_authorizer(V1AccessConfig c) {
  validate(c);
  if (c.mode == V1Access::Open) return [](const http::HttpRequest&) { return AccessVerdict{}; };
  if (c.mode == V1Access::ApiKey)
    return [key = c.api_key](const http::HttpRequest& req) { return check_api_key(req, key); };
  auto ep = std::make_shared<Epistula>(c);
  const bool either = c.mode == V1Access::Either;
  return [ep, either, key = c.api_key](const http::HttpRequest& req) {
    auth::HeaderMap headers;
    for (const auto& [k, v] : req.headers) headers.emplace(k, v);
    if (auth::has_epistula_headers(headers)) {
      if (const char* name = repeated_epistula_header(req))
        return refused(400, fmt::format("Repeated {} header", name), "epistula", "bad_header");
      return ep->check(req, headers);
    }
    if (either && req.header("authorization")) return check_api_key(req, key);
    return refused(401,
                   either ? "Missing credentials: sign the request with Epistula headers or send "
                            "Authorization: Bearer <api key>"
                          : "Missing Epistula headers: this miner serves /v1 to signed validator requests only",
                   "epistula", "unsigned");
  };
}

}  // namespace ember::net::openai
