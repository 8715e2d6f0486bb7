#pragma once
// Who may call /v1/*: validators signing with Epistula, clients holding the --api-key, either,
// or anyone. `ember serve --v1-access MODE` picks one; its default for a miner with a wallet
// is Epistula (or Epistula-or-key when --api-key is given), see default_v1_access().
#include <optional>
#include <string>
#include <string_view>

#include "net/auth/access_policy.h"
#include "net/auth/epistula.h"
#include "net/auth/replay_guard.h"
#include "net/openai/access_verdict.h"

namespace ember::net::openai {

enum class V1Access { Open, ApiKey, Epistula, Either };

// "open", "api-key", "epistula", "either"; nullopt for anything else.
std::optional<V1Access> parse_v1_access(std::string_view name);
std::string_view name_of(V1Access mode);

// The mode when --v1-access is not given. A throwaway demo hotkey (no wallet) stays open so
// the one-command demo answers curl; a real wallet means validators call this endpoint, so
// requests must be signed for it, or carry the key when one is configured.
V1Access default_v1_access(bool have_wallet, bool have_api_key);

struct V1AccessConfig {
  V1Access mode = V1Access::Epistula;
  std::string api_key;               // required by ApiKey and Either
  std::string my_hotkey;             // the miner's SS58 address (Epistula-Signed-For)
  const auth::AccessPolicy* policy = nullptr;  // shared with the axon; may be null; must outlive the hook
  auth::EpistulaOptions epistula;
  auth::ReplayGuardOptions replay;
};

// Throws ember::Error when the mode and key disagree (api-key/either without a key; open or
// epistula with one, which would silently not be checked).
void validate(const V1AccessConfig& config);

// The hook for OpenAIOptions::authorize. It owns the replay guard the Epistula checks share.
Authorizer make_v1_authorizer(V1AccessConfig config);

}  // namespace ember::net::openai
